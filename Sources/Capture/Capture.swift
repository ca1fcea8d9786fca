// The Capture layer; see README.md.

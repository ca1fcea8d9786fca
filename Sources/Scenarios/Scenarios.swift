// The Scenarios layer; see README.md.

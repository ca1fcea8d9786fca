// The Replay layer; see README.md.

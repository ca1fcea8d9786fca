// The RelayEngine layer; see README.md.

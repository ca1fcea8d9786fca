// The TCPRules layer; see README.md.

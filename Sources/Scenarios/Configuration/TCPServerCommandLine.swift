public import TCPRules

/// tcpserver's command line, read the way its getopt loop reads it (ucspi-tcp 0.88, plus the
/// IPv6 patch's `-4`, `-6` and `-I`): option letters may be grouped (`-vRHl0`), an argument may be
/// attached (`-c40`) or the next word, and the options end at the first word that is not one.
public enum TCPServerCommandLine {
    /// Options that take an argument.
    static let withArgument: Set<Character> = ["x", "t", "u", "g", "l", "b", "B", "c", "I"]
    /// Options without one.
    static let flags: Set<Character> = ["1", "4", "6", "U", "X", "h", "H", "p", "P", "r", "R", "o", "O", "d", "D", "q", "Q", "v"]
    /// Service names tcpserver (through `/etc/services`) accepts for the port.
    public static let servicePorts: [String: Int] = ["smtp": 25, "submission": 587, "smtps": 465, "ssmtp": 465, "urd": 465]

    /// What the options say.
    public struct Parsed: Sendable, Hashable {
        /// The options that change what a connection sees.
        public var options = TCPServerOptions()
        /// `-x FILE`, as written.
        public var rulesFile: String?
        /// The words after the options (host, port, program…).
        public var remaining: [String] = []
    }

    /// A malformed option.
    public struct OptionError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses `words` (without the program name).
    public static func parse(_ words: [String]) throws(OptionError) -> Parsed {
        var parsed = Parsed()
        var index = 0
        while index < words.count {
            let word = words[index]
            if word == "--" {
                index += 1
                break
            }
            guard word.hasPrefix("-"), word.count > 1 else { break }
            index += 1
            var letters = Substring(word.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                if withArgument.contains(letter) {
                    var value = String(letters)
                    letters = ""
                    if value.isEmpty {
                        guard index < words.count else {
                            throw OptionError(message: "tcpserver option -\(letter) needs an argument")
                        }
                        value = words[index]
                        index += 1
                    }
                    switch letter {
                    case "x": parsed.rulesFile = value
                    case "l": parsed.options.localHostName = value
                    default: break
                    }
                } else if flags.contains(letter) {
                    switch letter {
                    case "h": parsed.options.lookupRemoteHost = true
                    case "H": parsed.options.lookupRemoteHost = false
                    case "p": parsed.options.paranoid = true
                    case "P": parsed.options.paranoid = false
                    case "r": parsed.options.lookupRemoteInfo = true
                    case "R": parsed.options.lookupRemoteInfo = false
                    case "X": parsed.options.allowMissingRules = true
                    case "4", "6", "I": parsed.options.dialect = .ucspiTCPIPv6
                    default: break
                    }
                } else {
                    throw OptionError(message: "tcpserver has no option -\(letter)")
                }
            }
        }
        parsed.remaining = Array(words[index...])
        return parsed
    }

    /// Parses the `tcpserver:` configuration key: options only (no `-x`, no host or program).
    static func parseOptions(_ words: [String], at node: YAMLNode) throws(ScenarioError) -> TCPServerOptions {
        let parsed: Parsed
        do {
            parsed = try parse(words)
        } catch {
            throw node.error(error.message)
        }
        if parsed.rulesFile != nil {
            throw node.error("give tcpserver's rules file with the 'rules' key, not -x")
        }
        if let extra = parsed.remaining.first {
            throw node.error("'\(extra)' is not a tcpserver option (only options go here; host, port and program come from the scenario)")
        }
        return parsed.options
    }
}

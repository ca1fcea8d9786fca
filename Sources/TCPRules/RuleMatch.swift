/// The client a rule lookup is made for: what tcpserver knows when it consults the rules.
public struct RuleClient: Sendable, Hashable {
    /// The client's address as tcpserver prints it (`TCPREMOTEIP`): an IPv4 dotted quad, or an IPv6
    /// address in ucspi-tcp-ipv6's compressed form (see ``TCPServer/formatIP(_:)``). The matcher uses
    /// it byte for byte, as `tcprulescheck` does.
    public var ip: String
    /// `TCPREMOTEHOST` exactly as tcpserver set it (already lower-cased and escaped, see
    /// ``TCPServer/escapeHostName(_:)``); `nil` when it is unset.
    public var host: String?
    /// `TCPREMOTEINFO` (the ident user name); `nil` when it is unset. An empty string is not the same
    /// as `nil`: it still builds the key `@ip`.
    public var info: String?

    public init(ip: String, host: String? = nil, info: String? = nil) {
        self.ip = ip
        self.host = host
        self.info = info
    }
}

/// What a rule decides about a connection.
public enum RuleAction: String, Sendable, Hashable, CaseIterable {
    /// tcpserver runs the program.
    case allow
    /// tcpserver closes the connection at once without sending a byte.
    case deny
}

/// One `NAME=value` item of a rule, as tcpserver puts it into the program's environment.
public struct RuleVariable: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name)=\(value)" }
}

/// The outcome of a rule lookup: which key matched (if any), the decision, the variables, and how it
/// was found.
public struct RuleMatch: Sendable, Hashable {
    /// The key that matched; `nil` when no key is present (tcprulescheck's `default:`).
    public var key: String?
    /// Allow or deny. With no matching key, tcpserver allows.
    public var action: RuleAction
    /// The variables of the matching rule, in stored order. tcpserver sets them in this order, so a
    /// later duplicate name wins (see ``environment``). A deny rule's variables are never used.
    public var variables: [RuleVariable]
    /// The 1-based source line of the matching rule, when known.
    public var line: Int?
    /// The file the rule comes from: the source file when ``line`` is known, else the cdb.
    public var path: String?
    /// Every key looked up, in order, up to and including the one that matched (put into words
    /// when read: a lookup only remembers the client and how many keys it tried).
    public var keysTried: [String] {
        get {
            switch tried {
            case .keys(let keys): return keys
            case .search(let client, let colonPrefixes, let count):
                var lister = _KeyLister(limit: count)
                RulesDatabase.search(client, colonPrefixes: colonPrefixes, &lister)
                return lister.keys
            }
        }
        set { tried = .keys(newValue) }
    }

    /// The keys tried, as given or as the first `count` keys tcpserver's search makes for `client`.
    enum Tried: Sendable, Hashable {
        case keys([String])
        case search(RuleClient, colonPrefixes: Bool, count: Int)
    }

    var tried: Tried

    public init(
        key: String?, action: RuleAction, variables: [RuleVariable], line: Int? = nil, path: String? = nil,
        keysTried: [String] = []
    ) {
        self.key = key
        self.action = action
        self.variables = variables
        self.line = line
        self.path = path
        self.tried = .keys(keysTried)
    }

    public static func == (lhs: RuleMatch, rhs: RuleMatch) -> Bool {
        lhs.key == rhs.key && lhs.action == rhs.action && lhs.variables == rhs.variables && lhs.line == rhs.line
            && lhs.path == rhs.path && lhs.keysTried == rhs.keysTried
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(action)
        hasher.combine(variables)
        hasher.combine(line)
        hasher.combine(path)
        hasher.combine(keysTried)
    }

    /// Whether no rule matched (the default applies: allow, no variables).
    public var isDefault: Bool { key == nil }

    /// The variables as tcpserver applies them: in order, a later duplicate name overriding an earlier
    /// one. Empty for a deny.
    public var environment: [String: String] {
        guard action == .allow else { return [:] }
        var result: [String: String] = [:]
        for variable in variables { result[variable.name] = variable.value }
        return result
    }

    /// Where the rule is, as `file:line` (or just the file, or `nil` for the default).
    public var location: String? {
        guard key != nil else { return nil }
        switch (path, line) {
        case (let path?, let line?): return "\(path):\(line)"
        case (let path?, nil): return path
        case (nil, let line?): return "line \(line)"
        case (nil, nil): return nil
        }
    }

    /// A one-line summary such as `rule 10.1.: allow (tcp.smtp:12)` or `default: allow`.
    public var summary: String {
        guard let key else { return "default: allow" }
        var text = "rule \(key): \(action.rawValue)"
        if let location { text += " (\(location))" }
        return text
    }
}

public import CDB

/// tcpserver's command-line options that change what a connection sees.
public struct TCPServerOptions: Sendable, Hashable {
    /// `-h` (default): look up the client's PTR name for `TCPREMOTEHOST`; `-H`: don't.
    public var lookupRemoteHost: Bool = true
    /// `-p`: paranoid — keep the PTR name only if its A/AAAA records contain the client's address;
    /// `-P` (default): don't check.
    public var paranoid: Bool = false
    /// `-r` (default): ask the client's ident server for `TCPREMOTEINFO`; `-R`: don't.
    public var lookupRemoteInfo: Bool = true
    /// `-l NAME`: `TCPLOCALHOST` is NAME and the local DNS lookup is skipped (`-l 0` sets it to `0`).
    public var localHostName: String? = nil
    /// `-X`: a missing `-x` rules file allows every connection instead of dropping it.
    public var allowMissingRules: Bool = false
    /// Which tcpserver: stock `ucspi-tcp` (IPv4 only) or `ucspi-tcp-ipv6`, which also sets the
    /// `TCP6*` variables. IPv6 clients always get ucspi-tcp-ipv6's behaviour (stock cannot serve them).
    public var dialect: RulesDialect = .ucspiTCP

    public init(
        lookupRemoteHost: Bool = true, paranoid: Bool = false, lookupRemoteInfo: Bool = true,
        localHostName: String? = nil, allowMissingRules: Bool = false, dialect: RulesDialect = .ucspiTCP
    ) {
        self.lookupRemoteHost = lookupRemoteHost
        self.paranoid = paranoid
        self.lookupRemoteInfo = lookupRemoteInfo
        self.localHostName = localHostName
        self.allowMissingRules = allowMissingRules
        self.dialect = dialect
    }
}

/// One incoming connection, with what DNS and ident answer about it.
public struct TCPServerConnection: Sendable, Hashable {
    /// The server's address (any IPv4/IPv6 text form; it is printed the way tcpserver prints it).
    public var localIP: String
    public var localPort: Int
    /// The client's address (any IPv4/IPv6 text form).
    public var remoteIP: String
    public var remotePort: Int
    /// The raw PTR answer for the client's address (any case, unescaped, a trailing root dot
    /// allowed); nil when there is no PTR record or the lookup fails.
    public var remotePTR: String?
    /// The A/AAAA addresses of the PTR name, for `-p`; nil means "they include the client's address".
    public var remotePTRAddresses: [String]?
    /// The user name the client's ident server answered (already extracted, see
    /// ``TCPServer/remoteInfo(fromIdentResponse:)``); nil when ident gives no answer.
    public var remoteInfo: String?
    /// The raw PTR answer for the local address (used for `TCPLOCALHOST` when `-l` is not given).
    public var localDNSName: String?

    public init(
        localIP: String, localPort: Int, remoteIP: String, remotePort: Int, remotePTR: String? = nil,
        remotePTRAddresses: [String]? = nil, remoteInfo: String? = nil, localDNSName: String? = nil
    ) {
        self.localIP = localIP
        self.localPort = localPort
        self.remoteIP = remoteIP
        self.remotePort = remotePort
        self.remotePTR = remotePTR
        self.remotePTRAddresses = remotePTRAddresses
        self.remoteInfo = remoteInfo
        self.localDNSName = localDNSName
    }
}

/// The environment tcpserver gives its child, kept as tcpserver puts it together: the inherited
/// environment, then the TCP variables it sets (or unsets), then the matched rule's variables.
/// A variable is looked up in that order, backwards, without making a dictionary (making it
/// hashes every variable, and the programs after tcpserver read only a few of them);
/// ``dictionary`` makes it.
public struct TCPServerEnvironment: Sendable, Hashable {
    /// A variable tcpserver sets (nil: unsets).
    struct Setting: Sendable, Hashable {
        let name: String
        let value: String?
    }

    let inherited: [String: String]
    let settings: [Setting]
    let ruleVariables: [RuleVariable]

    /// An environment given as it is.
    public init(_ environment: [String: String]) {
        inherited = environment
        settings = []
        ruleVariables = []
    }

    init(inherited: [String: String], settings: [Setting], ruleVariables: [RuleVariable]) {
        self.inherited = inherited
        self.settings = settings
        self.ruleVariables = ruleVariables
    }

    /// The value of `name`, nil when it is unset: the rule's last setting of it, else
    /// tcpserver's, else the inherited one.
    public subscript(name: String) -> String? {
        // Read in place, and names of another length skipped without comparing them.
        let length = name.utf8.count
        let rule = ruleVariables.withUnsafeBufferPointer { variables -> Int? in
            var index = variables.count
            while index > 0 {
                index -= 1
                if variables[index].name.utf8.count == length, variables[index].name == name { return index }
            }
            return nil
        }
        if let rule { return ruleVariables[rule].value }
        let set = settings.withUnsafeBufferPointer { settings -> Int? in
            for index in settings.indices where settings[index].name.utf8.count == length && settings[index].name == name {
                return index
            }
            return nil
        }
        if let set { return settings[set].value }
        return inherited.isEmpty ? nil : inherited[name]
    }

    /// The whole environment as a dictionary.
    public var dictionary: [String: String] {
        var environment = inherited
        environment.reserveCapacity(inherited.count + settings.count + ruleVariables.count)
        for setting in settings {
            if let value = setting.value { environment[setting.name] = value } else { environment.removeValue(forKey: setting.name) }
        }
        for variable in ruleVariables { environment[variable.name] = variable.value }
        return environment
    }

    public static func == (lhs: TCPServerEnvironment, rhs: TCPServerEnvironment) -> Bool {
        lhs.dictionary == rhs.dictionary
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(dictionary)
    }
}

/// What tcpserver does with one connection.
public struct TCPServerOutcome: Sendable, Hashable {
    /// Whether the program runs. When false the connection is closed at once, without a byte.
    public var allowed: Bool
    /// The rule lookup; nil when no rules database is used (no `-x`, or it could not be read).
    public var match: RuleMatch?
    /// The complete environment of the program (inherited, then the TCP variables, then the rule's
    /// variables); empty when the connection is not allowed. Made when read: see ``variables``.
    public var environment: [String: String] {
        get { variables.dictionary }
        set { variables = TCPServerEnvironment(newValue) }
    }
    /// The same environment as tcpserver puts it together, for looking variables up without
    /// making the dictionary.
    public var variables: TCPServerEnvironment
    /// `TCPREMOTEHOST` as set (escaped), nil if unset.
    public var remoteHost: String?
    /// One line saying why, e.g. `rule 10.1.: allow (tcp.smtp:12)` (put into words when read).
    public var reason: String {
        get {
            switch why {
            case .text(let text): return text
            case .rule: return match?.summary ?? "default: allow"
            case .noRules: return "no rules (-x not given): allow"
            case .missingAllowed(let path): return "rules file \(path) does not exist and -X is given: allow"
            case .dropped(let path, let failure): return "dropping connection, unable to read \(path): \(failure.message)"
            }
        }
        set { why = .text(newValue) }
    }

    /// The facts ``reason`` is made of (words cost more than facts, and few outcomes are read).
    enum Why: Sendable, Hashable {
        case text(String)
        /// The summary of ``match``.
        case rule
        case noRules
        case missingAllowed(path: String)
        case dropped(path: String, failure: RulesReadFailure)
    }

    var why: Why

    public init(
        allowed: Bool, match: RuleMatch?, environment: [String: String], remoteHost: String?, reason: String
    ) {
        self.init(allowed: allowed, match: match, environment: environment, remoteHost: remoteHost, why: .text(reason))
    }

    init(allowed: Bool, match: RuleMatch?, environment: [String: String], remoteHost: String?, why: Why) {
        self.init(allowed: allowed, match: match, variables: TCPServerEnvironment(environment), remoteHost: remoteHost, why: why)
    }

    init(allowed: Bool, match: RuleMatch?, variables: TCPServerEnvironment, remoteHost: String?, why: Why) {
        self.allowed = allowed
        self.match = match
        self.variables = variables
        self.remoteHost = remoteHost
        self.why = why
    }

    public static func == (lhs: TCPServerOutcome, rhs: TCPServerOutcome) -> Bool {
        lhs.allowed == rhs.allowed && lhs.match == rhs.match && lhs.environment == rhs.environment
            && lhs.remoteHost == rhs.remoteHost && lhs.reason == rhs.reason
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(allowed)
        hasher.combine(match)
        hasher.combine(environment)
        hasher.combine(remoteHost)
        hasher.combine(reason)
    }
}

/// A connection description tcpserver cannot have produced.
public struct TCPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// tcpserver's decisions, as pure functions.
public enum TCPServer {
    /// What tcpserver does with one connection: the variables it sets, the rule it applies, and
    /// whether the program runs.
    ///
    /// The environment starts as `inheritedEnvironment` (so a `RELAYCLIENT` in tcpserver's own
    /// environment reaches every client), then tcpserver sets `PROTO=TCP`, `TCPLOCALIP`,
    /// `TCPLOCALPORT`, `TCPLOCALHOST`, `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPREMOTEHOST` and
    /// `TCPREMOTEINFO` — **unsetting** the inherited value of each one it has no value for — and
    /// finally the matching rule's variables, in order, which override all of these. A deny closes
    /// the connection silently, and the rule's variables are never used.
    ///
    /// - Parameters:
    ///   - rules: the `-x` database; nil when `-x` is not given. An ``RulesDatabase/Kind/unreadable``
    ///     database drops the connection (`-X` allows it when the file is just missing).
    /// - Throws: ``TCPServerError`` when an address is not an IP address.
    public static func accept(
        _ connection: TCPServerConnection, options: TCPServerOptions, rules: RulesDatabase?,
        inheritedEnvironment: [String: String]
    ) throws -> TCPServerOutcome {
        var recorder = CDBLookupRecorder()
        return try accept(connection, options: options, rules: rules, inheritedEnvironment: inheritedEnvironment, recording: &recorder)
    }

    /// ``accept(_:options:rules:inheritedEnvironment:)``, recording the rules lookups in
    /// `recorder` (see ``RulesDatabase/match(_:dialect:recording:)``).
    public static func accept(
        _ connection: TCPServerConnection, options: TCPServerOptions, rules: RulesDatabase?,
        inheritedEnvironment: [String: String], recording recorder: inout CDBLookupRecorder
    ) throws -> TCPServerOutcome {
        // A dotted quad as tcpserver prints it is used as it is; anything else is parsed.
        let remoteIsQuad = IPAddress.isCanonicalIPv4(connection.remoteIP)
        let localIsQuad = IPAddress.isCanonicalIPv4(connection.localIP)
        var parsedRemote: IPAddress? = nil
        var parsedLocal: IPAddress? = nil
        if !remoteIsQuad {
            guard let address = IPAddress(connection.remoteIP) else {
                throw TCPServerError("not an IP address: remote address \(connection.remoteIP)")
            }
            parsedRemote = address
        }
        if !localIsQuad {
            guard let address = IPAddress(connection.localIP) else {
                throw TCPServerError("not an IP address: local address \(connection.localIP)")
            }
            parsedLocal = address
        }
        let remoteIsIPv4 = remoteIsQuad || parsedRemote!.isIPv4
        let localIsIPv4 = localIsQuad || parsedLocal!.isIPv4
        let ipv6Server = options.dialect == .ucspiTCPIPv6 || !remoteIsIPv4 || !localIsIPv4
        let remoteIP = parsedRemote?.tcpserverString ?? connection.remoteIP
        let localIP = parsedLocal?.tcpserverString ?? connection.localIP

        let localHost = options.localHostName ?? connection.localDNSName.map(escapeHostName)
        var remoteHost: String?
        if options.lookupRemoteHost, let ptr = connection.remotePTR {
            var confirmed = true
            if options.paranoid, let addresses = connection.remotePTRAddresses {
                let mine = (parsedRemote ?? IPAddress(connection.remoteIP)!).ipv6Bytes
                confirmed = addresses.contains { IPAddress($0)?.ipv6Bytes == mine }
            }
            if confirmed { remoteHost = escapeHostName(ptr) }
        }
        let remoteInfo = options.lookupRemoteInfo ? connection.remoteInfo : nil

        // The rule first: a denied connection gets no environment.
        var match: RuleMatch? = nil
        if let rules {
            if let failure = rules.readFailure {
                if !(failure.isMissingFile && options.allowMissingRules) {
                    return dropped(remoteHost: remoteHost, path: rules.path, failure: failure)
                }
            } else {
                do {
                    match = try rules.match(RuleClient(ip: remoteIP, host: remoteHost, info: remoteInfo), recording: &recorder)
                } catch {
                    if case .unreadable(_, let failure) = error {
                        return dropped(remoteHost: remoteHost, path: rules.path, failure: failure)
                    }
                    return dropped(remoteHost: remoteHost, path: rules.path, failure: .protocolError)
                }
                if match!.action == .deny {
                    return TCPServerOutcome(allowed: false, match: match, environment: [:], remoteHost: remoteHost, why: .rule)
                }
            }
        }

        // The variables tcpserver sets, in order (a dictionary is made only if one is asked for).
        var settings: [TCPServerEnvironment.Setting] = []
        settings.reserveCapacity(ipv6Server ? 15 : 8)
        func set(_ name: String, _ value: String?) {
            settings.append(TCPServerEnvironment.Setting(name: name, value: value))
        }
        let localPort = String(connection.localPort)
        let remotePort = String(connection.remotePort)
        set("PROTO", ipv6Server && !remoteIsIPv4 ? "TCP6" : "TCP")
        set("TCPLOCALIP", localIP)
        set("TCPLOCALPORT", localPort)
        set("TCPLOCALHOST", localHost)
        set("TCPREMOTEIP", remoteIP)
        set("TCPREMOTEPORT", remotePort)
        set("TCPREMOTEHOST", remoteHost)
        set("TCPREMOTEINFO", remoteInfo)
        if ipv6Server {
            set("TCP6LOCALIP", (parsedLocal ?? IPAddress(connection.localIP)!).ip6Format)
            set("TCP6LOCALPORT", localPort)
            set("TCP6LOCALHOST", localHost)
            set("TCP6REMOTEIP", (parsedRemote ?? IPAddress(connection.remoteIP)!).ip6Format)
            set("TCP6REMOTEPORT", remotePort)
            set("TCP6REMOTEHOST", remoteHost)
            set("TCP6REMOTEINFO", remoteInfo)
        }

        guard let rules else {
            let variables = TCPServerEnvironment(inherited: inheritedEnvironment, settings: settings, ruleVariables: [])
            return TCPServerOutcome(allowed: true, match: nil, variables: variables, remoteHost: remoteHost, why: .noRules)
        }
        guard let match else {
            // The rules file is missing and -X is given.
            let variables = TCPServerEnvironment(inherited: inheritedEnvironment, settings: settings, ruleVariables: [])
            return TCPServerOutcome(
                allowed: true, match: nil, variables: variables, remoteHost: remoteHost, why: .missingAllowed(path: rules.path))
        }
        let variables = TCPServerEnvironment(inherited: inheritedEnvironment, settings: settings, ruleVariables: match.variables)
        return TCPServerOutcome(allowed: true, match: match, variables: variables, remoteHost: remoteHost, why: .rule)
    }

    private static func dropped(remoteHost: String?, path: String, failure: RulesReadFailure) -> TCPServerOutcome {
        TCPServerOutcome(
            allowed: false, match: nil, environment: [:], remoteHost: remoteHost, why: .dropped(path: path, failure: failure))
    }

    /// The PTR name as tcpserver puts it into `TCPREMOTEHOST`: letters lower-cased, and every byte
    /// outside `a-z`, `0-9`, `-` and `_` (the dots between labels apart) written as `\ooo` in octal.
    /// A trailing root dot is dropped; the root name itself is `.`.
    ///
    /// `Mail.HOST.Example.COM` → `mail.host.example.com`, `we ird.example.com` →
    /// `we\040ird.example.com`, `Ex+ample` → `ex\053ample`.
    public static func escapeHostName(_ ptr: String) -> String {
        // Already as tcpserver writes it (the usual case): no copy.
        var plain = true
        var last: UInt8 = 0
        for byte in ptr.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), Byte.dot:
                last = byte
            default:
                plain = false
            }
            if !plain { break }
        }
        if plain, last != 0, last != Byte.dot { return ptr }
        var bytes = Array(ptr.utf8)
        if bytes.last == Byte.dot { bytes.removeLast() }
        if bytes.isEmpty { return "." }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): result.append(byte + 32)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), Byte.dot:
                result.append(byte)
            default:
                result.append(UInt8(ascii: "\\"))
                result.append(0x30 + (byte >> 6))
                result.append(0x30 + ((byte >> 3) & 7))
                result.append(0x30 + (byte & 7))
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// `TCPREMOTEINFO` from an ident (RFC 1413) response line: what follows the third `:`, with
    /// spaces, tabs and CRs removed, reading up to the first LF and keeping at most 257 bytes (as
    /// tcpserver's reader stops). `6191, 23 : USERID : UNIX : joe x` → `joex`; a response with
    /// fewer than three colons gives the empty string.
    public static func remoteInfo(fromIdentResponse response: String) -> String {
        var colons = 0
        var result: [UInt8] = []
        for byte in response.utf8 {
            if byte == 0x20 || byte == 0x09 || byte == 0x0D { continue }
            if byte == 0x0A { break }
            if colons < 3 {
                if byte == Byte.colon { colons += 1 }
            } else {
                if byte == 0 { break }
                result.append(byte)
                if result.count > 256 { break }
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// An address as tcpserver prints it in `TCPREMOTEIP` (see ``IPAddress``), or nil if `text` is
    /// not an IP address.
    public static func formatIP(_ text: String) -> String? {
        IPAddress(text)?.tcpserverString
    }
}

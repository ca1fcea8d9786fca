import RelayEngine
import TCPRules

extension ScenarioFile {
    /// The keys of a scenario file's top level.
    public static let keys = ["name", "description", "config", "connections"]
    /// The keys of a connection besides the configuration keys (which override the file's).
    public static let connectionKeys = [
        "name", "client", "ptr", "info", "expect", "steps", "from", "rcpt", "helo", "authenticate",
    ]
    /// The keys naming what a step does (exactly one per step).
    public static let stepActions = ["send", "raw", "data", "auth", "pipeline", "wait", "close"]
    /// The other keys of a step.
    public static let stepModifiers = ["expect", "encoding", "force"]
    static let connectionKeySet = KeySet(connectionKeys + ConfigurationSpec.keys)
    static let stepKeySet = KeySet(stepActions + stepModifiers)
    /// How many errors one file reports before giving up.
    static let errorLimit = 20

    /// Reads and parses a scenario file.
    ///
    /// - Throws: ``ScenarioErrors``: every problem found (up to 20), each located at the key or
    ///   value concerned. A connection with an error is skipped and the next one parsed, so that
    ///   one run shows them all.
    /// - Parameter maxFileBytes: the most bytes read from the file and from each file it names.
    public static func load(path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) throws(ScenarioErrors) -> ScenarioFile {
        let root: YAMLNode
        do {
            root = try YAMLSource.read(path: path, maxFileBytes: maxFileBytes).root()
        } catch {
            throw ScenarioErrors([error])
        }
        return try ScenarioFile(yaml: root)
    }

    /// Parses a scenario file's root mapping.
    public init(yaml root: YAMLNode) throws(ScenarioErrors) {
        var parser = _ScenarioParser(source: root.source)
        self = try parser.parse(root)
    }
}

/// The configuration a file's connections start from.
enum _FileConfiguration {
    /// `config:` given inline.
    case inline(ConfigurationSpec)
    /// `config: FILE` or `config: {include: FILE, …}`: a listener chosen per connection, then overrides.
    case file(ConfigurationFile, overrides: ConfigurationSpec, position: FilePosition)
}

/// The compact-form keys of one connection.
struct _CompactKeys {
    private var helo: YAMLEntry?
    private var authenticate: YAMLEntry?
    private var from: YAMLEntry?
    private var rcpt: YAMLEntry?
    /// The first one written.
    private(set) var first: YAMLEntry?

    var isEmpty: Bool { first == nil }

    subscript(key: String) -> YAMLEntry? {
        get {
            switch key {
            case "helo": return helo
            case "authenticate": return authenticate
            case "from": return from
            default: return rcpt
            }
        }
        set {
            if first == nil { first = newValue }
            switch key {
            case "helo": helo = newValue
            case "authenticate": authenticate = newValue
            case "from": from = newValue
            default: rcpt = newValue
            }
        }
    }
}

struct _ScenarioParser {
    let source: YAMLSource
    var errors: [ScenarioError] = []
    var warnings: [ScenarioError] = []
    var configuration: _FileConfiguration = .inline(ConfigurationSpec()) {
        didSet {
            if case .inline(let spec) = configuration {
                sharedConfiguration = _ConfigurationBox(spec)
                isInline = true
            } else {
                isInline = false
            }
        }
    }
    /// Whether ``configuration`` is `.inline` (asked once per connection; cheaper than a match).
    var isInline = true
    /// The file's own configuration, shared by the connections that do not override it.
    var sharedConfiguration = _ConfigurationBox(ConfigurationSpec())

    init(source: YAMLSource) { self.source = source }

    mutating func parse(_ root: YAMLNode) throws(ScenarioErrors) -> ScenarioFile {
        var name: String? = nil
        var connectionNodes: [YAMLNode] = []
        var sawConnections = false
        do throws(ScenarioError) {
            for entry in try root.mapping(allowedKeys: ScenarioFile.keys) {
                switch entry.key {
                case "name": name = try entry.value.string()
                case "description": _ = try entry.value.string()
                case "config": configuration = try parseConfig(entry.value)
                default:
                    sawConnections = true
                    connectionNodes = try entry.value.sequence()
                    if connectionNodes.isEmpty { throw entry.value.error("'connections' is empty") }
                }
            }
            if !sawConnections {
                throw root.error("a scenario file needs a 'connections' list")
            }
        } catch {
            throw ScenarioErrors([error])
        }
        var connections: [ScenarioConnection] = []
        connections.reserveCapacity(connectionNodes.count)
        for (offset, node) in connectionNodes.enumerated() {
            do {
                connections.append(try parseConnection(node, index: offset + 1))
            } catch {
                errors.append(error)
                if errors.count >= ScenarioFile.errorLimit { break }
            }
        }
        if !errors.isEmpty { throw ScenarioErrors(errors) }
        let fileName = String(source.path.split(separator: "/").last ?? Substring(source.path))
        let stem = fileName.hasSuffix(".yaml") ? String(fileName.dropLast(5)) : fileName.hasSuffix(".yml") ? String(fileName.dropLast(4)) : fileName
        return ScenarioFile(path: source.path, name: name ?? stem, connections: connections, warnings: warnings)
    }

    // MARK: - config

    mutating func parseConfig(_ node: YAMLNode) throws(ScenarioError) -> _FileConfiguration {
        if node.isScalar {
            return .file(try loadConfigurationFile(node), overrides: ConfigurationSpec(), position: node.position)
        }
        var overrides = ConfigurationSpec()
        var file: ConfigurationFile? = nil
        for entry in try node.mapping(allowedKeys: ["include"] + ConfigurationSpec.keys) {
            if entry.key == "include" {
                file = try loadConfigurationFile(entry.value)
            } else {
                try overrides.apply(entry)
            }
        }
        if let file { return .file(file, overrides: overrides, position: node.position) }
        return .inline(overrides)
    }

    mutating func loadConfigurationFile(_ node: YAMLNode) throws(ScenarioError) -> ConfigurationFile {
        let path = node.source.resolve(try node.string())
        let file: ConfigurationFile
        do {
            file = try ConfigurationFile.load(path: path, maxFileBytes: source.maxFileBytes)
        } catch {
            if error.position == nil { throw node.error("configuration file \(path): \(error.message)") }
            throw error
        }
        warnings += file.warnings
        return file
    }

    // MARK: - Connections

    mutating func parseConnection(_ node: YAMLNode, index: Int) throws(ScenarioError) -> ScenarioConnection {
        let entries = try node.mapping(allowedKeys: ScenarioFile.connectionKeySet)
        // Made only for a connection that overrides something (most do not).
        var overrides: ConfigurationSpec? = nil
        var name: String? = nil
        var client: ClientSpec? = nil
        var clientNode: YAMLNode? = nil
        var ptr: (String?, YAMLNode)? = nil
        var info: (String?, YAMLNode)? = nil
        var expectation: ConnectionExpectation? = nil
        var steps: [ScenarioStep]? = nil
        var stepsKey: YAMLNode? = nil
        var compact = _CompactKeys()
        for entry in entries {
            switch entry.key {
            case "name": name = try entry.value.string()
            case "client":
                client = try parseClient(entry.value)
                clientNode = entry.value
            case "ptr": ptr = (try entry.value.optionalString(), entry.value)
            case "info": info = (try entry.value.optionalString(), entry.value)
            case "expect": expectation = try parseConnectionExpectation(entry.value)
            case "steps":
                stepsKey = entry.keyNode
                steps = []
                for item in try entry.value.sequence() { steps!.append(try parseStep(item)) }
            case "from", "rcpt", "helo", "authenticate":
                compact[entry.key] = entry
            default:
                if overrides == nil { overrides = ConfigurationSpec() }
                try overrides!.apply(entry)
            }
        }
        guard var client else {
            throw node.error("connection \(index) needs a 'client' (its IP address)")
        }
        if let (value, valueNode) = ptr {
            if clientNode?.isMapping == true, client.ptr != nil {
                throw valueNode.error("'ptr' is given twice (here and in 'client')")
            }
            client.ptr = value
        }
        if let (value, valueNode) = info {
            if clientNode?.isMapping == true, client.info != nil {
                throw valueNode.error("'info' is given twice (here and in 'client')")
            }
            client.info = value
        }
        if !compact.isEmpty {
            if let stepsKey {
                let first = compact.first!
                throw first.keyNode.error(
                    "'\(first.key)' belongs to the compact form, but this connection has 'steps' (line \(stepsKey.position.line)); use one or the other")
            }
            steps = try compactSteps(compact, client: client, connection: node)
        }
        let configurationBox: _ConfigurationBox
        var listener: String? = nil
        if isInline, overrides?.isEmpty ?? true {
            configurationBox = sharedConfiguration
        } else {
            let (spec, listenerName) = try configuration(for: overrides ?? ConfigurationSpec(), connection: node)
            configurationBox = _ConfigurationBox(spec)
            listener = listenerName
        }
        return ScenarioConnection(
            name: name ?? _ScenarioParser.defaultName(index: index, ip: client.ip), index: index, position: node.position,
            configurationBox: configurationBox, listener: listener, client: client, expectation: expectation,
            steps: steps ?? [])
    }

    /// The connection's configuration: the file's (or the listener's its server address
    /// reaches), with the connection's own keys on top.
    func configuration(for overrides: ConfigurationSpec, connection node: YAMLNode) throws(ScenarioError)
        -> (ConfigurationSpec, String?)
    {
        switch configuration {
        case .inline(let base):
            return (overrides.isEmpty ? base : base.merged(with: overrides), nil)
        case .file(let file, let fileOverrides, _):
            let ip = overrides.server.ip ?? fileOverrides.server.ip ?? ServerSpec.defaultIP
            let port = overrides.server.port ?? fileOverrides.server.port ?? ServerSpec.defaultPort
            guard let listener = file.listener(serverIP: ip, port: port) else {
                let names = file.listeners.map { "\($0.name) (\($0.ip ?? "*"):\($0.port.map(String.init) ?? "*"))" }
                throw node.error("no listener of \(file.path) takes connections to \(ip) port \(port); listeners: \(names.joined(separator: ", "))")
            }
            var spec = listener.configuration.merged(with: fileOverrides).merged(with: overrides)
            if spec.server.port == nil { spec.server.port = port }
            return (spec, listener.name)
        }
    }

    func parseClient(_ node: YAMLNode) throws(ScenarioError) -> ClientSpec {
        if node.isScalar { return ClientSpec(ip: try ConfigurationSpec.parseIP(node)) }
        var ip: String? = nil
        var client = ClientSpec(ip: "")
        for entry in try node.mapping(allowedKeys: ["ip", "port", "ptr", "ptr_addresses", "info"]) {
            switch entry.key {
            case "ip": ip = try ConfigurationSpec.parseIP(entry.value)
            case "port": client.port = try entry.value.int(in: 1...65535)
            case "ptr": client.ptr = try entry.value.optionalString()
            case "ptr_addresses":
                var addresses: [String] = []
                for item in try (entry.value.isSequence ? entry.value.sequence() : [entry.value]) {
                    addresses.append(try ConfigurationSpec.parseIP(item))
                }
                client.ptrAddresses = addresses
            default: client.info = try entry.value.optionalString()
            }
        }
        guard let ip else { throw node.error("'client' needs an 'ip'") }
        client.ip = ip
        return client
    }

    // MARK: - Steps

    func parseStep(_ node: YAMLNode) throws(ScenarioError) -> ScenarioStep {
        if node.isScalar {
            let line = try node.string()
            return ScenarioStep(action: .send(try commandBytes(line, node: node, encoding: "utf8")), position: node.position)
        }
        let entries = try node.mapping(allowedKeys: ScenarioFile.stepKeySet)
        var encoding = "utf8"
        var force = false
        var expectations: [ReplyExpectation] = []
        var expectsNoReply = false
        var actionEntry: YAMLEntry? = nil
        for entry in entries {
            switch entry.key {
            case "encoding": encoding = try entry.value.choice(["utf8", "latin1"])
            case "force": force = try entry.value.bool()
            case "expect":
                expectations = try parseReplyExpectations(entry.value)
                expectsNoReply = expectations.isEmpty
            default:
                if let previous = actionEntry {
                    throw entry.keyNode.error("a step does one thing: it already has '\(previous.key)'")
                }
                actionEntry = entry
            }
        }
        guard let actionEntry else {
            throw node.error("a step needs one of: \(ScenarioFile.stepActions.joined(separator: ", "))")
        }
        if force, actionEntry.key != "data" {
            throw node.error("'force' applies to 'data' steps only")
        }
        let value = actionEntry.value
        let action: ScenarioStep.Action
        switch actionEntry.key {
        case "send":
            action = .send(try commandBytes(try value.string(), node: value, encoding: encoding))
        case "raw":
            action = .send(try bytes(try value.string(), node: value, encoding: encoding))
        case "pipeline":
            var batch: [UInt8] = []
            for item in try value.sequence() {
                batch += try commandBytes(try item.string(), node: item, encoding: encoding)
            }
            action = .send(batch)
        case "data":
            action = .data(body: try messageBytes(value.isNull ? "" : try value.string(), node: value, encoding: encoding), force: force)
            if expectations.count > 2 {
                throw node.error("a data step has at most two replies to expect (DATA's, then the message's)")
            }
        case "auth":
            action = .auth(try parseAuthExchange(value))
        case "wait":
            let text = try value.string()
            guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                throw value.error("expected a number of seconds for 'wait', found '\(text)'")
            }
            action = .wait(seconds: seconds)
        default:
            let closes = value.isNull ? true : try value.bool()
            guard closes else {
                throw value.error("'close: false' does nothing; remove the step")
            }
            if !expectations.isEmpty {
                throw node.error("nothing answers a client that closes: 'close' takes no 'expect'")
            }
            action = .close
        }
        return ScenarioStep(action: action, expectations: expectations, expectsNoReply: expectsNoReply, position: node.position)
    }

    func parseAuthExchange(_ node: YAMLNode) throws(ScenarioError) -> AuthExchange {
        var mechanism: AuthExchange.Mechanism = .plain
        var user: String? = nil
        var password: String? = nil
        var initial: Bool? = nil
        for entry in try node.mapping(allowedKeys: ["mechanism", "user", "password", "initial"]) {
            switch entry.key {
            case "mechanism":
                let names = AuthExchange.Mechanism.allCases.map(\.rawValue)
                let text = try entry.value.string()
                guard let value = AuthExchange.Mechanism(rawValue: text.uppercased()) else {
                    throw entry.value.error("unknown AUTH mechanism '\(text)'" + NearestKey.hint(for: text.uppercased(), among: names))
                }
                mechanism = value
            case "user": user = try entry.value.string()
            case "password": password = try entry.value.optionalString() ?? ""
            default: initial = try entry.value.bool()
            }
        }
        guard let user else { throw node.error("an AUTH step needs a 'user'") }
        return AuthExchange(
            mechanism: mechanism, user: user, password: password ?? "", initialResponse: initial ?? (mechanism == .plain))
    }

    /// Compact form: EHLO, [AUTH], MAIL FROM, one RCPT per address (each with its expectation), QUIT.
    func compactSteps(_ keys: _CompactKeys, client: ClientSpec, connection node: YAMLNode) throws(ScenarioError)
        -> [ScenarioStep]
    {
        var steps: [ScenarioStep] = []
        steps.reserveCapacity(4 + (keys["rcpt"]?.value.childCount ?? 0))
        let helo = try keys["helo"]?.value.string() ?? client.ptr ?? "[\(client.ip)]"
        let heloPosition = keys["helo"]?.value.position ?? node.position
        steps.append(ScenarioStep(action: .send(_ScenarioParser.line("EHLO ", helo)), position: heloPosition))
        if let auth = keys["authenticate"] {
            steps.append(ScenarioStep(action: .auth(try parseAuthExchange(auth.value)), position: auth.value.position))
        }
        guard let from = keys["from"] else {
            throw (keys["rcpt"]?.keyNode ?? node).error("the compact form needs 'from' (the envelope sender; \"\" for <>)")
        }
        var sender = try from.value.optionalString() ?? ""
        if sender.hasPrefix("<"), sender.hasSuffix(">"), sender.count >= 2 { sender = String(sender.dropFirst().dropLast()) }
        steps.append(ScenarioStep(action: .send(_ScenarioParser.line("MAIL FROM:<", sender, ">")), position: from.value.position))
        if let rcpt = keys["rcpt"] {
            if rcpt.value.isMapping {
                for entry in try rcpt.value.mapping() {
                    steps.append(
                        ScenarioStep(
                            action: .send(_ScenarioParser.line("RCPT TO:<", entry.key, ">")),
                            expectations: entry.value.isNull ? [] : [try parseReplyExpectation(entry.value)],
                            position: entry.keyNode.position))
                }
            } else {
                for item in try rcpt.value.sequence() {
                    if item.isMapping {
                        let entries = try item.mapping()
                        guard entries.count == 1 else {
                            throw item.error("expected 'address: expectation' (one per item)")
                        }
                        let entry = entries[0]
                        steps.append(
                            ScenarioStep(
                                action: .send(_ScenarioParser.line("RCPT TO:<", entry.key, ">")),
                                expectations: entry.value.isNull ? [] : [try parseReplyExpectation(entry.value)],
                                position: entry.keyNode.position))
                    } else {
                        steps.append(
                            ScenarioStep(action: .send(_ScenarioParser.line("RCPT TO:<", try item.string(), ">")), position: item.position))
                    }
                }
            }
        }
        steps.append(ScenarioStep(action: .send(_ScenarioParser.quit), position: node.position))
        return steps
    }

    // MARK: - Bytes

    static let quit: [UInt8] = Array("QUIT\r\n".utf8)

    /// Text as bytes: UTF-8, or Latin-1 (each character U+0000…U+00FF one byte) for 8-bit data.
    func bytes(_ text: String, node: YAMLNode, encoding: String) throws(ScenarioError) -> [UInt8] {
        if encoding == "utf8" { return Array(text.utf8) }
        var result: [UInt8] = []
        result.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else {
                throw node.error("'\(scalar)' (U+\(String(scalar.value, radix: 16, uppercase: true))) is not a Latin-1 byte; with 'encoding: latin1' use \\x00-\\xff escapes")
            }
            result.append(UInt8(scalar.value))
        }
        return result
    }

    /// A command line with CRLF appended.
    func commandBytes(_ text: String, node: YAMLNode, encoding: String) throws(ScenarioError) -> [UInt8] {
        if text.contains("\n") {
            throw node.error("a command line cannot contain a line feed; use 'raw' to send exact bytes (bare LF, several lines)")
        }
        return try bytes(text, node: node, encoding: encoding) + [13, 10]
    }

    /// A message as a client sends it after 354: lines ending in CRLF, a leading `.` doubled,
    /// then `.` CRLF.
    func messageBytes(_ text: String, node: YAMLNode, encoding: String) throws(ScenarioError) -> [UInt8] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") || text.isEmpty { lines.removeLast() }
        var result: [UInt8] = []
        for line in lines {
            var line = line
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix(".") { result.append(UInt8(ascii: ".")) }
            result += try bytes(String(line), node: node, encoding: encoding)
            result += [13, 10]
        }
        result += [UInt8(ascii: "."), 13, 10]
        return result
    }

    // MARK: - Expectations

    func parseReplyExpectations(_ node: YAMLNode) throws(ScenarioError) -> [ReplyExpectation] {
        if node.isSequence {
            var result: [ReplyExpectation] = []
            for item in try node.sequence() { result.append(try parseReplyExpectation(item)) }
            return result
        }
        return [try parseReplyExpectation(node)]
    }

    static let outcomeWords = ReplyExpectation.Outcome.allCases.map(\.rawValue)

    /// The decision `word` names (``ReplyExpectation/Outcome/init(rawValue:)``, by a switch:
    /// the initializer looks the word up in a table, which costs more for every expectation).
    static func outcome(_ word: String) -> ReplyExpectation.Outcome? {
        switch word {
        case "accept": .accept
        case "refuse": .refuse
        case "tempfail": .tempfail
        case "deny": .deny
        case "relay": .relay
        case "closed": .closed
        default: nil
        }
    }

    func parseReplyExpectation(_ node: YAMLNode) throws(ScenarioError) -> ReplyExpectation {
        let position = node.position
        if node.isScalar {
            let text = try node.string()
            // The usual case, a decision word, made in one step (no copy of the expectation).
            if let outcome = _ScenarioParser.outcome(text) {
                return ReplyExpectation(outcome: outcome, position: position, written: text)
            }
            var expectation = ReplyExpectation(position: position, written: text)
            try fillScalar(text, node: node, into: &expectation)
            return expectation
        }
        var expectation = ReplyExpectation(position: position, written: written(node))
        for entry in try node.mapping(allowedKeys: _ScenarioParser.expectationKeys) {
            switch entry.key {
            case "code": expectation.code = try entry.value.int(in: 100...599)
            case "reply":
                let lines = try replyLines(try entry.value.string(), node: entry.value)
                expectation.reply = lines
                expectation.code = expectation.code ?? Int(lines[0].prefix(3))
            case "text": expectation.text = trimmingFinalNewline(try entry.value.string())
            case "contains": expectation.contains = try entry.value.string()
            case "decision":
                let word = try entry.value.string()
                guard let outcome = ReplyExpectation.Outcome(rawValue: word) else {
                    throw entry.value.error("'\(word)' is not a decision" + NearestKey.hint(for: word, among: _ScenarioParser.outcomeWords))
                }
                expectation.outcome = outcome
            case "reason": expectation.reason = try entry.value.string()
            case "sender": expectation.sender = try entry.value.optionalString() ?? ""
            case "recipients": expectation.recipients = try entry.value.stringList()
            default: expectation.received = trimmingFinalNewline(try entry.value.string())
            }
        }
        return expectation
    }

    static let expectationKeys = KeySet([
        "code", "reply", "text", "contains", "decision", "reason", "sender", "recipients", "received",
    ])

    /// A scalar expectation: `250`, `"553 sorry, …"` (the exact reply; lines separated by LF),
    /// or a decision word.
    func fillScalar(_ text: String, node: YAMLNode, into expectation: inout ReplyExpectation) throws(ScenarioError) {
        if let outcome = _ScenarioParser.outcome(text) {
            expectation.outcome = outcome
            return
        }
        let utf8 = Array(text.utf8.prefix(4))
        if utf8.count == 3, utf8.allSatisfy({ (48...57).contains($0) }) {
            guard let code = Int(text), (100...599).contains(code) else {
                throw node.error("\(text) is not an SMTP reply code (100-599)")
            }
            expectation.code = code
            return
        }
        if utf8.count >= 4, utf8.prefix(3).allSatisfy({ (48...57).contains($0) }), utf8[3] == 32 || utf8[3] == 45 {
            let lines = try replyLines(text, node: node)
            expectation.reply = lines
            expectation.code = Int(text.prefix(3))
            return
        }
        throw node.error(
            "'\(text)' is not an expectation: expected a reply code (250), a code and its exact text (\"553 sorry, …\") or a decision (\(_ScenarioParser.outcomeWords.joined(separator: ", ")))"
                + (NearestKey.suggestion(for: text, among: _ScenarioParser.outcomeWords).map { "; did you mean '\($0)'?" } ?? ""))
    }

    func replyLines(_ text: String, node: YAMLNode) throws(ScenarioError) -> [String] {
        let lines = trimmingFinalNewline(text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for line in lines {
            let utf8 = Array(line.utf8)
            guard utf8.count >= 3, utf8.prefix(3).allSatisfy({ (48...57).contains($0) }) else {
                throw node.error("every line of an exact reply starts with its 3-digit code; '\(line)' does not")
            }
        }
        return lines
    }

    func trimmingFinalNewline(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// A mapping expectation as written, on one line: `{decision: refuse, reason: badmailfrom}`.
    func written(_ node: YAMLNode) -> String {
        guard let entries = try? node.mapping() else { return node.scalarText ?? "…" }
        let parts = entries.map { entry -> String in
            if let text = entry.value.scalarText {
                return "\(_ScenarioParser.writtenScalar(entry.key)): \(_ScenarioParser.writtenScalar(text, plain: entry.value.isPlainScalar))"
            }
            if entry.value.isSequence, let items = try? entry.value.sequence() {
                let texts = items.map { $0.scalarText.map { _ScenarioParser.writtenScalar($0, plain: false) } ?? written($0) }
                return "\(_ScenarioParser.writtenScalar(entry.key)): [\(texts.joined(separator: ", "))]"
            }
            return "\(_ScenarioParser.writtenScalar(entry.key)): \(written(entry.value))"
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// A scalar as it would be written in a flow mapping: quoted when it must be.
    static func writtenScalar(_ text: String, plain: Bool = false) -> String {
        if plain, !text.isEmpty { return text }
        let special: Set<Character> = [":", ",", "{", "}", "[", "]", "#", "\"", "'", "\n", "\r", "\t", "&", "*", "!", "|", ">", "%", "`"]
        let needsQuotes =
            text.isEmpty || text.first == " " || text.last == " " || text.contains(where: { special.contains($0) })
            || text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        guard needsQuotes else { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    quoted += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }

    func parseConnectionExpectation(_ node: YAMLNode) throws(ScenarioError) -> ConnectionExpectation {
        var expectation = ConnectionExpectation(position: node.position, written: node.scalarText ?? written(node))
        if node.isScalar {
            expectation.allowed = try allowOrDeny(node)
            return expectation
        }
        for entry in try node.mapping(allowedKeys: ["connection", "rule", "env", "rblsmtpd", "greeting", "exit"]) {
            switch entry.key {
            case "connection":
                expectation.allowed = try allowOrDeny(entry.value)
            case "rule":
                if entry.value.isNull || (entry.value.isPlainScalar && entry.value.scalarText == "default") {
                    expectation.rule = .some(nil)
                } else {
                    expectation.rule = .some(try entry.value.string())
                }
            case "env":
                for variable in try entry.value.mapping() {
                    expectation.environment[variable.key] = try variable.value.optionalString()
                }
            case "rblsmtpd":
                switch try entry.value.choice(["pass", "refuse", "tempfail"]) {
                case "pass": expectation.blocklist = .accept
                case "refuse": expectation.blocklist = .refuse
                default: expectation.blocklist = .tempfail
                }
            case "exit":
                expectation.exitStatus = try entry.value.int(in: 0...255)
            default:
                expectation.greeting = try parseReplyExpectation(entry.value)
            }
        }
        return expectation
    }

    func allowOrDeny(_ node: YAMLNode) throws(ScenarioError) -> Bool {
        let word = try node.string()
        switch word {
        case "allow", "accept": return true
        case "deny": return false
        default:
            throw node.error("expected allow or deny for the connection, found '\(word)'" + NearestKey.hint(for: word, among: ["allow", "deny"]))
        }
    }
}

public import RelayEngine

/// A parsed scenario file: named connections, each with the configuration it runs against, the
/// client, the steps it takes and what it expects.
public struct ScenarioFile: Sendable {
    /// The file, as given.
    public var path: String
    /// The suite's name: the file's `name:`, or the file name without extension.
    public var name: String
    /// The connections, in file order.
    public var connections: [ScenarioConnection]
    /// Things the loader could not evaluate fully (from run scripts of a configuration file).
    public var warnings: [ScenarioError]

    public init(path: String, name: String, connections: [ScenarioConnection], warnings: [ScenarioError] = []) {
        self.path = path
        self.name = name
        self.connections = connections
        self.warnings = warnings
    }
}

/// One client connection of a scenario.
public struct ScenarioConnection: Sendable {
    /// Its name (given, or `connection N from IP`).
    public var name: String
    /// 1-based index in the file.
    public var index: Int
    /// Where it starts in the file.
    public var position: FilePosition
    /// The configuration it runs against (file defaults and its own overrides merged).
    public var configuration: ConfigurationSpec {
        get { configurationBox.value }
        set { configurationBox = _ConfigurationBox(newValue) }
    }
    /// Shared by the connections that use the file's configuration unchanged.
    var configurationBox: _ConfigurationBox
    /// The server it connects to (``configuration``'s, read without copying the rest).
    public var server: ServerSpec { configurationBox.value.server }

    /// Whether two connections run against the very same configuration value (cheaper than `==`).
    public func sharesConfiguration(with other: ScenarioConnection) -> Bool {
        configurationBox === other.configurationBox
    }
    /// The listener it reached, when the configuration comes from a configuration file.
    public var listener: String?
    /// The client.
    public var client: ClientSpec
    /// What must hold about the connection as a whole (tcpserver, rule, environment, greeting).
    public var expectation: ConnectionExpectation? {
        get { expectationBox?.value }
        set { expectationBox = newValue.map(_ExpectationBox.init) }
    }
    /// The expectation, held by reference: it is large and usually absent, and a connection is
    /// moved and copied several times between the parser and the report.
    var expectationBox: _ExpectationBox?
    /// What the client does, in order. After the last step the client closes the connection.
    public var steps: [ScenarioStep]

    public init(
        name: String, index: Int, position: FilePosition, configuration: ConfigurationSpec, listener: String? = nil,
        client: ClientSpec, expectation: ConnectionExpectation? = nil, steps: [ScenarioStep]
    ) {
        self.name = name
        self.index = index
        self.position = position
        self.configurationBox = _ConfigurationBox(configuration)
        self.listener = listener
        self.client = client
        self.expectationBox = expectation.map(_ExpectationBox.init)
        self.steps = steps
    }
}

/// A configuration shared by reference between connections.
extension ScenarioConnection {
    /// A connection whose configuration is `configurationBox` (shared with other connections).
    init(
        name: String, index: Int, position: FilePosition, configurationBox: _ConfigurationBox, listener: String?,
        client: ClientSpec, expectation: ConnectionExpectation?, steps: [ScenarioStep]
    ) {
        self.name = name
        self.index = index
        self.position = position
        self.configurationBox = configurationBox
        self.listener = listener
        self.client = client
        self.expectationBox = expectation.map(_ExpectationBox.init)
        self.steps = steps
    }
}

final class _ConfigurationBox: Sendable {
    let value: ConfigurationSpec
    init(_ value: ConfigurationSpec) { self.value = value }
}

/// A connection's expectation, held by reference (see ``ScenarioConnection/expectation``).
final class _ExpectationBox: Sendable {
    let value: ConnectionExpectation
    init(_ value: ConnectionExpectation) { self.value = value }
}

/// The client side of a connection as tcpserver sees it.
public struct ClientSpec: Sendable, Hashable {
    /// The client's IP address (IPv4 or IPv6).
    public var ip: String
    /// The client's port.
    public var port: Int
    /// The PTR answer for the client's address (nil: none).
    public var ptr: String?
    /// The addresses the PTR name resolves to (for tcpserver -p); nil: taken to include the client.
    public var ptrAddresses: [String]?
    /// The ident (RFC 1413) user name (for tcpserver -r); nil: no answer.
    public var info: String?

    public init(ip: String, port: Int = 40000, ptr: String? = nil, ptrAddresses: [String]? = nil, info: String? = nil) {
        self.ip = ip
        self.port = port
        self.ptr = ptr
        self.ptrAddresses = ptrAddresses
        self.info = info
    }
}

/// One thing the client does.
public struct ScenarioStep: Sendable, Hashable {
    /// The action.
    public enum Action: Sendable, Hashable {
        /// Send these exact bytes (a command line with its CRLF, a raw batch, a pipelined group).
        case send([UInt8])
        /// Send `DATA\r\n`; when the reply is 354 (or `force` is set, as spam bots do), send the
        /// message: `body` is already on the wire form (CRLF, dot-stuffed, final `.\r\n`).
        case data(body: [UInt8], force: Bool)
        /// An SMTP AUTH exchange, answering the server's 334 prompts.
        case auth(AuthExchange)
        /// Stay idle for this many seconds (timeouts).
        case wait(seconds: Double)
        /// Close the client's side of the connection.
        case close
    }

    /// What the client does.
    public var action: Action
    /// What the replies must be, in order (empty: record what the simulation answers). For
    /// `data`, a single expectation applies to the final reply (after the message, or the DATA
    /// reply when no message was sent); two apply to the DATA reply and the final one.
    public var expectations: [ReplyExpectation]
    /// Whether the step must get no reply at all (`expect: []`).
    public var expectsNoReply: Bool
    /// Where the step is written.
    public var position: FilePosition

    public init(action: Action, expectations: [ReplyExpectation] = [], expectsNoReply: Bool = false, position: FilePosition) {
        self.action = action
        self.expectations = expectations
        self.expectsNoReply = expectsNoReply
        self.position = position
    }
}

/// An SMTP AUTH exchange.
public struct AuthExchange: Sendable, Hashable {
    /// The mechanism.
    public enum Mechanism: String, Sendable, Hashable, CaseIterable {
        case login = "LOGIN"
        case plain = "PLAIN"
        case cramMD5 = "CRAM-MD5"
    }

    public var mechanism: Mechanism
    public var user: String
    public var password: String
    /// Whether the first response goes on the AUTH line (`AUTH PLAIN <b64>`, `AUTH LOGIN <b64 user>`).
    public var initialResponse: Bool

    public init(mechanism: Mechanism, user: String, password: String, initialResponse: Bool) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.initialResponse = initialResponse
    }
}

/// What one reply must be. Every field that is set must hold.
public struct ReplyExpectation: Sendable, Hashable {
    /// What a decision word stands for.
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// Accepted (2xx/3xx), for a recipient: a domain the server hosts.
        case accept
        /// Refused permanently (5xx).
        case refuse
        /// Refused temporarily (4xx).
        case tempfail
        /// Dropped without a reply (tcpserver deny).
        case deny
        /// A recipient accepted for a domain the server does not host.
        case relay
        /// No reply, and the connection is closed.
        case closed

        /// The engine's outcome word, nil for `closed`.
        public var engineOutcome: Decision.Outcome? { Decision.Outcome(rawValue: rawValue) }
    }

    /// The reply code (of every line).
    public var code: Int?
    /// The exact reply, line by line, without CRLF.
    public var reply: [String]? {
        get { details?.fields.reply }
        set { changeDetails { $0.reply = newValue } }
    }
    /// The reply's text: each line without its code and separator, lines joined with LF.
    public var text: String? {
        get { details?.fields.text }
        set { changeDetails { $0.text = newValue } }
    }
    /// Text some line must contain.
    public var contains: String? {
        get { details?.fields.contains }
        set { changeDetails { $0.contains = newValue } }
    }
    /// The decision.
    public var outcome: Outcome?
    /// Text the decision's explanation must mention (case-insensitive), e.g. `badmailfrom`,
    /// `RELAYCLIENT`, `tcp.smtp:7`.
    public var reason: String? {
        get { details?.fields.reason }
        set { changeDetails { $0.reason = newValue } }
    }
    /// The envelope sender of the message queued by this step, as stored.
    public var sender: String? {
        get { details?.fields.sender }
        set { changeDetails { $0.sender = newValue } }
    }
    /// The envelope recipients of the message queued by this step, as stored (RELAYCLIENT
    /// suffixes included).
    public var recipients: [String]? {
        get { details?.fields.recipients }
        set { changeDetails { $0.recipients = newValue } }
    }
    /// The `Received:` line qmail-smtpd wrote in front of the message (its two lines joined by
    /// LF, without the final LF).
    public var received: String? {
        get { details?.fields.received }
        set { changeDetails { $0.received = newValue } }
    }
    /// Where the expectation is written.
    public var position: FilePosition
    /// The expectation as written, for reports.
    public var written: String

    /// The fields most expectations leave unset, held by reference (nil when all are): most
    /// expectations are a decision word or a code, and an expectation is copied and kept for
    /// every step of every connection of a file.
    private var details: _ExpectationDetails?

    /// Whether it says something about the queued message.
    public var concernsEnvelope: Bool {
        guard let fields = details?.fields else { return false }
        return fields.sender != nil || fields.recipients != nil || fields.received != nil
    }

    /// Whether it is only a code and/or a decision (no reply text, reason or envelope).
    public var isCodeOrDecisionOnly: Bool { details == nil }

    public init(
        code: Int? = nil, reply: [String]? = nil, text: String? = nil, contains: String? = nil, outcome: Outcome? = nil,
        reason: String? = nil, position: FilePosition, written: String
    ) {
        self.code = code
        self.outcome = outcome
        self.position = position
        self.written = written
        let fields = _ExpectationDetails.Fields(reply: reply, text: text, contains: contains, reason: reason)
        details = fields.isEmpty ? nil : _ExpectationDetails(fields)
    }

    /// Changes the rarely set fields (a new object: expectations are values).
    private mutating func changeDetails(_ change: (inout _ExpectationDetails.Fields) -> Void) {
        var fields = details?.fields ?? _ExpectationDetails.Fields()
        change(&fields)
        details = fields.isEmpty ? nil : _ExpectationDetails(fields)
    }
}

/// A ``ReplyExpectation``'s rarely set fields; equal and hashed by value.
final class _ExpectationDetails: Sendable, Hashable {
    struct Fields: Sendable, Hashable {
        var reply: [String]? = nil
        var text: String? = nil
        var contains: String? = nil
        var reason: String? = nil
        var sender: String? = nil
        var recipients: [String]? = nil
        var received: String? = nil

        var isEmpty: Bool {
            reply == nil && text == nil && contains == nil && reason == nil && sender == nil && recipients == nil
                && received == nil
        }
    }

    let fields: Fields

    init(_ fields: Fields) { self.fields = fields }

    static func == (lhs: _ExpectationDetails, rhs: _ExpectationDetails) -> Bool { lhs.fields == rhs.fields }

    func hash(into hasher: inout Hasher) { hasher.combine(fields) }
}

/// What must hold about a connection as a whole.
public struct ConnectionExpectation: Sendable, Hashable {
    /// tcpserver's decision: true = allow, false = deny (silent close).
    public var allowed: Bool?
    /// The rule key that must match (`""` for the catch-all `:` rule); `.some(nil)` = no rule
    /// (tcpserver's default).
    public var rule: String??
    /// Variables of the environment tcpserver gives its child (nil: must be unset).
    public var environment: [String: String?]
    /// rblsmtpd's decision: accept (passes the client on), refuse (553) or tempfail (451).
    public var blocklist: Decision.Outcome?
    /// The first thing the client receives.
    public var greeting: ReplyExpectation?
    /// The exit status of tcpserver's child when the connection is over (qmail-smtpd: 0 after
    /// QUIT, 1 after EOF, a timeout or a bare LF in DATA; 100 for a deny).
    public var exitStatus: Int?
    /// Where the expectation is written.
    public var position: FilePosition
    /// The expectation as written, for reports.
    public var written: String

    public init(
        allowed: Bool? = nil, rule: String?? = nil, environment: [String: String?] = [:],
        blocklist: Decision.Outcome? = nil, greeting: ReplyExpectation? = nil, exitStatus: Int? = nil,
        position: FilePosition, written: String
    ) {
        self.exitStatus = exitStatus
        self.allowed = allowed
        self.rule = rule
        self.environment = environment
        self.blocklist = blocklist
        self.greeting = greeting
        self.position = position
        self.written = written
    }
}

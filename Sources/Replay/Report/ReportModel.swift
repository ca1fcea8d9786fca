public import RelayEngine
public import Scenarios

// The report model shared by `relaylab check` (scenario files), `relaylab replay` (captures) and
// `relaylab compare` (two configurations): one `ConnectionResult` per client connection, with one
// `StepResult` per exchange (a command and its reply), what was expected of it, and the verdict.
// The writers (human, JSON Lines, JUnit XML, GitHub annotations) only see this model.

/// The verdict on one step or connection.
public enum Verdict: String, Sendable, Hashable, Codable {
    /// Every expectation holds.
    case passed
    /// Some expectation does not hold.
    case failed
    /// Nothing was expected: the actual answer is recorded.
    case recorded
}

/// One end of a connection.
public struct Endpoint: Sendable, Hashable {
    /// IP address.
    public var ip: String
    /// Port.
    public var port: Int
    /// Reverse-DNS name (the client's PTR answer; the server's host name), if any.
    public var name: String?

    public init(ip: String, port: Int, name: String? = nil) {
        self.ip = ip
        self.port = port
        self.name = name
    }

    /// `ip:port`, with IPv6 addresses in brackets.
    public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

/// How tcpserver (and rblsmtpd) handled the connection, and what was expected of it.
public struct ConnectionOutcome: Sendable, Hashable {
    /// `allow` or `deny` (tcpserver).
    public var decision: String
    /// The rule key that matched (`""` is the catch-all `:` rule); nil when no rule matched or
    /// tcpserver has no rules.
    public var rule: String?
    /// Where that rule is (`tcp.smtp:12`).
    public var ruleSource: String?
    /// rblsmtpd's decision (`pass`, `refuse`, `tempfail`, `deny` for its -t limit), nil when rblsmtpd is not in the
    /// chain or the connection was denied.
    public var blocklist: String?
    /// The explanation chain: tcpserver's, then rblsmtpd's, then qmail-smtpd's start.
    public var reasons: [Fact]
    /// What was expected, as written; nil when nothing was.
    public var expected: String?
    /// The verdict on the connection-level expectation.
    public var verdict: Verdict

    public init(
        decision: String, rule: String? = nil, ruleSource: String? = nil, blocklist: String? = nil,
        reasons: [Fact] = [], expected: String? = nil, verdict: Verdict = .recorded
    ) {
        self.decision = decision
        self.rule = rule
        self.ruleSource = ruleSource
        self.blocklist = blocklist
        self.reasons = reasons
        self.expected = expected
        self.verdict = verdict
    }

    /// The explanation chain in words.
    public var reasonTexts: [String] { reasons.map(\.description) }
}

/// One exchange: what the client sent and what came back.
public struct StepResult: Sendable, Hashable {
    /// What kind of exchange.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The connection opened (greeting, or nothing for a deny).
        case greeting
        /// A command line.
        case command
        /// A message after 354.
        case message
        /// A response to an AUTH prompt (credentials: never shown).
        case authResponse = "auth-response"
        /// Idle too long.
        case timeout
        /// Something was expected but nothing happened (the connection was already closed).
        case none
    }

    /// 0 for the greeting, then 1, 2, … in order.
    public var index: Int
    /// Where the step is written (scenario file), if anywhere.
    public var position: FilePosition?
    /// The kind.
    public var kind: Kind
    /// The client's exact bytes (empty for a greeting, timeout, or an AUTH response, which is
    /// withheld).
    public var client: [UInt8]
    /// The client's bytes for display: the line without CRLF (other control bytes escaped),
    /// `<message: N lines, M bytes>`, `<AUTH response>`, `(connect)`, `(idle)`.
    ///
    /// Unless set, it is worked out from ``kind`` and ``client`` when asked for: most steps
    /// are never shown (a passing connection is one line of a report), so the text is not made
    /// for each of them.
    public var clientText: String {
        get { _clientText ?? StepResult.displayText(kind: kind, client: client) }
        set { _clientText = newValue }
    }
    /// The text given, if any (nil: worked out from the kind and the bytes).
    private var _clientText: String?
    /// The exact reply bytes.
    public var replyBytes: [UInt8]
    /// Whether the server closed the connection after this reply.
    public var closed: Bool
    /// Which program answered (`tcpserver`, `rblsmtpd`, `qmail-smtpd`).
    public var stage: String?
    /// The decision taken (`accept`, `refuse`, `tempfail`, `deny`, `relay`), if any.
    public var decision: String?
    /// What the decision was about (`rcpt`, `mail`, `data`, …).
    public var subject: String?
    /// The decision's explanation chain.
    public var reasons: [Fact]
    /// What was expected, as written (a scenario expectation; in a capture, the real reply).
    public var expected: String?
    /// The verdict.
    public var verdict: Verdict
    /// Why the step was not compared, or how it was reached (`relaylab replay`: unobservable,
    /// not replayed, after a divergence); nil for none.
    public var note: String? = nil

    /// - Parameter clientText: the text to show for the client's bytes; nil: worked out from
    ///   `kind` and `client` when asked for (a command's line without CRLF, `<message: N lines,
    ///   M bytes>`, `<AUTH response>`, `(connect)`, `(idle)`; for ``Kind/none``, the empty text).
    public init(
        index: Int, position: FilePosition? = nil, kind: Kind, client: [UInt8] = [], clientText: String? = nil,
        replyBytes: [UInt8] = [], closed: Bool = false, stage: String? = nil, decision: String? = nil,
        subject: String? = nil, reasons: [Fact] = [], expected: String? = nil, verdict: Verdict = .recorded
    ) {
        self.index = index
        self.position = position
        self.kind = kind
        self.client = client
        self._clientText = clientText
        self.replyBytes = replyBytes
        self.closed = closed
        self.stage = stage
        self.decision = decision
        self.subject = subject
        self.reasons = reasons
        self.expected = expected
        self.verdict = verdict
    }

    /// The display text of a step of `kind` that sent `client` (see ``clientText``).
    public static func displayText(kind: Kind, client: [UInt8]) -> String {
        switch kind {
        case .greeting: return "(connect)"
        case .command: return ByteText.display(line: client)
        case .message:
            let lines = client.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            return "<message: \(lines) lines, \(client.count) bytes>"
        case .authResponse: return "<AUTH response>"
        case .timeout: return "(idle)"
        case .none: return ""
        }
    }

    /// The explanation chain in words, each fact with its source (`rcpthosts entry example.net
    /// (control/rcpthosts:1)`).
    public var reasonTexts: [String] { reasons.map(\.description) }

    /// The reply's lines without CRLF (invalid UTF-8 shown as U+FFFD; see ``replyBytes``).
    public var reply: [String] { ByteText.replyLines(replyBytes) }

    /// Equal when every field is, ``clientText`` by its value (whether it was given or is worked
    /// out from the bytes).
    public static func == (lhs: StepResult, rhs: StepResult) -> Bool {
        lhs.index == rhs.index && lhs.position == rhs.position && lhs.kind == rhs.kind && lhs.client == rhs.client
            && lhs.replyBytes == rhs.replyBytes && lhs.closed == rhs.closed && lhs.stage == rhs.stage
            && lhs.decision == rhs.decision && lhs.subject == rhs.subject && lhs.reasons == rhs.reasons
            && lhs.expected == rhs.expected && lhs.verdict == rhs.verdict && lhs.note == rhs.note
            && lhs.clientText == rhs.clientText
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
        hasher.combine(kind)
        hasher.combine(client)
        hasher.combine(clientText)
        hasher.combine(replyBytes)
        hasher.combine(decision)
        hasher.combine(verdict)
    }
}

/// One expectation that does not hold.
public struct Difference: Sendable, Hashable {
    /// Where the expectation is written (or the step, or the connection).
    public var position: FilePosition?
    /// The step it concerns (index into ``ConnectionResult/steps``); nil for the connection.
    public var step: Int?
    /// What it concerns, e.g. `RCPT TO:<friend@elsewhere.example>` or `connection`.
    public var subject: String
    /// What was expected.
    public var expected: String
    /// What happened (reply lines separated by LF, then the decision in brackets).
    public var actual: String
    /// Why it happened: the engine's chain of facts (rule, control file lines, …).
    public var explanation: [String]

    public init(
        position: FilePosition?, step: Int?, subject: String, expected: String, actual: String, explanation: [String]
    ) {
        self.position = position
        self.step = step
        self.subject = subject
        self.expected = expected
        self.actual = actual
        self.explanation = explanation
    }
}

/// Everything about one client connection.
public struct ConnectionResult: Sendable, Hashable {
    /// The group it belongs to: the scenario file, or the capture.
    public var suite: String
    /// Its name.
    public var name: String
    /// Where it is defined (scenario file and line), if anywhere.
    public var position: FilePosition?
    /// The client.
    public var client: Endpoint
    /// The server address it reached.
    public var server: Endpoint
    /// The listener that took it (configuration files with several listeners).
    public var listener: String?
    /// How tcpserver and rblsmtpd handled it.
    public var connection: ConnectionOutcome
    /// Every exchange, in order (the greeting first). Empty for a passing connection run with
    /// ``ScenarioRunner/Detail/failuresOnly`` (``stepCount`` still counts them).
    public var steps: [StepResult] {
        didSet { stepCount = steps.count }
    }
    /// How many exchanges there were (``steps``' count, also when they were left out).
    public var stepCount: Int
    /// The expectations that do not hold.
    public var differences: [Difference]
    /// Configuration warnings that applied (open relay, unreadable control file, …).
    public var warnings: [String]
    /// The cdb lookups the connection's session made, when known.
    public var lookups: SessionLookups? = nil

    public init(
        suite: String, name: String, position: FilePosition? = nil, client: Endpoint, server: Endpoint,
        listener: String? = nil, connection: ConnectionOutcome, steps: [StepResult], stepCount: Int? = nil,
        differences: [Difference], warnings: [String] = [], lookups: SessionLookups? = nil
    ) {
        self.stepCount = stepCount ?? steps.count
        self.lookups = lookups
        self.suite = suite
        self.name = name
        self.position = position
        self.client = client
        self.server = server
        self.listener = listener
        self.connection = connection
        self.steps = steps
        self.differences = differences
        self.warnings = warnings
    }

    /// Passed when no expectation failed.
    public var verdict: Verdict { differences.isEmpty ? .passed : .failed }
    /// Whether every expectation holds.
    public var passed: Bool { differences.isEmpty }
}

/// A file that could not be checked (or a warning about one): a configuration or input error.
public struct ReportProblem: Sendable, Hashable {
    /// The file.
    public var file: String
    /// Where in it, if known.
    public var position: FilePosition?
    /// One line.
    public var message: String
    /// The full text (the message with the source line and a caret).
    public var detail: String
    /// A warning (the check still ran) rather than an error.
    public var isWarning: Bool
    /// Connections not run because of this problem (a file whose configuration has an error is
    /// not run: its connections are counted as skipped, with this problem as the reason).
    public var skippedConnections: Int

    public init(
        file: String, position: FilePosition? = nil, message: String, detail: String? = nil, isWarning: Bool = false,
        skippedConnections: Int = 0
    ) {
        self.file = file
        self.position = position
        self.message = message
        self.detail = detail ?? message
        self.isWarning = isWarning
        self.skippedConnections = skippedConnections
    }

    /// Why the connections were skipped, for the summary.
    public var skipReason: String { "\(file): not run: \(message)" }

    /// A problem from a scenario error.
    public init(_ error: ScenarioError, isWarning: Bool = false) {
        self.init(file: error.file, position: error.position, message: error.message, detail: error.description, isWarning: isWarning)
    }
}

/// The counts at the end of a run. JSON field names are a contract:
/// `{"type":"summary","connections":N,"passed":N,"failed":N,"steps":N}`.
public struct ReportSummary: Sendable, Hashable {
    /// Connections seen: `compared + unobservable + skipped`.
    public var connections = 0
    /// Connections whose expectations all hold.
    public var passed = 0
    /// Connections with a difference.
    public var failed = 0
    /// Exchanges checked (greetings included).
    public var steps = 0
    /// Input and configuration errors (files that could not be checked).
    public var errors = 0
    /// The cdb lookups of every connection, when collected (set it to collect them); the JSON
    /// Lines summary record then ends with `"lookups":{…}`.
    public var lookups: LookupStatistics? = nil
    /// Connections seen but not checked (their file's configuration has an error), by reason.
    public var skipped = 0
    public var skippedReasons: [String: Int] = [:]
    /// Connections run but with nothing to compare (`relaylab compare` only).
    public var unobservable = 0

    public init() {}

    /// Connections checked: `passed + failed`.
    public var compared: Int { passed + failed }

    /// Counts one result.
    public mutating func add(_ result: ConnectionResult) {
        connections += 1
        if lookups != nil, let sessionLookups = result.lookups { lookups!.add(sessionLookups) }
        steps += result.stepCount
        if result.passed { passed += 1 } else { failed += 1 }
    }

    /// Counts `count` connections not run, and why.
    public mutating func addSkipped(_ count: Int, reason: String) {
        guard count > 0 else { return }
        connections += count
        skipped += count
        skippedReasons[reason, default: 0] += count
    }

    /// `N connections seen = C compared + U unobservable + S skipped` (the accounting every
    /// summary starts with).
    public var accounting: String {
        "\(connections) connection\(connections == 1 ? "" : "s") seen = \(compared) compared + \(unobservable) unobservable + \(skipped) skipped"
    }

    /// The skip reasons, most frequent first.
    public var sortedSkipReasons: [(reason: String, count: Int)] {
        skippedReasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { ($0.key, $0.value) }
    }

    /// The exit status: 2 when there were errors, 1 when a connection failed, else 0.
    public var exitStatus: Int32 {
        if errors > 0 { return 2 }
        return failed > 0 ? 1 : 0
    }
}

public import RelayEngine
public import Scenarios

// What `relaylab compare` finds: the same client traffic (captured connections, or scenario
// connections) simulated against two configurations — the baseline and the candidate — side by
// side, and every decision that differs, with the explanation chain of both sides.

/// Which configuration.
public enum CompareSideName: String, Sendable, Hashable, CaseIterable, Codable {
    case baseline
    case candidate

    /// The other side.
    public var other: CompareSideName { self == .baseline ? .candidate : .baseline }
}

/// The kind of change, from the baseline's decision to the candidate's.
public enum CompareChange: String, Sendable, Hashable, CaseIterable, Comparable {
    /// tcpserver would drop a connection the baseline lets in (or no listener takes it).
    case connectionDenied = "deny-connection"
    /// tcpserver would let in a connection the baseline drops.
    case connectionAllowed = "allow-connection"
    /// rblsmtpd's decision changes (passes the client on, refuses it with 553, or with 451).
    case blocklist = "blocklist"
    /// A recipient would be refused (5xx).
    case recipientRefused = "refuse-recipient"
    /// A recipient would be refused temporarily (4xx).
    case recipientDeferred = "tempfail-recipient"
    /// A recipient in a domain the candidate does not host would be accepted (relayed).
    case recipientRelayed = "relay-recipient"
    /// A recipient would be accepted for a hosted domain (or without a domain).
    case recipientAccepted = "accept-recipient"
    /// A message would be refused after DATA (databytes, hops, …).
    case messageRefused = "refuse-message"
    /// A message the baseline refuses would be accepted.
    case messageAccepted = "accept-message"
    /// Any other reply differs (greeting, MAIL, DATA, AUTH, …), or the same decision is given
    /// with another reply.
    case reply

    public static func < (lhs: CompareChange, rhs: CompareChange) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Whether the change is about a recipient decision.
    public var isRecipient: Bool {
        switch self {
        case .recipientRefused, .recipientDeferred, .recipientRelayed, .recipientAccepted: true
        default: false
        }
    }

    /// `would refuse`, `would relay`, … for reports.
    public var verb: String {
        switch self {
        case .connectionDenied: "deny"
        case .connectionAllowed: "allow"
        case .blocklist: "change rblsmtpd's answer to"
        case .recipientRefused: "refuse"
        case .recipientDeferred: "defer (4xx)"
        case .recipientRelayed: "relay"
        case .recipientAccepted: "accept"
        case .messageRefused: "refuse"
        case .messageAccepted: "accept"
        case .reply: "change"
        }
    }
}

/// One side's answer at a point where the two differ.
public struct CompareAnswer: Sendable, Hashable {
    /// The reply lines joined with LF, or a description in parentheses (a silent deny, a step
    /// the client did not send).
    public var reply: String
    /// The decision, if any.
    public var outcome: Decision.Outcome?
    /// The engine's chain of facts behind it (AUTH user names withheld).
    public var explanation: [Fact]

    public init(reply: String, outcome: Decision.Outcome?, explanation: [Fact]) {
        self.reply = reply
        self.outcome = outcome
        self.explanation = explanation
    }

    /// The first reply line.
    public var firstLine: String { String(reply.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }

    /// `553 sorry, … (refuse)`.
    public var summary: String { firstLine + (outcome.map { "  (\($0.rawValue))" } ?? "") }
}

/// A fact found on one side only: the rule line or control entry that makes the difference.
public struct CompareCause: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var side: CompareSideName
    public var fact: Fact

    public init(side: CompareSideName, fact: Fact) {
        self.side = side
        self.fact = fact
    }

    /// The fact in words, without what varies from one message or recipient to the next (the
    /// domain looked up, the message's size), with its source: the group key of causes.
    public var label: String {
        var text: String
        switch fact.kind {
        case .notInRcpthosts: text = "the domain is not in rcpthosts or morercpthosts.cdb"
        case .rcpthostsEntry(let entry): text = "rcpthosts entry \(entry)"
        case .messageTooLarge(_, let limit): text = "databytes is \(limit)"
        case .declaredSizeTooLarge(_, let limit): text = "SIZE= is above databytes \(limit)"
        case .tooManyHops: text = "too many Received:/Delivered-To: lines"
        default: text = fact.text
        }
        if let source = fact.source { text += " (\(source))" }
        return text
    }

    /// `baseline: rule sets RELAYCLIENT="" (tcp.smtp:11)`.
    public var description: String { "\(side.rawValue): \(label)" }

    public static func < (lhs: CompareCause, rhs: CompareCause) -> Bool {
        (lhs.side.rawValue, lhs.label) < (rhs.side.rawValue, rhs.label)
    }
}

/// A decision or reply that differs between the two configurations.
public struct CompareDifference: Sendable, Hashable {
    /// The client step (1-based); nil for the connection itself (tcpserver, rblsmtpd, greeting).
    public var step: Int?
    /// The same step's index in the candidate's session (``ComparedConnection/candidateResult``):
    /// it differs from ``step`` when the two sessions of a scenario took different paths.
    public var candidateStep: Int?
    /// What it is about: `RCPT TO:<a@b.example>`, `connection`, `rblsmtpd`, `greeting`,
    /// `<message: 10 lines, 266 bytes>`.
    public var subject: String
    /// The kind of change.
    public var change: CompareChange
    /// The recipient's domain (lower-cased) for recipient changes.
    public var domain: String?
    public var baseline: CompareAnswer
    public var candidate: CompareAnswer
    /// The facts (with their rule line or control entry) found on one side only.
    public var causes: [CompareCause]

    public init(
        step: Int?, candidateStep: Int? = nil, subject: String, change: CompareChange, domain: String? = nil,
        baseline: CompareAnswer, candidate: CompareAnswer, causes: [CompareCause]
    ) {
        self.step = step
        self.candidateStep = candidateStep ?? step
        self.subject = subject
        self.change = change
        self.domain = domain
        self.baseline = baseline
        self.candidate = candidate
        self.causes = causes
    }

    /// The answer of one side.
    public func answer(_ side: CompareSideName) -> CompareAnswer { side == .baseline ? baseline : candidate }

    /// The group key of the causes: every cause on its own line, or a note when no single
    /// entry is responsible.
    public var causeKey: String {
        causes.isEmpty ? "(no rule line or control entry differs: options or environment)" : causes.map(\.description).joined(separator: "\n")
    }
}

/// One client connection simulated against both configurations.
public struct ComparedConnection: Sendable {
    /// The group in reports: the capture or scenario file.
    public var suite: String
    /// `#3 10.1.2.15:40004 → 192.0.2.25:25`, or the scenario connection's name.
    public var name: String
    /// Where the scenario connection is written.
    public var position: FilePosition?
    /// `file#packet` for a captured connection.
    public var source: String?
    public var client: Endpoint
    public var server: Endpoint
    /// The listener each side used (configuration files with several listeners).
    public var baselineListener: String?
    public var candidateListener: String?
    /// Client steps both sides were sent.
    public var stepsCompared: Int
    /// RCPT commands both sides were sent.
    public var rcptCompared: Int = 0
    /// Every difference, in order (the connection first).
    public var differences: [CompareDifference]
    /// Where the two sessions took different paths (a message one side refused was not sent to
    /// it, one side closed the connection), in words.
    public var notes: [String]
    /// Why the connection was not compared (both sides skipped it: no listener, the capture
    /// started mid-connection), nil when compared.
    public var skipped: String?
    /// Each side's session in the shared report model (transcripts for JSON and JUnit); nil
    /// when the side did not run it.
    public var baselineResult: ConnectionResult?
    public var candidateResult: ConnectionResult?

    public init(
        suite: String, name: String, position: FilePosition? = nil, source: String? = nil, client: Endpoint, server: Endpoint,
        baselineListener: String? = nil, candidateListener: String? = nil, stepsCompared: Int = 0,
        differences: [CompareDifference] = [], notes: [String] = [], skipped: String? = nil,
        baselineResult: ConnectionResult? = nil, candidateResult: ConnectionResult? = nil
    ) {
        self.suite = suite
        self.name = name
        self.position = position
        self.source = source
        self.client = client
        self.server = server
        self.baselineListener = baselineListener
        self.candidateListener = candidateListener
        self.stepsCompared = stepsCompared
        self.differences = differences
        self.notes = notes
        self.skipped = skipped
        self.baselineResult = baselineResult
        self.candidateResult = candidateResult
    }

    /// Whether anything differs.
    public var hasDifferences: Bool { !differences.isEmpty }
}

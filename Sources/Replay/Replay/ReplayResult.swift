public import Capture
public import RelayEngine

// What replaying one captured connection through the simulated chain found.
//
// Counting rules (they make the summary add up):
// - every captured connection is exactly one of compared, unobservable or skipped;
// - every client step (command, message, AUTH response, BDAT chunk) of a replayed connection is
//   exactly one of compared (matched or differs), unobservable (the capture cannot tell) or not
//   replayed (the simulated server took another path, so a real client would not have sent it).
// Unobservable steps are never counted as matches or mismatches.

/// How a captured connection was used.
public enum ReplayDisposition: Sendable, Hashable {
    /// Replayed, and at least one reply or the connection decision was compared.
    case compared
    /// Replayed, but nothing could be compared (the capture shows no reply at all).
    case unobservable(reason: String)
    /// Not replayed (no listener for its server address, capture started mid-connection, …).
    case skipped(reason: String)

    /// `compared`, `unobservable` or `skipped`.
    public var word: String {
        switch self {
        case .compared: "compared"
        case .unobservable: "unobservable"
        case .skipped: "skipped"
        }
    }

    /// The reason, for unobservable and skipped connections.
    public var reason: String? {
        switch self {
        case .compared: nil
        case .unobservable(let reason), .skipped(let reason): reason
        }
    }
}

/// What happened to one client step of a captured connection.
public enum ReplayStepStatus: Sendable, Hashable {
    /// The simulation answered as the recorded server did (after normalisation).
    case matched
    /// The simulation answered differently.
    case differs
    /// The capture cannot tell what the server answered (or what the client sent): never
    /// counted as a match or a mismatch.
    case unobservable(reason: String)
    /// Not fed to the simulation: after a divergence a real client would not have sent it.
    case notReplayed(reason: String)

    /// Whether the step was compared (matched or differs).
    public var isCompared: Bool {
        switch self {
        case .matched, .differs: true
        default: false
        }
    }

    /// `matched`, `differs`, `unobservable`, `not-replayed`.
    public var word: String {
        switch self {
        case .matched: "matched"
        case .differs: "differs"
        case .unobservable: "unobservable"
        case .notReplayed: "not-replayed"
        }
    }
}

/// The kind of change a difference stands for, as the summary counts them.
public enum ReplayChange: String, Sendable, Hashable, CaseIterable, Comparable {
    /// tcpserver would now drop a connection the recorded server accepted.
    case connectionDenied = "deny-connection"
    /// tcpserver would now accept a connection the recorded server dropped.
    case connectionAccepted = "accept-connection"
    /// A recipient the recorded server accepted (or deferred) would now be refused (5xx).
    case recipientRefused = "refuse-recipient"
    /// A recipient would now be refused temporarily (4xx).
    case recipientDeferred = "tempfail-recipient"
    /// A recipient for a domain this configuration does not host would now be accepted (relayed).
    case recipientRelayed = "relay-recipient"
    /// A recipient for a hosted domain the recorded server refused would now be accepted.
    case recipientAccepted = "accept-recipient"
    /// A message the recorded server accepted would now be refused (databytes, hops, …).
    case messageRefused = "refuse-message"
    /// A message the recorded server refused would now be accepted.
    case messageAccepted = "accept-message"
    /// Any other reply differs (greeting, HELO, MAIL, DATA, …).
    case reply

    public static func < (lhs: ReplayChange, rhs: ReplayChange) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Whether the change is about a recipient decision.
    public var isRecipient: Bool {
        switch self {
        case .recipientRefused, .recipientDeferred, .recipientRelayed, .recipientAccepted: true
        default: false
        }
    }
}

/// One step as replayed (kept only for connections with a difference or a divergence).
public struct ReplayedStep: Sendable {
    /// 1-based position among the connection's client steps.
    public var number: Int
    /// What the client sent.
    public var kind: DialogueStep.Kind
    /// The upper-cased verb of a command, nil otherwise.
    public var verb: String?
    /// Printable form of what the client sent, credentials redacted, messages summarised.
    public var line: String
    /// The client's exact bytes, or nil when they hold credentials (never shown).
    public var clientBytes: [UInt8]?
    /// The recorded reply, or nil when the capture shows none.
    public var recorded: [UInt8]?
    /// The simulated reply (empty: no reply), or nil when the step was not fed.
    public var simulated: [UInt8]?
    /// Whether the simulated server closed the connection after this step.
    public var simulatedClosed: Bool
    /// The simulated decision, if the step decided something.
    public var decision: Decision?
    /// Which program of the simulated chain answered.
    public var stage: Stage?
    /// What happened.
    public var status: ReplayStepStatus
    /// Whether the step comes after a divergence in this connection (its comparison follows
    /// the path a real client would have taken, not the recorded one).
    public var afterDivergence: Bool

    public init(
        number: Int, kind: DialogueStep.Kind, verb: String?, line: String, clientBytes: [UInt8]?,
        recorded: [UInt8]?, simulated: [UInt8]?, simulatedClosed: Bool, decision: Decision?, stage: Stage? = nil,
        status: ReplayStepStatus, afterDivergence: Bool
    ) {
        self.number = number
        self.kind = kind
        self.verb = verb
        self.line = line
        self.clientBytes = clientBytes
        self.recorded = recorded
        self.simulated = simulated
        self.simulatedClosed = simulatedClosed
        self.decision = decision
        self.stage = stage
        self.status = status
        self.afterDivergence = afterDivergence
    }
}

/// A reply or decision that differs between the capture and the simulation.
public struct ReplayDifference: Sendable, Hashable {
    /// The step (``ReplayedStep/number``), or nil for the connection itself (greeting, deny).
    public var step: Int?
    /// What it is about: `RCPT TO:<a@b.example>`, `greeting`, `connection`.
    public var subject: String
    /// The kind of change.
    public var change: ReplayChange
    /// The recipient's domain (lower-cased) for recipient changes.
    public var domain: String?
    /// The recorded reply lines (or `(connection closed without a byte)`).
    public var recorded: String
    /// The recorded outcome, read from the reply code.
    public var recordedOutcome: Decision.Outcome?
    /// The simulated reply lines (or `(no reply: connection closed)`).
    public var simulated: String
    /// The simulated decision's outcome.
    public var simulatedOutcome: Decision.Outcome?
    /// The engine's chain of facts behind the simulated answer.
    public var explanation: [String]
    /// Whether it comes after a divergence in the same connection.
    public var afterDivergence: Bool

    public init(
        step: Int?, subject: String, change: ReplayChange, domain: String? = nil, recorded: String,
        recordedOutcome: Decision.Outcome?, simulated: String, simulatedOutcome: Decision.Outcome?,
        explanation: [String], afterDivergence: Bool = false
    ) {
        self.step = step
        self.subject = subject
        self.change = change
        self.domain = domain
        self.recorded = recorded
        self.recordedOutcome = recordedOutcome
        self.simulated = simulated
        self.simulatedOutcome = simulatedOutcome
        self.explanation = explanation
        self.afterDivergence = afterDivergence
    }
}

/// A point where the simulation took another path than the recorded server, so that the
/// replay followed what a real client would have seen.
public struct ReplayDivergence: Sendable, Hashable {
    /// The step where it happened (nil: at connect).
    public var step: Int?
    /// Why, in words, and what the replay did about it.
    public var reason: String

    public init(step: Int?, reason: String) {
        self.step = step
        self.reason = reason
    }
}

/// Per-connection counts (added up into ``ReplaySummary``).
public struct ReplayCounts: Sendable, Hashable {
    /// Client steps of the replayed connection (0 for a skipped one).
    public var steps = 0
    /// Steps compared (``matched`` + differing).
    public var compared = 0
    public var matched = 0
    /// Steps whose reply differs.
    public var differingSteps = 0
    /// Steps the capture cannot tell about.
    public var unobservable = 0
    /// Steps not fed after a divergence.
    public var notReplayed = 0
    /// Divergence points.
    public var diverged = 0
    /// RCPT commands compared, and those whose decision (accept/refuse/tempfail) changed.
    public var rcptCompared = 0
    public var rcptChanged = 0
    /// Connection-level decisions (greeting or silent deny) compared, and those that differ.
    public var connectionCompared = 0
    public var connectionDiffers = 0

    public init() {}

    /// Differences: differing steps plus a differing connection decision.
    public var differences: Int { differingSteps + connectionDiffers }

    public static func += (lhs: inout ReplayCounts, rhs: ReplayCounts) {
        lhs.steps += rhs.steps
        lhs.compared += rhs.compared
        lhs.matched += rhs.matched
        lhs.differingSteps += rhs.differingSteps
        lhs.unobservable += rhs.unobservable
        lhs.notReplayed += rhs.notReplayed
        lhs.diverged += rhs.diverged
        lhs.rcptCompared += rhs.rcptCompared
        lhs.rcptChanged += rhs.rcptChanged
        lhs.connectionCompared += rhs.connectionCompared
        lhs.connectionDiffers += rhs.connectionDiffers
    }
}

/// Everything about one replayed captured connection.
public struct ReplayedConnection: Sendable {
    /// The connection's position in the capture (``Dialogue/index``).
    public var index: Int
    public var client: Capture.Endpoint
    public var server: Capture.Endpoint
    /// The PTR name used for the client (from `--ptr` or the capture's DNS answers), if any.
    public var clientName: String?
    /// The capture file holding its first packet.
    public var sourceFile: String
    /// The number of that packet in the file (1-based).
    public var sourcePacket: Int
    /// The capture time of its first packet.
    public var startTime: Double
    /// The listener that took it (configuration files with several listeners).
    public var listener: String?
    /// Compared, unobservable or skipped.
    public var disposition: ReplayDisposition
    /// The counts.
    public var counts: ReplayCounts
    /// Every difference, in order (the connection decision first).
    public var differences: [ReplayDifference]
    /// Every divergence point, in order.
    public var divergences: [ReplayDivergence]
    /// The recorded greeting (nil: none, e.g. a silent deny). Like the simulated greeting, the
    /// connection decision and the steps, it is kept only for connections with a difference or
    /// a divergence, or when ``ReplayOptions/keepAllSteps`` asks for every detail.
    public var recordedGreeting: [UInt8]?
    /// The simulated greeting (empty for a simulated deny), nil when not replayed.
    public var simulatedGreeting: [UInt8]?
    /// The simulated connection decision (tcpserver, rblsmtpd), nil when not replayed.
    public var connectionDecision: ConnectionDecision?
    /// The steps in detail.
    public var steps: [ReplayedStep]
    /// Capture problems of the dialogue (gaps, encryption, …), in words.
    public var problems: [String]
    /// The cdb lookups its sessions made (nil when not replayed).
    public var lookups: SessionLookups?
    /// The session started from tcpserver's decision for an earlier connection of the same
    /// client (made by the same replaying thread), so it made no rules lookups of its own.
    public var reusedTCPServerDecision = false
    /// Every decision the simulated chain made, by kind and outcome, when
    /// ``ReplayOptions/countDecisions`` asks for them.
    public var decisions: DecisionCounts?

    /// `file#packet` where the connection starts.
    public var source: String { "\(sourceFile)#\(sourcePacket)" }

    /// Whether anything differs.
    public var hasDifferences: Bool { !differences.isEmpty }
    /// Whether the report should show this connection (a difference or a divergence).
    public var isNotable: Bool { !differences.isEmpty || !divergences.isEmpty }
}

extension ReplayedConnection {
    /// Delegates to the memberwise initializer (one assigning the fields one by one made the
    /// compiler copy and destroy the whole connection at each construction).
    public init(
        index: Int, client: Capture.Endpoint, server: Capture.Endpoint, clientName: String?,
        sourceFile: String, sourcePacket: Int, startTime: Double, listener: String?, disposition: ReplayDisposition,
        counts: ReplayCounts = ReplayCounts(), differences: [ReplayDifference] = [],
        divergences: [ReplayDivergence] = [], recordedGreeting: [UInt8]? = nil, simulatedGreeting: [UInt8]? = nil,
        connectionDecision: ConnectionDecision? = nil, steps: [ReplayedStep] = [], problems: [String] = []
    ) {
        self.init(
            index: index, client: client, server: server, clientName: clientName, sourceFile: sourceFile,
            sourcePacket: sourcePacket, startTime: startTime, listener: listener, disposition: disposition, counts: counts,
            differences: differences, divergences: divergences, recordedGreeting: recordedGreeting,
            simulatedGreeting: simulatedGreeting, connectionDecision: connectionDecision, steps: steps, problems: problems,
            lookups: nil, reusedTCPServerDecision: false, decisions: nil)
    }
}

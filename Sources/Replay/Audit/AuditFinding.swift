public import RelayEngine

/// One thing `relaylab audit` found in a configuration: what is wrong, where, what it does to
/// mail, how to fix it and, for an open relay, a proof produced by running the engine.
public struct AuditFinding: Sendable, Hashable {
    /// How much it matters. `relaylab audit` exits with 1 when a finding is a warning or an error.
    public enum Severity: String, Sendable, Hashable, Comparable, CaseIterable, Codable {
        /// Mail is relayed for anyone, refused, or handled by rules other than the ones written.
        case error
        /// An entry or rule that does not do what it says.
        case warning
        /// Untidy, redundant, or worth knowing; harmless today.
        case info

        private var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .info: 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// A stable identifier such as `open-relay-rcpthosts-missing` or the rules linter's
    /// `relay-any-client` (see ``Auditor/codes``).
    public var code: String
    public var severity: Severity
    /// The file the finding is about (as the configuration names it).
    public var file: String
    /// The 1-based line, when the finding is about one line.
    public var line: Int?
    /// For a rules cdb without source: the 1-based record.
    public var record: Int?
    /// What is wrong, in one line.
    public var message: String
    /// What it does to mail.
    public var consequence: String
    /// How to fix it.
    public var fix: String
    /// For an open relay: a client and a recipient the engine relays for, with the session.
    public var proof: RelayProof?
    /// For an open relay without proof: why the engine found no client that can relay.
    public var proofNote: String?
    /// The listeners it applies to (configuration files with several listeners; empty otherwise).
    public var listeners: [String]

    public init(
        code: String, severity: Severity, file: String, line: Int? = nil, record: Int? = nil, message: String,
        consequence: String, fix: String, proof: RelayProof? = nil, proofNote: String? = nil, listeners: [String] = []
    ) {
        self.code = code
        self.severity = severity
        self.file = file
        self.line = line
        self.record = record
        self.message = message
        self.consequence = consequence
        self.fix = fix
        self.proof = proof
        self.proofNote = proofNote
        self.listeners = listeners
    }

    /// `file:line`, `file: record N`, or `file`.
    public var location: String {
        if let line { return "\(file):\(line)" }
        if let record { return "\(file): record \(record)" }
        return file
    }

    /// Whether it makes `relaylab audit` exit with 1.
    public var fails: Bool { severity <= .warning }
}

/// A concrete demonstration, produced by running the engine, that a configuration relays: a
/// client tcpserver lets in and a recipient in a domain the server does not host, which
/// qmail-smtpd accepts.
public struct RelayProof: Sendable, Hashable {
    /// One exchange of the demonstration session.
    public struct Line: Sendable, Hashable {
        /// What the client sent (without CRLF); nil for the connection's opening.
        public var client: String?
        /// The reply lines (empty: no reply).
        public var reply: [String]

        public init(client: String?, reply: [String]) {
            self.client = client
            self.reply = reply
        }
    }

    /// The client's address.
    public var clientIP: String
    /// The client's reverse-DNS (PTR) name, when the proof needs one.
    public var clientName: String?
    /// The ident user name, when the proof needs one (info@ rules).
    public var identInfo: String?
    /// The address and port the client connects to.
    public var serverIP: String
    public var serverPort: Int
    /// The envelope sender used.
    public var sender: String
    /// The recipient the engine relays for.
    public var recipient: String
    /// The session, exchange by exchange.
    public var transcript: [Line]
    /// The RCPT decision (outcome `relay`) with its explanation.
    public var decision: Decision
    /// How tcpserver (and rblsmtpd) handled the connection.
    public var connectionReasons: [Fact]

    public init(
        clientIP: String, clientName: String?, identInfo: String?, serverIP: String, serverPort: Int, sender: String,
        recipient: String, transcript: [Line], decision: Decision, connectionReasons: [Fact]
    ) {
        self.clientIP = clientIP
        self.clientName = clientName
        self.identInfo = identInfo
        self.serverIP = serverIP
        self.serverPort = serverPort
        self.sender = sender
        self.recipient = recipient
        self.transcript = transcript
        self.decision = decision
        self.connectionReasons = connectionReasons
    }

    /// `198.51.100.77 (PTR mail.example.org)`.
    public var clientDescription: String {
        var text = clientIP
        var details: [String] = []
        if let clientName { details.append("PTR \(clientName)") } else { details.append("no PTR") }
        if let identInfo { details.append("ident \(identInfo)") }
        text += " (" + details.joined(separator: ", ") + ")"
        return text
    }
}

/// Everything `relaylab audit` found.
public struct AuditReport: Sendable {
    /// What was audited, for the heading: the control directory and rules file, or the
    /// configuration file.
    public var subject: String
    /// The findings, most severe first, then by file and line.
    public var findings: [AuditFinding]

    public init(subject: String, findings: [AuditFinding]) {
        self.subject = subject
        self.findings = findings.sorted(by: AuditReport.order)
    }

    /// The number of findings of each severity.
    public func count(_ severity: AuditFinding.Severity) -> Int {
        findings.count { $0.severity == severity }
    }

    /// 1 when a finding is a warning or an error, else 0.
    public var exitStatus: Int32 { findings.contains(where: \.fails) ? 1 : 0 }

    static func order(_ lhs: AuditFinding, _ rhs: AuditFinding) -> Bool {
        if lhs.severity != rhs.severity { return lhs.severity < rhs.severity }
        if lhs.file != rhs.file { return lhs.file < rhs.file }
        if (lhs.line ?? lhs.record ?? 0) != (rhs.line ?? rhs.record ?? 0) {
            return (lhs.line ?? lhs.record ?? 0) < (rhs.line ?? rhs.record ?? 0)
        }
        return lhs.code < rhs.code
    }
}

/// Which program of the chain answered.
public enum Stage: String, Sendable, Hashable, Codable, CaseIterable {
    case tcpserver
    case rblsmtpd
    case qmailSMTPD = "qmail-smtpd"
}

/// One step of a session: what the client sent (or the connection event) and the exact bytes
/// the chain answered, with the decision taken, in order.
public struct Exchange: Sendable, Hashable {
    /// What kind of step.
    public enum Kind: Sendable, Hashable {
        /// The connection opened: the greeting (or nothing, for a tcpserver deny).
        case greeting
        /// A command line; `verb` is the verb as sent, upper-cased (`""` for an empty line; only
        /// its kept part for a line longer than ``RelayLimits/maxLineLength``).
        case command(verb: String)
        /// The message after `354`, up to and including the final `.` line.
        case messageBody
        /// A line answering an AUTH prompt (334). Holds credentials: never print it.
        case authResponse
        /// Idle longer than the read timeout (qmail-smtpd: 451) or rblsmtpd's `-t` limit.
        case timeout
    }

    // Stored in this order so that the memberwise initializer differs from the public one,
    // which delegates to it (see the extension below).

    /// Which program answered.
    public var stage: Stage
    /// What kind of step.
    public var kind: Kind
    /// The client's bytes for this step, line ending included (empty for greeting/timeout), as
    /// part of the bytes the session was given: a step does not copy its bytes out of them (and
    /// keeps them alive). A message's bytes are the exception: at most
    /// ``RelayLimits/maxMessageBytes`` of them, copied.
    public var clientSlice: ArraySlice<UInt8>
    /// The exact reply bytes (CRLF line ends); empty when the program sent nothing.
    public var reply: [UInt8]
    /// The decision taken at this step, when it decided something.
    public var decision: Decision?
    /// Whether the program closed the connection right after this reply.
    public var closedAfter: Bool
    /// Seconds the program paused before replying (AUTH failure: 5). Never slept; recorded.
    public var delay: Double
    /// Set when the client sent more than ``RelayLimits`` keeps: ``clientBytes`` then holds the
    /// kept part (and the line end).
    public var truncation: Truncation?

    /// The client's bytes for this step, line ending included (empty for greeting/timeout). An
    /// array sharing ``clientSlice``'s storage when the slice is all of it, else a copy.
    public var clientBytes: [UInt8] {
        get { Array(clientSlice) }
        set { clientSlice = newValue[...] }
    }

    /// The reply split into lines, without CRLF (bytes decoded as UTF-8, invalid ones replaced).
    public var replyLines: [String] {
        Exchange.lines(reply)
    }

    /// Splits reply bytes at CRLF (a final line without CRLF is kept).
    public static func lines(_ bytes: [UInt8]) -> [String] {
        var result: [String] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 13, index + 1 < bytes.count, bytes[index + 1] == 10 {
                result.append(String(decoding: bytes[start..<index], as: UTF8.self))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        if start < bytes.count { result.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return result
    }
}

/// A message qmail-smtpd handed to qmail-queue (and qmail-queue accepted).
public struct QueuedMessage: Sendable, Hashable {
    /// The envelope sender as stored (`F` line), possibly empty.
    public var sender: [UInt8]
    /// The envelope recipients as stored (`T` lines), RELAYCLIENT suffixes applied.
    public var recipients: [[UInt8]]
    /// The `Received:` line qmail-smtpd wrote in front of the message (two lines, LF ends).
    /// A simulated message keeps what the line is made of and builds it when it is read.
    public var receivedLine: [UInt8] {
        get {
            switch received {
            case .bytes(let bytes): bytes
            case .parts(let parts): parts.line
            }
        }
        set { received = .bytes(newValue) }
    }
    /// The message as received (after unstuffing and CRLF→LF), without the Received line; at
    /// most ``RelayLimits/maxMessageBytes`` of it (see ``bodyBytes``).
    public var body: [UInt8]
    /// The message's length: more than `body.count` when the body was longer than the limit.
    public var bodyBytes: Int
    /// qmail-queue's pid (the `qp` in the reply).
    public var qp: Int
    /// The unix time in the `250 ok` reply.
    public var acceptedAt: Int64

    private enum Received: Sendable {
        case bytes([UInt8])
        case parts(ReceivedLineParts)
    }

    private var received: Received

    public init(
        sender: [UInt8], recipients: [[UInt8]], receivedLine: [UInt8], body: [UInt8], bodyBytes: Int? = nil, qp: Int,
        acceptedAt: Int64
    ) {
        self.init(
            sender: sender, recipients: recipients, received: .bytes(receivedLine), body: body, bodyBytes: bodyBytes,
            qp: qp, acceptedAt: acceptedAt)
    }

    init(
        sender: [UInt8], recipients: [[UInt8]], receivedParts: ReceivedLineParts, body: [UInt8], bodyBytes: Int,
        qp: Int, acceptedAt: Int64
    ) {
        self.init(
            sender: sender, recipients: recipients, received: .parts(receivedParts), body: body, bodyBytes: bodyBytes,
            qp: qp, acceptedAt: acceptedAt)
    }

    private init(
        sender: [UInt8], recipients: [[UInt8]], received: Received, body: [UInt8], bodyBytes: Int?, qp: Int,
        acceptedAt: Int64
    ) {
        self.sender = sender
        self.recipients = recipients
        self.received = received
        self.body = body
        self.bodyBytes = max(body.count, bodyBytes ?? body.count)
        self.qp = qp
        self.acceptedAt = acceptedAt
    }

    public static func == (left: QueuedMessage, right: QueuedMessage) -> Bool {
        left.sender == right.sender && left.recipients == right.recipients && left.body == right.body
            && left.bodyBytes == right.bodyBytes && left.qp == right.qp && left.acceptedAt == right.acceptedAt
            && left.receivedLine == right.receivedLine
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(sender)
        hasher.combine(recipients)
        hasher.combine(receivedLine)
        hasher.combine(body)
        hasher.combine(bodyBytes)
        hasher.combine(qp)
        hasher.combine(acceptedAt)
    }

    /// Whether the whole body was kept.
    public var isComplete: Bool { bodyBytes == body.count }
    /// The full message qmail-queue received: Received line, then the body (as kept).
    public var message: [UInt8] { receivedLine + body }
    /// The sender as text.
    public var senderText: String { String(decoding: sender, as: UTF8.self) }
    /// The recipients as text.
    public var recipientTexts: [String] { recipients.map { String(decoding: $0, as: UTF8.self) } }
    /// The Received line as text, without its final LF.
    public var receivedText: String {
        var bytes = receivedLine
        if bytes.last == 10 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
    /// The envelope as qmail-queue reads it on descriptor 1: `F<sender>\0T<rcpt>\0…\0`.
    public var envelope: [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "F")] + sender + [0]
        for recipient in recipients { bytes += [UInt8(ascii: "T")] + recipient + [0] }
        bytes.append(0)
        return bytes
    }
}

/// How the connection got past (or did not get past) tcpserver and rblsmtpd.
public struct ConnectionDecision: Sendable, Hashable {
    /// tcpserver's decision: `accept` or `deny`, with the rule and the variables it set.
    public var tcpserver: Decision
    /// The rule key that matched, if any.
    public var ruleKey: String?
    /// Where that rule is.
    public var ruleSource: SourceLocation?
    /// The complete environment tcpserver gave its child (empty for a deny).
    public var environment: [String: String]
    /// rblsmtpd's decision: `accept` (passed on), `refuse` (553), `tempfail` (451); nil when
    /// rblsmtpd is not in the chain or the connection was denied.
    public var blocklist: Decision?
    /// qmail-smtpd's start: `accept` (greeting) or `tempfail` (421); nil if it never ran.
    public var smtpd: Decision?

    public init(
        tcpserver: Decision, ruleKey: String? = nil, ruleSource: SourceLocation? = nil,
        environment: [String: String] = [:], blocklist: Decision? = nil, smtpd: Decision? = nil
    ) {
        self.tcpserver = tcpserver
        self.ruleKey = ruleKey
        self.ruleSource = ruleSource
        self.environment = environment
        self.blocklist = blocklist
        self.smtpd = smtpd
    }

    /// Which program ends up talking to the client.
    public var finalStage: Stage {
        if tcpserver.outcome == .deny { return .tcpserver }
        if let blocklist, blocklist.outcome != .accept { return .rblsmtpd }
        return .qmailSMTPD
    }
}

/// What qmail-smtpd's `Received:` line is made of (received.c), kept with a queued message so
/// that the line is built only when it is read.
struct ReceivedLineParts: Sendable {
    var remoteHost: String
    /// The HELO name, when it differs from the remote host.
    var helo: [UInt8]?
    var remoteInfo: [UInt8]?
    var remoteIP: String
    var local: String
    var protocolName: String
    /// The unix time when DATA was accepted.
    var time: Int64

    /// `Received: from HOST (HELO H) (INFO@IP)\n  by LOCAL with PROTO; DATE\n`.
    var line: [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(96)
        Bytes.append("Received: from ", to: &line)
        Self.safeAppend(remoteHost.utf8, to: &line)
        if let helo {
            Bytes.append(" (HELO ", to: &line)
            Self.safeAppend(helo, to: &line)
            Bytes.append(")", to: &line)
        }
        Bytes.append(" (", to: &line)
        if let remoteInfo {
            Self.safeAppend(remoteInfo, to: &line)
            Bytes.append("@", to: &line)
        }
        Self.safeAppend(remoteIP.utf8, to: &line)
        Bytes.append(")\n  by ", to: &line)
        Self.safeAppend(local.utf8, to: &line)
        Bytes.append(" with ", to: &line)
        line.append(contentsOf: protocolName.utf8)
        Bytes.append("; ", to: &line)
        line.append(contentsOf: Date822.format(time))
        return line
    }

    /// received.c's safeput: bytes outside `[A-Za-z0-9.@%+/=:-]` become `?` (stops at NUL).
    static func safeAppend(_ bytes: some Sequence<UInt8>, to line: inout [UInt8]) {
        for byte in bytes {
            if byte == 0 { break }
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "@"), UInt8(ascii: "%"),
                UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "-"):
                line.append(byte)
            default:
                line.append(UInt8(ascii: "?"))
            }
        }
    }
}

extension Exchange {
    /// Delegates to the memberwise initializer: one assigning the fields one by one made the
    /// compiler copy and destroy the whole exchange at each construction (an exchange is made for
    /// every line).
    public init(
        kind: Kind, stage: Stage, clientBytes: [UInt8] = [], reply: [UInt8] = [], decision: Decision? = nil,
        closedAfter: Bool = false, delay: Double = 0, truncation: Truncation? = nil
    ) {
        self.init(
            stage: stage, kind: kind, clientSlice: clientBytes[...], reply: reply, decision: decision, closedAfter: closedAfter,
            delay: delay, truncation: truncation)
    }
}

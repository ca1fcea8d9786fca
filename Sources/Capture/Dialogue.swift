// The reconstructed SMTP dialogue of one TCP connection: what the replay layer consumes.
//
// Byte storage: every `Dialogue` keeps the client's and the server's kept byte streams
// (`clientStream`, `serverStream`) and every step and reply refers to them through
// `ArraySlice`s, so building a dialogue copies no bytes. Slices keep their parent's indices:
// use `slice.first`, `slice.startIndex` or `Array(slice)`, never `slice[0]`.
//
// Construction: the public initialisers of `ServerReply`, `DialogueStep` and `Dialogue` are
// declared in extensions and delegate to the synthesised memberwise initialisers (their stored
// properties are declared in an order that makes the memberwise ones differ). An initialiser that
// assigns the properties one by one makes the compiler copy the whole value (retaining every
// reference in it) and destroy the original at each construction, because of the optional
// structs and enums with references inside; a memberwise initialiser builds it in place.

/// One side of a TCP connection.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The IP address: dotted quad for IPv4, RFC 5952 compressed form for IPv6.
    public var ip: String
    public var port: Int

    public init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }

    /// `192.0.2.1:25` or `[2001:db8::1]:25`.
    public var description: String {
        ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A server reply, possibly multi-line (`250-…` continuation lines, then `250 …`).
public struct ServerReply: Sendable, Hashable {
    /// The reply exactly as sent, every line with its terminator (CRLF or bare LF).
    public var bytes: ArraySlice<UInt8>
    /// The three-digit reply code, or nil when the first line does not start with one.
    public var code: Int?
    /// False when part of the reply was not captured (a gap, a cut line) or its last line had no
    /// terminator when the connection ended.
    public var isComplete: Bool

    /// The reply's lines without their terminators (bytes that are not UTF-8 become U+FFFD).
    public var lines: [String] {
        SMTPText.lines(of: bytes).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The lines joined with newlines.
    public var text: String { lines.joined(separator: "\n") }
}

extension ServerReply {
    public init(code: Int?, bytes: ArraySlice<UInt8>, isComplete: Bool = true) {
        self.init(bytes: bytes, code: code, isComplete: isComplete)
    }
}

/// Why a step cannot be compared with a simulation.
public enum UnobservableReason: Sendable, Hashable, CustomStringConvertible {
    /// No packet from the server was captured (asymmetric routing, or a one-sided filter).
    case oneDirection
    /// Part of this step's client bytes were not captured (lost packets, snaplen).
    case clientDataLost(bytes: Int)
    /// The server's reply was (partly) not captured.
    case replyLost(bytes: Int)
    /// After a capture gap or the start of a mid-stream capture the replies cannot be matched
    /// to the commands until the next lock-step exchange.
    case unaligned
    /// The capture ended (or the connection was flushed) before the server replied.
    case captureEnded
    /// The client's last line had no line terminator when the connection ended.
    case unterminated
    /// A configured limit was exceeded for this step.
    case limit(CaptureLimits.Kind)

    public var description: String {
        switch self {
        case .oneDirection: "one direction only: no packets from the server were captured"
        case .clientDataLost(let bytes): "lost segment: \(bytes) bytes of client data were not captured"
        case .replyLost(let bytes): "reply lost: \(bytes) bytes of server data were not captured"
        case .unaligned: "after a capture gap: the reply to this command cannot be identified"
        case .captureEnded: "the capture ended before the server replied"
        case .unterminated: "the client's last line had no line terminator"
        case .limit(let kind): "limit exceeded: \(kind.explanation)"
        }
    }
}

/// One client command (or message body, AUTH response, BDAT chunk) and the server's reply.
public struct DialogueStep: Sendable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A command line (`MAIL FROM:<…>`, `AUTH PLAIN …`, …), including lines the server
        /// answered without starting a message (DATA after `503`: the lines that follow are commands).
        case command
        /// A message body after `354`: every line up to and including the final `.` line.
        case dataBody
        /// A client line after a `334` AUTH challenge: credentials, never printed.
        case authResponse
        /// A `BDAT n [LAST]` command line followed by its n chunk bytes.
        case bdatChunk
    }

    /// Exactly the bytes the client sent for this step, with the line terminator as sent (CRLF or
    /// bare LF); a body includes its final `.` line. Shorter than on the wire if part was lost.
    public var clientBytes: ArraySlice<UInt8>
    public var kind: Kind
    /// The server's reply, or nil when none was seen (see `unobservable` for whether one could be).
    public var reply: ServerReply?
    /// Pipelining batch number (1, 2, … within the dialogue) when several steps were sent in
    /// one flight, before the reply to the previous one had arrived; nil for a step sent alone.
    public var batch: Int?
    /// Capture timestamp (seconds since the epoch) of the packet carrying the step's first byte.
    public var time: Double
    /// Why this step cannot be compared (gap, TLS, one direction, limit), or nil.
    public var unobservableReason: UnobservableReason?
    /// The number of client bytes of this step that were not captured (gaps, cut lines).
    public var lostBytes: Int

    /// The reason this step cannot be compared, in words, or nil when it can.
    public var unobservable: String? { unobservableReason?.description }

    /// The upper-cased verb of a command (`MAIL`, `BDAT`, …); nil for bodies and AUTH responses.
    public var verb: String? {
        switch kind {
        case .command, .bdatChunk: SMTPText.verb(of: clientBytes)
        case .dataBody, .authResponse: nil
        }
    }

    /// A printable form: commands as sent without the line terminator (control and non-UTF-8
    /// bytes as `\xNN`), credentials redacted (`<auth response redacted>`, `AUTH PLAIN
    /// <credentials redacted>`), bodies summarised (`<message: N lines, M bytes on the wire>`).
    public var line: String {
        SMTPText.printable(kind: kind, bytes: clientBytes)
    }

    /// Whether the client's bytes hold credentials (an AUTH response, or an AUTH command with an
    /// initial response). Never print `clientBytes` of such a step.
    public var holdsCredentials: Bool {
        switch kind {
        case .authResponse: true
        case .command: SMTPText.isAuthWithInitialResponse(clientBytes)
        case .dataBody, .bdatChunk: false
        }
    }
}

extension DialogueStep {
    public init(
        kind: Kind, clientBytes: ArraySlice<UInt8>, reply: ServerReply?, batch: Int? = nil,
        time: Double = 0, unobservableReason: UnobservableReason? = nil, lostBytes: Int = 0
    ) {
        self.init(
            clientBytes: clientBytes, kind: kind, reply: reply, batch: batch, time: time,
            unobservableReason: unobservableReason, lostBytes: lostBytes)
    }
}

/// How a connection ended (the first closing event in capture order).
public enum DialogueEnd: String, Sendable, Hashable, CaseIterable {
    /// QUIT answered with a 2xx reply.
    case quit
    /// The client closed (FIN) first, without a successful QUIT.
    case clientClosed
    /// The server closed first after sending something.
    case serverClosed
    /// The server closed without ever sending a byte (how a tcpserver `deny` looks).
    case serverClosedSilently
    /// The client reset the connection.
    case clientReset
    /// The server reset the connection.
    case serverReset
    /// Still open when the input ended.
    case captureEnded
    /// Flushed early by a limit (live connections) or after `idleTimeout` of capture time.
    case evicted
    /// A new SYN with another sequence number arrived on the same addresses and ports while
    /// this connection was open (its close was not captured).
    case superseded

    /// The position in `allCases`.
    var index: Int {
        switch self {
        case .quit: 0
        case .clientClosed: 1
        case .serverClosed: 2
        case .serverClosedSilently: 3
        case .clientReset: 4
        case .serverReset: 5
        case .captureEnded: 6
        case .evicted: 7
        case .superseded: 8
        }
    }
}

/// Something that makes a dialogue incomplete or less than fully observable.
public struct DialogueProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Packets were lost from the capture (a sequence gap that was never filled).
        case lostSegment
        /// Packets were captured shorter than they were on the wire (snaplen).
        case snaplen
        /// The capture started after the connection opened (no SYN or SYN-ACK seen).
        case midstream
        /// Only one direction of the connection was captured.
        case oneDirection
        /// STARTTLS succeeded: the rest of the connection is encrypted.
        case encrypted
        /// A configured limit was exceeded.
        case limit
        /// Server replies that answer no captured command.
        case unpairedReplies
        /// Client and server could not be told apart; the lower port was taken as the server.
        case rolesGuessed
        /// A line (client or server) had no terminator when the connection ended.
        case unterminated
    }

    public var kind: Kind
    /// The limit exceeded, when `kind == .limit`.
    public var limit: CaptureLimits.Kind?
    public var message: String

    public init(kind: Kind, limit: CaptureLimits.Kind? = nil, message: String) {
        self.kind = kind
        self.limit = limit
        self.message = message
    }

    public var description: String { message }
}

/// The reconstructed SMTP dialogue of one TCP connection.
public struct Dialogue: Sendable {
    /// The client's bytes as kept (lost and limited bytes are missing), which the steps slice.
    public var clientStream: [UInt8]
    /// The server's bytes as kept, which the replies slice.
    public var serverStream: [UInt8]
    /// Position of the connection's first packet among all SMTP connections of the input (0, 1, …).
    public var index: Int
    public var client: Endpoint
    public var server: Endpoint
    /// Capture time of the connection's earliest and latest packets (seconds since the epoch).
    public var startTime: Double
    public var endTime: Double
    /// The server's first reply when the connection was seen from its start; nil when the server
    /// sent nothing (tcpserver deny) or the capture started mid-connection.
    public var greeting: ServerReply?
    /// The client's commands in order, each with its reply.
    public var steps: [DialogueStep]
    /// Server replies that answer no captured command (one direction, mid-stream start, gaps).
    public var unpairedReplies: [ServerReply]
    public var end: DialogueEnd
    /// The capture started after the connection opened (no SYN or SYN-ACK seen).
    public var midstream: Bool
    /// The client sent data before the server's greeting was complete.
    public var earlyTalker: Bool
    /// STARTTLS succeeded; the rest of the connection is encrypted and not reconstructed.
    public var encrypted: Bool
    /// Everything that makes this dialogue incomplete; empty for a complete dialogue.
    public var problems: [DialogueProblem]
    /// The capture file holding the connection's first packet, and that packet's number in the
    /// file (1-based).
    public var sourceFile: String
    public var sourcePacket: Int
    /// Names from the DNS PTR answers for the client's address seen in the capture before the
    /// dialogue ended (empty: a negative answer was seen); nil when none was seen.
    public var clientPTR: [String]?

    /// `file#packet` where the connection starts.
    public var source: String { "\(sourceFile)#\(sourcePacket)" }

    /// True when nothing is missing: no gap, no limit, no mid-stream start, no encryption.
    public var isComplete: Bool { problems.isEmpty }

    /// The number of steps that cannot be compared.
    public var unobservableSteps: Int { steps.reduce(0) { $0 + ($1.unobservableReason == nil ? 0 : 1) } }
}

extension Dialogue {
    public init(
        index: Int, client: Endpoint, server: Endpoint, startTime: Double, endTime: Double,
        greeting: ServerReply?, steps: [DialogueStep], unpairedReplies: [ServerReply] = [],
        end: DialogueEnd, midstream: Bool = false, earlyTalker: Bool = false, encrypted: Bool = false,
        problems: [DialogueProblem] = [], sourceFile: String = "", sourcePacket: Int = 0,
        clientPTR: [String]? = nil, clientStream: [UInt8] = [], serverStream: [UInt8] = []
    ) {
        self.init(
            clientStream: clientStream, serverStream: serverStream, index: index, client: client, server: server,
            startTime: startTime, endTime: endTime, greeting: greeting, steps: steps,
            unpairedReplies: unpairedReplies, end: end, midstream: midstream, earlyTalker: earlyTalker,
            encrypted: encrypted, problems: problems, sourceFile: sourceFile, sourcePacket: sourcePacket,
            clientPTR: clientPTR)
    }
}

/// How many of the client's bytes the simulation keeps. qmail-smtpd itself has no line length
/// limit and reads messages of any size; the simulation needs only the verb and the first part of
/// a line to decide, and counts the rest of a message without storing it (databytes and the hop
/// count see every byte), so a client sending a gigabyte without a line end is simulated in
/// bounded memory with the real programs' replies.
///
/// What exceeding a limit changes is recorded on the step (``Exchange/truncation``): the bytes
/// not kept, and whether they could have changed the answer (only for an argument qmail-smtpd
/// reads past the kept part: a MAIL or RCPT address not yet closed, HELO/EHLO, AUTH).
public struct RelayLimits: Sendable, Hashable {
    /// Which limit.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// ``RelayLimits/maxLineLength``.
        case lineLength = "line-length"
        /// ``RelayLimits/maxMessageBytes``.
        case messageBytes = "message-bytes"

        /// A short explanation for messages.
        public var explanation: String {
            switch self {
            case .lineLength: "a client line longer than the simulation keeps (the rest was counted, not kept)"
            case .messageBytes: "a message larger than the simulation keeps (the rest was counted, not kept)"
            }
        }
    }

    /// The smallest line limit: the verb, a 900-byte address and its parameters always fit.
    public static let minimumLineLength = 1024

    /// Bytes of one client line kept, line end excluded (at least ``minimumLineLength``).
    public var maxLineLength: Int {
        didSet { maxLineLength = max(RelayLimits.minimumLineLength, maxLineLength) }
    }
    /// Bytes of one message (after `354`) kept in the step's client bytes and in the queued
    /// message's body.
    public var maxMessageBytes: Int {
        didSet { maxMessageBytes = max(0, maxMessageBytes) }
    }

    /// - Parameters:
    ///   - maxLineLength: default 1 MiB (the capture reader's line limit).
    ///   - maxMessageBytes: default 64 MiB (the capture reader's per-connection limit).
    public init(maxLineLength: Int = 1 << 20, maxMessageBytes: Int = 64 << 20) {
        self.maxLineLength = max(RelayLimits.minimumLineLength, maxLineLength)
        self.maxMessageBytes = max(0, maxMessageBytes)
    }
}

/// Client bytes of one step that were counted but not kept (see ``RelayLimits``).
public struct Truncation: Sendable, Hashable {
    /// The limit that was exceeded.
    public var limit: RelayLimits.Kind
    /// The client's bytes in this step, line end included.
    public var totalBytes: Int
    /// How many of them were not kept.
    public var droppedBytes: Int
    /// Whether the bytes not kept could have changed the reply or the session's state. False for
    /// commands that ignore their argument (or when the argument ended in the kept part) and for
    /// messages: the reply is then exactly the real program's.
    public var affectsOutcome: Bool

    public init(limit: RelayLimits.Kind, totalBytes: Int, droppedBytes: Int, affectsOutcome: Bool) {
        self.limit = limit
        self.totalBytes = totalBytes
        self.droppedBytes = droppedBytes
        self.affectsOutcome = affectsOutcome
    }
}

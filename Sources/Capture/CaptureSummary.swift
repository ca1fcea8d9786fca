// What a run read, what it found, and everything that was damaged, skipped or limited.

/// A capture file that was damaged (truncated, corrupt): it was read up to the damage.
public struct CaptureDamage: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// The number of the record that could not be read (1-based): `packet - 1` packets were read.
    public var packet: Int
    /// The byte offset in the file where reading stopped, when the file is seekable.
    public var offset: Int?
    /// libpcap's message.
    public var message: String

    public init(file: String, packet: Int, offset: Int?, message: String) {
        self.file = file
        self.packet = packet
        self.offset = offset
        self.message = message
    }

    public var description: String {
        let at = offset.map { ", byte offset \($0)" } ?? ""
        return "\(file): damaged at packet \(packet)\(at): \(message); read the \(packet - 1) packets before it"
    }
}

/// One input file.
public struct CaptureFileSummary: Sendable, Hashable {
    public var path: String
    /// libpcap's name of the link type (`EN10MB`, `LINUX_SLL2`, …) and its DLT number.
    public var linkType: String
    public var linkTypeNumber: Int
    public var packets: Int
    /// Captured bytes (the records' captured lengths).
    public var bytes: Int
    public var damage: CaptureDamage?
}

/// The outcome of a run besides the dialogues.
public struct CaptureSummary: Sendable {
    public var files: [CaptureFileSummary] = []
    /// Packets read over all files, and their captured bytes.
    public var packets = 0
    public var bytes = 0
    public var damage: [CaptureDamage] = []

    /// SMTP connections seen; every one was delivered as a dialogue
    /// (`connections == completeConnections + incompleteConnections`).
    public var connections = 0
    public var completeConnections = 0
    public var incompleteConnections = 0
    public var midstreamConnections = 0
    /// Delivered dialogues by how they ended.
    public var ends: [DialogueEnd: Int] = [:]
    /// Dialogues affected by each kind of problem.
    public var problems: [DialogueProblem.Kind: Int] = [:]
    /// How often each limit was exceeded.
    public var limitsHit: [CaptureLimits.Kind: Int] = [:]
    /// The most connections tracked at once (never more than `CaptureLimits.maxLiveConnections`).
    public var peakLiveConnections = 0
    /// ``limitsHit`` by the limits' names (`lineLength`, …), for reports.
    public var limitsHitByName: [String: Int] {
        Dictionary(uniqueKeysWithValues: limitsHit.filter { $0.value > 0 }.map { ($0.key.rawValue, $0.value) })
    }
    /// Steps (commands, bodies, …) delivered, and how many of them are unobservable.
    public var steps = 0
    public var unobservableSteps = 0

    /// PTR answers seen in DNS responses: address → names (empty: a negative answer).
    public var ptrRecords: [String: [String]] = [:]
    public var dnsResponses = 0

    /// Packets not used, by reason.
    public var nonIPPackets = 0
    public var otherTransportPackets = 0
    public var otherPortPackets = 0
    /// Packets whose headers were cut short or malformed.
    public var malformedPackets = 0
    /// TCP segments that carried no new byte (retransmissions, duplicates, keep-alives), and
    /// segments of connections already finished or never seen opening that carry nothing to use
    /// (late ACKs, FINs, retransmissions).
    public var retransmittedSegments = 0
    public var outOfOrderSegments = 0
    /// Sequence gaps never filled, and the bytes missing in them.
    public var gaps = 0
    public var lostBytes = 0
    /// IPv4/IPv6 datagrams rebuilt from fragments, and fragments dropped (never completed).
    public var reassembledDatagrams = 0
    public var droppedFragments = 0

    public init() {}
}

/// A capture could not be read at all (a damaged file is not an error: see `CaptureDamage`).
public struct CaptureError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case cannotOpen
        case unsupportedLinkType
        case badFilter
    }

    public var code: Code
    public var file: String
    public var message: String

    public init(code: Code, file: String, message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

// What to read and the resource limits that keep memory bounded on hostile captures.

/// Explicit resource limits. Exceeding one never aborts a run and never drops a connection
/// silently: the affected connection gets a `DialogueProblem` of kind `.limit` naming it, the
/// affected steps are unobservable, and `CaptureSummary.limitsHit` counts it.
public struct CaptureLimits: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case liveConnections
        case outOfOrderBytes
        case connectionBytes
        case lineLength
        case fragmentBytes
        case ptrRecords

        /// A short explanation for messages.
        public var explanation: String {
            switch self {
            case .liveConnections: "too many simultaneous live connections (the least recently active was flushed)"
            case .outOfOrderBytes: "too many out-of-order bytes buffered (the missing data was declared lost)"
            case .connectionBytes: "more bytes in this connection than are kept for analysis"
            case .lineLength: "a line longer than the maximum kept for analysis (the rest of the line was dropped)"
            case .fragmentBytes: "too many bytes of IP fragments waiting for reassembly (the oldest were dropped)"
            case .ptrRecords: "too many DNS PTR answers (later ones were not kept)"
            }
        }
    }

    /// Connections tracked at once; beyond it the least recently active is flushed (`.evicted`).
    public var maxLiveConnections: Int = 100_000
    /// Out-of-order bytes buffered per connection direction while waiting for missing data;
    /// beyond it the missing data is declared lost (a gap).
    public var maxOutOfOrderBytes: Int = 1 << 20
    /// Client plus server bytes kept per connection for analysis; beyond it the rest of the
    /// connection is not analysed.
    public var maxBytesPerConnection: Int = 64 << 20
    /// Longest line (client command, body line or reply line) kept; the rest of a longer line is
    /// dropped and the step is unobservable.
    public var maxLineLength: Int = 1 << 20
    /// Bytes of IP fragments buffered for reassembly, over all datagrams.
    public var maxFragmentBytes: Int = 16 << 20
    /// DNS PTR answers (addresses) remembered.
    public var maxPTRRecords: Int = 1_000_000

    public init(
        maxLiveConnections: Int = 100_000, maxOutOfOrderBytes: Int = 1 << 20,
        maxBytesPerConnection: Int = 64 << 20, maxLineLength: Int = 1 << 20,
        maxFragmentBytes: Int = 16 << 20, maxPTRRecords: Int = 1_000_000
    ) {
        self.maxLiveConnections = max(1, maxLiveConnections)
        self.maxOutOfOrderBytes = max(0, maxOutOfOrderBytes)
        self.maxBytesPerConnection = max(0, maxBytesPerConnection)
        self.maxLineLength = max(1, maxLineLength)
        self.maxFragmentBytes = max(0, maxFragmentBytes)
        self.maxPTRRecords = max(0, maxPTRRecords)
    }
}

/// What to read from a capture.
public struct CaptureOptions: Sendable {
    /// TCP ports whose connections are SMTP (the server's port).
    public var smtpPorts: Set<Int>
    /// A BPF filter expression compiled by libpcap for each file (`port 25 or port 587`).
    /// Note that BPF needs `vlan and …` to see inside 802.1Q-tagged frames.
    public var filter: String?
    public var limits: CaptureLimits
    /// Parse DNS responses (UDP and TCP port 53) for PTR answers.
    public var parseDNS: Bool
    /// Capture seconds after which a connection without any packet is flushed (`.evicted`);
    /// 0 disables. qmail-smtpd gives up on a silent client after 1200 s.
    public var idleTimeout: Double
    /// Threads that reconstruct the dialogues of finished connections while the reading thread
    /// goes on with the next packets (0: the reading thread does everything). The dialogues,
    /// their order and the summary are the same whatever the number.
    public var reconstructionThreads: Int

    public init(
        smtpPorts: Set<Int> = [25, 587, 2525], filter: String? = nil, limits: CaptureLimits = .init(),
        parseDNS: Bool = true, idleTimeout: Double = 1800, reconstructionThreads: Int = 0
    ) {
        self.smtpPorts = smtpPorts
        self.filter = filter
        self.limits = limits
        self.parseDNS = parseDNS
        self.idleTimeout = idleTimeout
        self.reconstructionThreads = max(0, reconstructionThreads)
    }
}

public import CDB
public import Histogram
public import RelayEngine

/// The cdb lookups of a whole run (`relaylab replay`, `check`, `compare`), per database file —
/// and per side for a comparison: counts, the slots read, and the latency distribution of the
/// timed lookups (HdrHistogram).
///
/// Each session counts its own lookups and times one in ``sampleEvery`` (``SessionLookups``);
/// the runner hands every session's lookups to ``add(_:side:)`` on one thread, so nothing is
/// shared while the sessions run. A timed lookup's latency is measured with two clock readings;
/// the median cost of one reading (``clockOverhead``) is subtracted from every sample.
public struct LookupStatistics: Sendable, Hashable {
    /// What a database is to the simulated chain.
    public enum Role: String, Sendable, Hashable, CaseIterable {
        /// tcpserver's `-x` rules.
        case rules
        /// qmail-smtpd's control/morercpthosts.cdb.
        case moreRcptHosts = "morercpthosts"

        /// `tcpserver rules`, `morercpthosts.cdb`.
        public var label: String {
            switch self {
            case .rules: "tcpserver rules"
            case .moreRcptHosts: "qmail-smtpd morercpthosts"
            }
        }
    }

    /// The lookups made in one database file.
    public struct Database: Sendable, Hashable {
        public var role: Role
        /// The file.
        public var path: String
        /// `baseline` or `candidate` in a comparison; nil otherwise.
        public var side: String?
        /// `cdb` (lookups probe the file's hash tables, as tcpserver and qmail-smtpd do) or
        /// `index` (relaylab's in-memory index of a rules cdb; same answers, its own slots).
        public var structure: String
        /// Lookups, hits, misses, failures and slots read.
        public var counts = CDBLookupCounts()
        /// Lookups timed.
        public var timed = 0
        /// Their total latency in nanoseconds (clock overhead subtracted).
        public var timedNanoseconds: UInt64 = 0
        /// Their latency distribution in nanoseconds (clock overhead subtracted).
        public var histogram = LookupStatistics.makeHistogram()
        /// Sessions simulated with this file in their configuration.
        public var sessions = 0
        /// Rules: connections that started from a tcpserver decision the replaying thread had
        /// made for the same client before (relaylab replay's shortcut), so no lookups.
        public var reusedDecisions = 0

        init(role: Role, path: String, side: String?, structure: String) {
            self.role = role
            self.path = path
            self.side = side
            self.structure = structure
        }

        /// The latency at `percentile` (0...100) in nanoseconds; 0 when nothing was timed.
        public func latency(atPercentile percentile: Double) -> UInt64 {
            timed == 0 ? 0 : histogram.valueAtPercentile(percentile)
        }

        /// The longest timed lookup in nanoseconds.
        public var maxLatency: UInt64 { timed == 0 ? 0 : histogram.max }

        /// The mean timed latency in nanoseconds.
        public var meanLatency: Double { timed == 0 ? 0 : Double(timedNanoseconds) / Double(timed) }

        /// Time spent in lookups, in seconds: the timed lookups' mean latency times the lookups
        /// (exact when every lookup is timed, an estimate when sampled); nil when none was timed.
        public var seconds: Double? {
            timed == 0 ? nil : meanLatency * Double(counts.lookups) / 1e9
        }

        /// Lookups per second of lookup time (one thread's throughput); nil when none was timed.
        public var lookupsPerSecond: Double? {
            guard let seconds, seconds > 0 else { return nil }
            return Double(counts.lookups) / seconds
        }

        /// Whether two entries hold the same numbers (the histograms' recorded values included).
        public static func == (lhs: Database, rhs: Database) -> Bool {
            guard
                lhs.role == rhs.role, lhs.path == rhs.path, lhs.side == rhs.side, lhs.structure == rhs.structure,
                lhs.counts == rhs.counts, lhs.timed == rhs.timed, lhs.timedNanoseconds == rhs.timedNanoseconds,
                lhs.sessions == rhs.sessions, lhs.reusedDecisions == rhs.reusedDecisions
            else { return false }
            let left = lhs.histogram.recordedValues().map { [$0.value, $0.count] }
            let right = rhs.histogram.recordedValues().map { [$0.value, $0.count] }
            return left == right
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(role)
            hasher.combine(path)
            hasher.combine(side)
            hasher.combine(counts)
            hasher.combine(timed)
        }
    }

    /// One lookup in this many was timed (0: lookups were counted, not timed).
    public var sampleEvery: Int
    /// The median cost of one clock reading in nanoseconds, subtracted from every sample.
    public var clockOverhead: UInt64
    /// The databases, in the order their first lookup (or connection) came.
    public private(set) var databases: [Database] = []

    /// - Parameters:
    ///   - sampleEvery: the sessions' sampling (0: not timed).
    ///   - clockOverhead: the clock's cost per reading; measured here when nil.
    public init(sampleEvery: Int, clockOverhead: UInt64? = nil) {
        self.sampleEvery = max(0, sampleEvery)
        self.clockOverhead = sampleEvery > 0 ? clockOverhead ?? CDBLookupRecorder.clockOverhead() : 0
    }

    /// The sampling for a session (nil when not timing), with a phase so that sessions which
    /// make few lookups each still sample every position of their lookup sequence alike.
    public func sampling(phase: Int) -> CDBLookupRecorder.Sampling? {
        sampleEvery > 0 ? CDBLookupRecorder.Sampling(every: sampleEvery, phase: phase) : nil
    }

    /// Whether anything was looked up (or a database was there to look up in).
    public var isEmpty: Bool { databases.isEmpty }

    /// The lookups made in all databases.
    public var totalLookups: Int { databases.reduce(0) { $0 + $1.counts.lookups } }

    /// Adds one session's lookups (several sessions of one connection may be added one by one).
    ///
    /// - Parameters:
    ///   - side: `baseline` or `candidate` in a comparison.
    ///   - reusedDecision: the session started from a cached tcpserver decision.
    public mutating func add(_ lookups: SessionLookups, side: String? = nil, reusedDecision: Bool = false) {
        if let path = lookups.rulesPath {
            let index = entry(.rules, path: path, side: side, structure: lookups.rulesIndexed ? "index" : "cdb")
            add(lookups.rules, to: index)
            databases[index].sessions += 1
            if reusedDecision { databases[index].reusedDecisions += 1 }
        }
        if let path = lookups.moreRcptHostsPath {
            let index = entry(.moreRcptHosts, path: path, side: side, structure: "cdb")
            add(lookups.moreRcptHosts, to: index)
            databases[index].sessions += 1
        }
    }

    /// Adds the statistics of another run (same sampling).
    public mutating func add(_ other: LookupStatistics) {
        for database in other.databases {
            let index = entry(database.role, path: database.path, side: database.side, structure: database.structure)
            databases[index].counts += database.counts
            databases[index].timed += database.timed
            databases[index].timedNanoseconds += database.timedNanoseconds
            databases[index].histogram.add(database.histogram)
            databases[index].sessions += database.sessions
            databases[index].reusedDecisions += database.reusedDecisions
        }
    }

    private mutating func entry(_ role: Role, path: String, side: String?, structure: String) -> Int {
        // Compared where they are (`firstIndex(where:)` hands each entry out as a copy, and
        // this runs for every session).
        let found = databases.withUnsafeBufferPointer { entries in
            entries.indices.first { entries[$0].role == role && entries[$0].path == path && entries[$0].side == side }
        }
        if let found { return found }
        databases.append(Database(role: role, path: path, side: side, structure: structure))
        return databases.count - 1
    }

    private mutating func add(_ recorder: CDBLookupRecorder, to index: Int) {
        databases[index].counts += recorder.counts
        guard !recorder.samples.isEmpty else { return }
        let overhead = clockOverhead
        for sample in recorder.samples {
            let latency = sample > overhead ? sample - overhead : 0
            databases[index].timed += 1
            databases[index].timedNanoseconds += latency
            _ = databases[index].histogram.record(min(latency, LookupStatistics.highestLatency))
        }
    }

    /// The largest latency the histograms hold (60 s).
    static let highestLatency: UInt64 = 60_000_000_000

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestLatency, numberOfSignificantValueDigits: .three)
    }
}

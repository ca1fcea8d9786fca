/// What lookups in one database found and cost: counts that add up.
public struct CDBLookupCounts: Sendable, Hashable {
    /// Lookups made (one key each, as `cdb_find` makes them).
    public var lookups = 0
    /// Lookups that found their key.
    public var hits = 0
    /// Lookups that stopped at damage (a slot or record outside the file, a full table): neither
    /// a hit nor a miss.
    public var failures = 0
    /// Hash-table slots read, over all lookups.
    public var probes = 0

    public init(lookups: Int = 0, hits: Int = 0, failures: Int = 0, probes: Int = 0) {
        self.lookups = lookups
        self.hits = hits
        self.failures = failures
        self.probes = probes
    }

    /// Lookups that did not find their key.
    public var misses: Int { lookups - hits - failures }

    public static func += (lhs: inout CDBLookupCounts, rhs: CDBLookupCounts) {
        lhs.lookups += rhs.lookups
        lhs.hits += rhs.hits
        lhs.failures += rhs.failures
        lhs.probes += rhs.probes
    }
}

/// Records the lookups made in one database: every lookup is counted, and with ``Sampling``
/// one lookup in `every` is timed.
///
/// A recorder is a plain value owned by whoever makes the lookups (a session, one rules match):
/// no locks, no atomics, nothing shared. Owners hand theirs on, and whoever collects them adds
/// them up (``add(_:)``). Counting costs a few additions per lookup; a timed lookup reads a
/// monotonic clock twice, and its latency includes the cost of one clock read (see
/// ``clockOverhead()``).
///
/// ```swift
/// var recorder = CDBLookupRecorder(sampling: .init(every: 8))
/// let value = try cdb.first(key, recording: &recorder)
/// recorder.counts.lookups      // 1
/// recorder.samples             // [] — the 8th lookup is the first one timed
/// ```
public struct CDBLookupRecorder: Sendable, Hashable {
    /// Which lookups are timed: one in `every`, the first being lookup number `phase % every + 1`
    /// (owners that each make few lookups give each a different phase, so that every position
    /// in their sequence of lookups is sampled alike).
    public struct Sampling: Sendable, Hashable {
        /// Time one lookup in this many (at least 1).
        public var every: Int
        /// Offset of the first timed lookup.
        public var phase: Int

        public init(every: Int, phase: Int = 0) {
            precondition(every >= 1, "sampling must time at least one lookup in every N ≥ 1")
            self.every = every
            self.phase = phase
        }
    }

    /// The counts.
    public var counts = CDBLookupCounts()
    /// The latencies of the timed lookups in nanoseconds, in order (clock reads included).
    public var samples: [UInt64] = []
    /// One lookup in `every` is timed; 0: none.
    public private(set) var every: Int
    /// Lookups until the next timed one.
    private var countdown: Int

    /// A recorder that counts, and with `sampling` times one lookup in `sampling.every`.
    public init(sampling: Sampling? = nil) {
        if let sampling {
            every = sampling.every
            countdown = (sampling.phase % sampling.every + sampling.every) % sampling.every + 1
        } else {
            every = 0
            countdown = 0
        }
    }

    /// The sampling this recorder times lookups with (nil: it only counts).
    public var sampling: Sampling? {
        every == 0 ? nil : Sampling(every: every, phase: countdown - 1)
    }

    /// Call before a lookup: the clock reading to pass to ``end(_:found:probes:)`` when this
    /// lookup is timed, else 0.
    @inline(__always)
    public mutating func begin() -> UInt64 {
        if every == 0 { return 0 }
        countdown &-= 1
        if countdown != 0 { return 0 }
        countdown = every
        return _CDBClock.now()
    }

    /// Call after a lookup that answered (`found`: a hit), having read `probes` slots.
    @inline(__always)
    public mutating func end(_ start: UInt64, found: Bool, probes: Int) {
        if start != 0 { samples.append(_CDBClock.now() &- start) }
        counts.lookups &+= 1
        if found { counts.hits &+= 1 }
        counts.probes &+= probes
    }

    /// Call after a lookup that stopped at damage, having read `probes` slots.
    public mutating func endFailed(_ start: UInt64, probes: Int) {
        if start != 0 { samples.append(_CDBClock.now() &- start) }
        counts.lookups &+= 1
        counts.failures &+= 1
        counts.probes &+= probes
    }

    /// Adds another recorder's counts and samples (this one's sampling goes on).
    public mutating func add(_ other: CDBLookupRecorder) {
        counts += other.counts
        samples += other.samples
    }

    /// What one clock reading costs here, in nanoseconds: the median of many back-to-back
    /// pairs. Every timed lookup's latency includes about this much.
    public static func clockOverhead() -> UInt64 {
        var pairs: [UInt64] = []
        pairs.reserveCapacity(1001)
        for _ in 0..<1001 {
            let start = _CDBClock.now()
            pairs.append(_CDBClock.now() &- start)
        }
        pairs.sort()
        return pairs[pairs.count / 2]
    }
}

extension CDB {
    /// ``first(_:)-(UnsafeRawBufferPointer)``, recorded: the lookup is counted in `recorder`
    /// with the slots it read, and timed when the recorder samples it.
    ///
    /// It makes exactly the probes of ``first(_:)-(UnsafeRawBufferPointer)`` and answers and
    /// throws the same (it is a ``FindCursor``'s first step).
    @inline(__always)
    public func first(_ key: UnsafeRawBufferPointer, recording recorder: inout CDBLookupRecorder) throws(CDBError)
        -> Value?
    {
        let start = recorder.begin()
        var cursor = FindCursor(key: key, in: self)
        return try first(key, cursor: &cursor, start: start, recording: &recorder)
    }

    /// ``first(_:recording:)`` for a key whose cdb hash (``CDBHash/hash(_:)``) is known.
    @inline(__always)
    public func first(_ key: UnsafeRawBufferPointer, hash: UInt32, recording recorder: inout CDBLookupRecorder)
        throws(CDBError) -> Value?
    {
        let start = recorder.begin()
        var cursor = FindCursor(hash: hash, in: self)
        return try first(key, cursor: &cursor, start: start, recording: &recorder)
    }

    @inline(__always)
    private func first(
        _ key: UnsafeRawBufferPointer, cursor: inout FindCursor, start: UInt64, recording recorder: inout CDBLookupRecorder
    ) throws(CDBError) -> Value? {
        do {
            let value = try cursor.next(in: self, key: key)
            recorder.end(start, found: value != nil, probes: cursor.probes)
            return value
        } catch {
            recorder.endFailed(start, probes: cursor.probes)
            throw error
        }
    }
}

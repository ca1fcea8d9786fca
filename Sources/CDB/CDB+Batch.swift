// Batched lookups: many independent probes in flight at once.
//
// A single cdb lookup is a chain of dependent memory reads (hash slot, then record), so on a file
// larger than the CPU caches it mostly waits for memory. Lookups of *different* keys do not depend
// on each other, so a batch is processed in groups of `CDB.batchWidth` (32) keys, one stage at a
// time:
//
//   A  hash every key, read its table header (2 KiB, always cached), compute its start slot
//   B  load every start slot             -- independent loads, the CPU overlaps their misses
//   C  finish each probe sequence         -- the slots are now cached
//   D1 load every candidate record header -- independent loads again
//   D2 compare the keys
//   E  anything unusual (a second probe into a record, a damaged slot or record, a full table)
//      is redone with the single lookup, so results and errors equal single lookups exactly.
//
// Stages B and D1 are branch-free loops of plain loads; with no data-dependent branch between
// them, the out-of-order core keeps one miss per lane outstanding. Groups are software-pipelined:
// the next group's slot loads (its B) are issued together with this group's record loads (D1), so
// each group waits for memory once instead of twice. (Swift has no prefetch intrinsic; loads whose
// values are consumed only in a later stage serve the same purpose.)

extension CDB {
    /// How many lookups a group keeps in flight. Current cores sustain 10–20 outstanding cache
    /// misses (plus page walks); 32 lanes keep them busy while the state of two groups (2.5 KiB)
    /// stays in L1. Measured on the 5M-key benchmark file before pipelining: 8 lanes 107 ns,
    /// 16 lanes 91 ns, 32 lanes 82 ns, 64 lanes 90 ns per lookup (best of three runs each);
    /// pipelining the groups took 32 lanes about 10% lower.
    static let batchWidth = 32

    /// Looks up every key of `keys` and writes where the first record's data lies (or `nil`) to
    /// the same index of `results`, overlapping the memory reads of many lookups (files larger
    /// than 1 MiB; smaller ones live in the CPU caches and are looked up one key at a time).
    ///
    /// The results are exactly those of ``firstLocation(_:)`` for each key. If a lookup meets a
    /// damaged file, this throws the error that the first failing key's single lookup throws;
    /// results at lower indexes are then already written, the others are unspecified.
    ///
    /// - Precondition: `results.count >= keys.count`.
    public func firstBatch(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
        into results: UnsafeMutableBufferPointer<Location?>
    ) throws(CDBError) {
        precondition(results.count >= keys.count, "firstBatch needs one result per key")
        if storage.count <= CDB.cacheResidentSize {
            // The whole file fits in the CPU's caches: there are no memory waits to overlap, and
            // the staged path's bookkeeping would cost more than it saves.
            for i in 0..<keys.count { results[i] = try _firstLocation(keys[i], hash: CDBHash.hash(keys[i])) }
            return
        }
        try _firstBatchStaged(keys, into: results)
    }

    /// Files up to this size (1 MiB) are looked up one key at a time even in a batch: they stay
    /// in the L2 cache of current CPUs. Measured on the benchmark files: a 379 KiB file, 39 ns
    /// single against 52 ns staged; a 3.7 MiB file, 90 ns single against 64 ns staged.
    @_spi(Testing) public static let cacheResidentSize = 1 << 20

    /// `firstBatch` through the stages, whatever the file's size (for tests and benchmarks:
    /// `@_spi(Testing) import CDB`, so that release builds of the tests compile too).
    @_spi(Testing) public func _firstBatchStaged(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
        into results: UnsafeMutableBufferPointer<Location?>
    ) throws(CDBError) {
        precondition(results.count >= keys.count, "firstBatch needs one result per key")
        if keys.isEmpty { return }
        let width = CDB.batchWidth
        try withUnsafeTemporaryAllocation(of: _BatchLane.self, capacity: 2 * width) {
            (buffer) throws(CDBError) in
            buffer.initialize(repeating: _BatchLane())
            var current = buffer.baseAddress!
            var next = current + width
            var start = 0
            var count = min(width, keys.count)
            _stageA(keys, results, start, count, current)
            _stageB(count, current)
            while count > 0 {
                let nextStart = start + count
                let nextCount = min(width, keys.count - nextStart)
                _stageC(results, start, count, current)
                _stageA(keys, results, nextStart, nextCount, next)
                _stageD1(count, current)
                _stageB(nextCount, next)
                _stageD2(keys, results, start, count, current)
                for i in 0..<count where current[i].state == .single {  // E, in key order
                    results[start + i] = try _firstLocation(keys[start + i], hash: current[i].hash)
                }
                swap(&current, &next)
                start = nextStart
                count = nextCount
            }
        }
    }

    /// The first record's data for each key, in order (`nil` where a key has no record).
    public func firstBatch(_ keys: [[UInt8]]) throws(CDBError) -> [Value?] {
        try _firstBatch(keys.count) { (body) throws(CDBError) in
            for key in keys { try key.withCDBBytes { (raw) throws(CDBError) in try body(raw) } }
        }
    }

    /// The first record's data for the UTF-8 bytes of each key, in order.
    public func firstBatch(_ keys: [String]) throws(CDBError) -> [Value?] {
        try _firstBatch(keys.count) { (body) throws(CDBError) in
            for key in keys { try key.withCDBBytes { (raw) throws(CDBError) in try body(raw) } }
        }
    }

    /// Packs `count` keys (delivered by `produce`) into one buffer and runs the batch over it.
    private func _firstBatch(
        _ count: Int,
        _ produce: ((UnsafeRawBufferPointer) throws(CDBError) -> Void) throws(CDBError) -> Void
    ) throws(CDBError) -> [Value?] {
        var packed: [UInt8] = []
        var ends: [Int] = []
        ends.reserveCapacity(count)
        try produce { (key) throws(CDBError) in
            packed.append(contentsOf: key)
            ends.append(packed.count)
        }
        var locations = [Location?](repeating: nil, count: ends.count)
        try packed.withCDBBytes { (raw) throws(CDBError) in
            var pointers: [UnsafeRawBufferPointer] = []
            pointers.reserveCapacity(ends.count)
            var previous = 0
            for end in ends {
                pointers.append(UnsafeRawBufferPointer(rebasing: raw[previous..<end]))
                previous = end
            }
            try pointers.withUnsafeBufferPointer { (keys) throws(CDBError) in
                try locations.withUnsafeMutableBufferPointer { (results) throws(CDBError) in
                    try firstBatch(keys, into: results)
                }
            }
        }
        return locations.map { $0.map { value(at: $0) } }
    }

    // The stages (see the top of this file), each over `count` lanes for keys `start...`.

    /// A: hash, table header, start slot. Lanes with an empty table are finished at once and
    /// load the header's first word (always valid) in stage B instead of a slot.
    @inline(__always)
    private func _stageA(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ results: UnsafeMutableBufferPointer<Location?>,
        _ start: Int, _ count: Int, _ lanes: UnsafeMutablePointer<_BatchLane>
    ) {
        let storage = self.storage
        for i in 0..<count {
            let hash = CDBHash.hash(keys[start + i])
            let tableEntry = Int(hash & 255) &<< 3
            let slots = storage.uint32(at: tableEntry + 4)
            let tablePosition = Int(storage.uint32(at: tableEntry))
            lanes[i].hash = hash
            lanes[i].slots = slots
            lanes[i].tablePosition = tablePosition
            if slots == 0 {
                lanes[i].state = .done
                lanes[i].offset = 0
                results[start + i] = nil
            } else {
                lanes[i].state = .probing
                lanes[i].offset = tablePosition &+ Int((hash &>> 8) % slots) &<< 3
            }
        }
    }

    /// B: every start slot, independent loads.
    @inline(__always)
    private func _stageB(_ count: Int, _ lanes: UnsafeMutablePointer<_BatchLane>) {
        let storage = self.storage
        for i in 0..<count {
            lanes[i].word = storage.uint64(at: lanes[i].offset)
        }
    }

    /// C: walk each probe sequence to an empty slot (a miss) or to a slot with the key's hash.
    @inline(__always)
    private func _stageC(
        _ results: UnsafeMutableBufferPointer<Location?>, _ start: Int, _ count: Int,
        _ lanes: UnsafeMutablePointer<_BatchLane>
    ) {
        let storage = self.storage
        let recordsEnd = self.recordsEnd
        for i in 0..<count where lanes[i].state == .probing {
            let hash = lanes[i].hash
            let tablePosition = lanes[i].tablePosition
            let tableEnd = tablePosition &+ Int(lanes[i].slots) &<< 3
            var remaining = lanes[i].slots
            var offset = lanes[i].offset
            var word = lanes[i].word
            while true {
                let recordPosition = Int(word &>> 32)
                if recordPosition == 0 {
                    lanes[i].state = .done
                    results[start + i] = nil
                    break
                }
                if UInt32(truncatingIfNeeded: word) == hash {
                    if recordPosition < 2048 || recordPosition > recordsEnd &- 8 {
                        lanes[i].state = .single
                    } else {
                        lanes[i].state = .candidate
                        lanes[i].offset = recordPosition
                    }
                    break
                }
                remaining &-= 1
                if remaining == 0 {
                    lanes[i].state = .single
                    break
                }
                offset &+= 8
                if offset == tableEnd { offset = tablePosition }
                word = storage.uint64(at: offset)
            }
        }
    }

    /// D1: every candidate record's lengths, independent loads (others reload the header).
    @inline(__always)
    private func _stageD1(_ count: Int, _ lanes: UnsafeMutablePointer<_BatchLane>) {
        let storage = self.storage
        for i in 0..<count {
            let position = lanes[i].state == .candidate ? lanes[i].offset : 0
            lanes[i].word = storage.uint64(at: position)
        }
    }

    /// D2: compare the keys; a candidate that is not the key goes to the single lookup.
    @inline(__always)
    private func _stageD2(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ results: UnsafeMutableBufferPointer<Location?>,
        _ start: Int, _ count: Int, _ lanes: UnsafeMutablePointer<_BatchLane>
    ) {
        let storage = self.storage
        let recordsEnd = self.recordsEnd
        for i in 0..<count where lanes[i].state == .candidate {
            let key = keys[start + i]
            let recordPosition = lanes[i].offset
            let keyLength = Int(UInt32(truncatingIfNeeded: lanes[i].word))
            let dataLength = Int(lanes[i].word &>> 32)
            let keyStart = recordPosition &+ 8
            if keyStart &+ keyLength &+ dataLength <= recordsEnd && keyLength == key.count
                && storage.bytesEqual(at: keyStart, key)
            {
                results[start + i] = Location(offset: keyStart &+ keyLength, count: dataLength)
                lanes[i].state = .done
            } else {
                lanes[i].state = .single
            }
        }
    }
}

/// One in-flight lookup of a batch.
struct _BatchLane {
    enum State: UInt8 {
        case done, probing, candidate, single
    }

    var hash: UInt32 = 0
    var slots: UInt32 = 0
    var tablePosition = 0
    /// The slot being probed (stages A–C), then the candidate record's position (C–D).
    var offset = 0
    /// The slot word (stage B), then the record's lengths (stage D1).
    var word: UInt64 = 0
    var state = State.done
}

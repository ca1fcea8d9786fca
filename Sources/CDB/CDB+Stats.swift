extension CDB {
    /// What a lookup costs in this file: table sizes, load, probe lengths and the cache lines a
    /// lookup reads.
    ///
    /// A *probe* is one hash slot read. A lookup of a key that is in the file (a hit) reads the
    /// slots from the key's start slot to the record's slot, then the record; a lookup of a key
    /// that is not in the file (a miss) reads slots until it meets an empty one. Miss figures
    /// assume hashes spread evenly: each of the 256 tables equally likely, every start slot
    /// equally likely — which is what the cdb hash does for realistic keys.
    public struct Statistics: Sendable, Hashable {
        /// Per hash table: its slot count, records (non-empty slots) and probe lengths.
        public struct Table: Sendable, Hashable {
            public var index: Int
            public var position: UInt32
            public var slots: Int
            public var records: Int
            /// The most slots a hit in this table reads.
            public var longestProbe: Int
            /// Sum over every start slot of the slots a miss starting there reads.
            public var totalMissProbes = 0
            /// The most slots a miss in this table reads.
            public var longestMissProbe = 0
            /// Records per slot (0 for an empty table).
            public var load: Double { slots == 0 ? 0 : Double(records) / Double(slots) }
            /// Mean slots read by a miss in this table (0 for an empty table, which needs none).
            public var meanMissProbe: Double { slots == 0 ? 0 : Double(totalMissProbes) / Double(slots) }
        }

        public var records = 0
        /// Non-empty hash slots; equals ``records`` in a file written by a cdb writer.
        public var indexedRecords = 0
        public var bytes = 0
        public var keyBytes = 0
        public var dataBytes = 0
        /// Different keys among the records in the hash tables (what lookups can find).
        public var distinctKeys = 0
        public var tables: [Table] = []
        /// Sum over all indexed records of the slots read to reach it (1 = found in its start slot).
        public var totalProbes = 0
        public var longestProbe = 0
        /// Records by the number of slots a lookup reads to reach them (index 1 = one slot).
        public var probeHistogram: [Int] = []
        /// The most slots a miss reads in any table.
        public var longestMissProbe = 0
        /// Misses by slots read: element `n` is the fraction of misses that read `n` slots
        /// (element 0: misses that read none because their table is empty).
        public var missProbeHistogram: [Double] = []
        /// Sum over all indexed records of the 64-byte cache lines a hit reads: the slots from the
        /// start slot to the record's slot, then the record's lengths and key.
        public var totalHitCacheLines = 0
        /// Mean 64-byte cache lines a miss reads (the slots up to the empty one).
        public var meanMissCacheLines = 0.0
        /// Mean slots a miss reads.
        public var meanMissProbe = 0.0

        public var totalSlots: Int { tables.reduce(0) { $0 + $1.slots } }
        public var usedTables: Int { tables.filter { $0.slots > 0 }.count }
        /// Mean slots a hit reads.
        public var meanProbe: Double { indexedRecords == 0 ? 0 : Double(totalProbes) / Double(indexedRecords) }
        /// Mean cache lines a hit reads (slots and record; the data is read only if used).
        public var meanHitCacheLines: Double {
            indexedRecords == 0 ? 0 : Double(totalHitCacheLines) / Double(indexedRecords)
        }
        public var load: Double { totalSlots == 0 ? 0 : Double(indexedRecords) / Double(totalSlots) }
    }

    /// Reads the whole file and measures it; also a full consistency check: every record, every
    /// slot's record position and lengths, and that every non-empty table has an empty slot.
    ///
    /// - Throws: ``CDBError`` for the first damaged record, slot or table.
    public func statistics() throws(CDBError) -> Statistics {
        var stats = Statistics()
        stats.bytes = byteCount
        var cursor = records()
        while let record = try cursor.next() {
            stats.records += 1
            stats.keyBytes += record.key.count
            stats.dataBytes += record.data.count
        }
        // Records with equal keys have equal hashes, so distinct keys are counted per table
        // among the slots sorted by hash: (hash << 32 | record position).
        var slotKeys: [UInt64] = []
        var missHistogram: [Double] = [0]
        var missProbeSum = 0.0
        var missLineSum = 0.0
        for index in 0..<256 {
            let (position, slotCount) = table(index)
            let slots = Int(slotCount)
            let tablePosition = Int(position)
            var entry = Statistics.Table(
                index: index, position: position, slots: slots, records: 0, longestProbe: 0)
            if slots == 0 {
                missHistogram[0] += 1.0 / 256
                stats.tables.append(entry)
                continue
            }
            // Distinct cache lines holding slots `first...last` (wrapping around the table's end).
            func lines(_ first: Int, _ last: Int) -> Int {
                func line(_ slot: Int, _ end: Int) -> Int { (tablePosition + slot * 8 + end) / 64 }
                if first <= last { return line(last, 7) - line(first, 0) + 1 }
                let tail = (low: line(first, 0), high: line(slots - 1, 7))
                let head = (low: line(0, 0), high: line(last, 7))
                let shared = max(0, min(tail.high, head.high) - max(tail.low, head.low) + 1)
                return (tail.high - tail.low + 1) + (head.high - head.low + 1) - shared
            }
            var emptySlot = -1
            for slot in 0..<slots {
                let slotOffset = tablePosition + slot * 8
                let hash = storage.uint32(at: slotOffset)
                let recordPosition = Int(storage.uint32(at: slotOffset + 4))
                if recordPosition == 0 {
                    if emptySlot < 0 { emptySlot = slot }
                    continue
                }
                if recordPosition < 2048 || recordPosition > recordsEnd - 8 {
                    throw CDBError(
                        .recordPositionOutOfBounds(position: UInt32(recordPosition)), path: path,
                        offset: UInt64(slotOffset + 4))
                }
                let keyLength = Int(storage.uint32(at: recordPosition))
                let dataLength = Int(storage.uint32(at: recordPosition + 4))
                if recordPosition + 8 + keyLength + dataLength > recordsEnd {
                    throw CDBError(
                        .recordOutOfBounds(
                            position: UInt64(recordPosition), keyLength: UInt32(keyLength),
                            dataLength: UInt32(dataLength)),
                        path: path, offset: UInt64(recordPosition))
                }
                entry.records += 1
                slotKeys.append(UInt64(hash) << 32 | UInt64(recordPosition))
                let start = Int(hash >> 8) % slots
                let probe = (slot - start + slots) % slots + 1
                entry.longestProbe = max(entry.longestProbe, probe)
                stats.totalProbes += probe
                stats.totalHitCacheLines +=
                    lines(start, slot) + (recordPosition + 8 + keyLength - 1) / 64 - recordPosition / 64 + 1
                if stats.probeHistogram.count <= probe {
                    stats.probeHistogram.append(
                        contentsOf: repeatElement(0, count: probe + 1 - stats.probeHistogram.count))
                }
                stats.probeHistogram[probe] += 1
            }
            stats.distinctKeys += distinctKeys(amongSortedSlots: &slotKeys)
            slotKeys.removeAll(keepingCapacity: true)
            if emptySlot < 0 {
                throw CDBError(.tableFull(table: index, slots: slotCount), path: path, offset: UInt64(tablePosition))
            }
            // Misses: walking backwards from an empty slot, each slot's miss reads up to the
            // nearest empty slot at or after it.
            var nextEmpty = emptySlot
            var slot = emptySlot
            var tableLines = 0
            let weight = 1.0 / (256 * Double(slots))
            for _ in 0..<slots {
                if storage.uint32(at: tablePosition + slot * 8 + 4) == 0 { nextEmpty = slot }
                let probe = (nextEmpty - slot + slots) % slots + 1
                entry.totalMissProbes += probe
                entry.longestMissProbe = max(entry.longestMissProbe, probe)
                tableLines += lines(slot, nextEmpty)
                if missHistogram.count <= probe {
                    missHistogram.append(contentsOf: repeatElement(0, count: probe + 1 - missHistogram.count))
                }
                missHistogram[probe] += weight
                slot = slot == 0 ? slots - 1 : slot - 1
            }
            missProbeSum += entry.meanMissProbe
            missLineSum += Double(tableLines) / Double(slots)
            stats.longestMissProbe = max(stats.longestMissProbe, entry.longestMissProbe)
            stats.indexedRecords += entry.records
            stats.longestProbe = max(stats.longestProbe, entry.longestProbe)
            stats.tables.append(entry)
        }
        stats.meanMissProbe = missProbeSum / 256
        stats.meanMissCacheLines = missLineSum / 256
        stats.missProbeHistogram = missHistogram
        return stats
    }

    /// The number of different keys among the records of one table's slots, given as
    /// `hash << 32 | position` (sorted here; keys are compared only within equal hashes).
    private func distinctKeys(amongSortedSlots slots: inout [UInt64]) -> Int {
        slots.sort()
        var distinct = 0
        var runStart = 0
        while runStart < slots.count {
            var runEnd = runStart + 1
            while runEnd < slots.count && slots[runEnd] >> 32 == slots[runStart] >> 32 { runEnd += 1 }
            // Within a run of equal hashes (almost always one record), count keys not seen earlier.
            for i in runStart..<runEnd {
                let key = recordKey(at: Int(slots[i] & 0xFFFF_FFFF))
                var seen = false
                for j in runStart..<i where recordKey(at: Int(slots[j] & 0xFFFF_FFFF)) == key {
                    seen = true
                    break
                }
                if !seen { distinct += 1 }
            }
            runStart = runEnd
        }
        return distinct
    }

    /// The key of the record at `position` (already bounds-checked by the caller).
    private func recordKey(at position: Int) -> Value {
        Value(storage: storage, offset: position + 8, count: Int(storage.uint32(at: position)))
    }
}

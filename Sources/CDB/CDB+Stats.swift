extension CDB {
    /// What a lookup costs in this file: table sizes, load and probe lengths.
    public struct Statistics: Sendable, Hashable {
        /// Per hash table: its slot count, records (non-empty slots) and the longest probe.
        public struct Table: Sendable, Hashable {
            public var index: Int
            public var position: UInt32
            public var slots: Int
            public var records: Int
            public var longestProbe: Int
            /// Records per slot (0 for an empty table).
            public var load: Double { slots == 0 ? 0 : Double(records) / Double(slots) }
        }

        public var records = 0
        /// Non-empty hash slots; equals ``records`` in a file written by a cdb writer.
        public var indexedRecords = 0
        public var bytes = 0
        public var keyBytes = 0
        public var dataBytes = 0
        public var distinctKeys = 0
        public var tables: [Table] = []
        /// Sum over all records of the slots read to find it (1 = found in its start slot).
        public var totalProbes = 0
        public var longestProbe = 0
        /// Probes needed to find records, by length (index 1 = one slot read).
        public var probeHistogram: [Int] = []

        public var totalSlots: Int { tables.reduce(0) { $0 + $1.slots } }
        public var usedTables: Int { tables.filter { $0.slots > 0 }.count }
        public var meanProbe: Double { records == 0 ? 0 : Double(totalProbes) / Double(records) }
        public var load: Double { totalSlots == 0 ? 0 : Double(records) / Double(totalSlots) }
    }

    /// Reads the whole file and measures it; also a full consistency check (every slot and record).
    public func statistics() throws(CDBError) -> Statistics {
        var stats = Statistics()
        stats.bytes = byteCount
        var cursor = records()
        var keys = Set<Value>()
        while let record = try cursor.next() {
            stats.records += 1
            stats.keyBytes += record.key.count
            stats.dataBytes += record.data.count
            keys.insert(record.key)
        }
        stats.distinctKeys = keys.count
        var indexed = 0
        for index in 0..<256 {
            let (position, slots) = table(index)
            var entry = Statistics.Table(
                index: index, position: position, slots: Int(slots), records: 0, longestProbe: 0)
            for slot in 0..<Int(slots) {
                let slotOffset = Int(position) + slot * 8
                let hash = storage.uint32(at: slotOffset)
                let recordPosition = Int(storage.uint32(at: slotOffset + 4))
                if recordPosition == 0 { continue }
                if recordPosition < 2048 || recordPosition > recordsEnd - 8 {
                    throw CDBError(
                        .recordPositionOutOfBounds(position: UInt32(recordPosition)), path: path,
                        offset: UInt64(slotOffset + 4))
                }
                entry.records += 1
                let start = Int(hash >> 8) % Int(slots)
                let probe = (slot - start + Int(slots)) % Int(slots) + 1
                entry.longestProbe = max(entry.longestProbe, probe)
                stats.totalProbes += probe
                if stats.probeHistogram.count <= probe {
                    stats.probeHistogram.append(contentsOf: repeatElement(0, count: probe + 1 - stats.probeHistogram.count))
                }
                stats.probeHistogram[probe] += 1
            }
            indexed += entry.records
            stats.longestProbe = max(stats.longestProbe, entry.longestProbe)
            stats.tables.append(entry)
        }
        stats.indexedRecords = indexed
        return stats
    }
}

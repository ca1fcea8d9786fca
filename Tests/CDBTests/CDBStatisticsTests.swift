import CDB
import TestSupport
import Testing

@Suite("cdb statistics")
struct CDBStatisticsTests {
    @Test("one record: every figure worked out by hand")
    func oneRecord() throws {
        let cdb = try CDB(bytes: CDBWriter.build([(Array("a".utf8), Array("b".utf8))]))
        let stats = try cdb.statistics()
        let table = Int(CDBHash.hash(Array("a".utf8)) & 255)
        #expect(stats.records == 1 && stats.indexedRecords == 1 && stats.distinctKeys == 1)
        #expect(stats.bytes == 2048 + 10 + 16)
        #expect(stats.keyBytes == 1 && stats.dataBytes == 1)
        #expect(stats.totalSlots == 2 && stats.usedTables == 1 && stats.load == 0.5)
        #expect(stats.tables[table].slots == 2 && stats.tables[table].records == 1)
        #expect(stats.tables[table].position == 2058)
        #expect(stats.meanProbe == 1 && stats.longestProbe == 1 && stats.probeHistogram == [0, 1])
        // The record's slot and its record both lie in the cache line of bytes 2048...2111.
        #expect(stats.meanHitCacheLines == 2)
        // A miss: 255 of 256 tables are empty (no slot read); in the used table, a miss starting
        // at the used slot reads 2 slots, one starting at the empty slot reads 1.
        #expect(stats.meanMissProbe == 1.5 / 256)
        #expect(stats.longestMissProbe == 2)
        let missHistogram: [Double] = [255.0 / 256, 0.5 / 256, 0.5 / 256]
        #expect(stats.missProbeHistogram == missHistogram)
        #expect(stats.meanMissCacheLines == 1.0 / 256)
    }

    @Test("probe counts agree with real lookups", arguments: [(1, 1), (300, 2), (4000, 3)])
    func agreesWithLookups(count: Int, seed: UInt64) throws {
        // Unique keys, so each record is what a lookup of its key finds.
        var seen = Set<[UInt8]>()
        let records = CDBImage.randomRecords(count: count, seed: seed).filter { seen.insert($0.0).inserted }
        let cdb = try CDB(bytes: CDBWriter.build(records))
        let stats = try cdb.statistics()
        #expect(stats.records == records.count && stats.distinctKeys == records.count)
        var histogram: [Int] = []
        var total = 0
        for (key, _) in records {
            try key.withUnsafeBytes { raw in
                var cursor = CDB.FindCursor(key: raw, in: cdb)
                let found = try cursor.next(in: cdb, key: raw)
                #expect(found != nil)
                total += cursor.probes
                if histogram.count <= cursor.probes { histogram += Array(repeating: 0, count: cursor.probes + 1 - histogram.count) }
                histogram[cursor.probes] += 1
            }
        }
        #expect(stats.totalProbes == total)
        #expect(stats.probeHistogram == histogram)
        #expect(stats.longestProbe == histogram.count - 1)
        // Misses from every start slot of every table, through the cursor with a made-up hash.
        let absent = [UInt8](repeating: 0xEE, count: 40)
        var meanMiss = 0.0
        var longestMiss = 0
        try absent.withUnsafeBytes { raw in
            for table in 0..<256 {
                let slots = Int(cdb.table(table).slots)
                if slots == 0 { continue }
                var sum = 0
                for start in 0..<slots {
                    var cursor = CDB.FindCursor(hash: UInt32(table) | UInt32(start) << 8, in: cdb)
                    let found = try cursor.next(in: cdb, key: raw)
                    #expect(found == nil)
                    sum += cursor.probes
                    longestMiss = max(longestMiss, cursor.probes)
                }
                meanMiss += Double(sum) / Double(slots) / 256
            }
        }
        #expect(abs(stats.meanMissProbe - meanMiss) < 1e-9)
        #expect(stats.longestMissProbe == longestMiss)
        #expect(abs(stats.missProbeHistogram.reduce(0, +) - 1) < 1e-9)
        #expect(stats.meanHitCacheLines >= 2 && stats.meanHitCacheLines < 4)
    }

    @Test("duplicates and hash collisions in distinct keys")
    func distinctKeys() throws {
        var records: [([UInt8], [UInt8])] = []
        for (a, b) in CDBImage.collidingKeys {
            records += [(a, [1]), (b, [2]), (a, [3])]
        }
        records += [([], []), ([], [1])]
        let stats = try CDB(bytes: CDBWriter.build(records)).statistics()
        #expect(stats.records == records.count)
        #expect(stats.distinctKeys == 2 * CDBImage.collidingKeys.count + 1)
    }
}

@Suite("sample domain names")
struct CDBSampleDomainsTests {
    @Test("reproducible, unique, shaped like morercpthosts entries")
    func shape() {
        let domains = CDBSampleDomains(seed: 1)
        var seen = Set<[UInt8]>()
        var kinds: [CDBSampleDomains.Kind: Int] = [:]
        let count = 50_000
        for index in 0..<count {
            let key = domains.key(index)
            #expect(seen.insert(key).inserted, "duplicate key at \(index)")
            kinds[domains.kind(index), default: 0] += 1
            let text = String(decoding: key, as: UTF8.self)
            if index < 2000 {
                #expect(key.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2e || ($0 >= 0x30 && $0 <= 0x39) })
                #expect(text.split(separator: ".").count >= 2)
                #expect(text.hasPrefix(".") == (domains.kind(index) == .subdomains))
            }
        }
        #expect(domains.key(12345) == CDBSampleDomains(seed: 1).key(12345))
        #expect(domains.key(12345) != CDBSampleDomains(seed: 2).key(12345))
        #expect(domains.string(0) == String(decoding: domains.key(0), as: UTF8.self))
        #expect(domains.key(CDBSampleDomains.capacity - 1).count > 5)
        let subdomainShare = Double(kinds[.subdomains, default: 0]) / Double(count)
        let hostShare = Double(kinds[.host, default: 0]) / Double(count)
        #expect(abs(subdomainShare - 0.2) < 0.02 && abs(hostShare - 0.1) < 0.02)
    }
}

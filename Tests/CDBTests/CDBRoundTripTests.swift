import CDB
import Foundation
import TestSupport
import Testing

@Suite("cdb round trips and lookups")
struct CDBRoundTripTests {
    /// What a correct reader must return for `records`: per key, its data in insertion order.
    static func expected(_ records: [([UInt8], [UInt8])]) -> [[UInt8]: [[UInt8]]] {
        var map: [[UInt8]: [[UInt8]]] = [:]
        for (key, data) in records { map[key, default: []].append(data) }
        return map
    }

    @Test("every record reads back: first, all, records, locations", arguments: [0, 1, 2, 17, 500, 3000])
    func roundTrip(count: Int) throws {
        let records = CDBImage.randomRecords(count: count, seed: UInt64(count) + 100)
        let cdb = try CDB(bytes: CDBWriter.build(records))
        let expected = Self.expected(records)
        let stored = try cdb.allRecords()
        #expect(stored.map(\.key.bytes) == records.map(\.0))
        #expect(stored.map(\.data.bytes) == records.map(\.1))
        #expect(stored.first?.position ?? 2048 == 2048)
        for (key, values) in expected {
            #expect(try cdb.first(key)?.bytes == values.first)
            #expect(try cdb.all(key).map(\.bytes) == values)
            let location = try key.withUnsafeBytes { try cdb.firstLocation($0) }
            #expect(location.map { cdb.value(at: $0).bytes } == values.first)
            #expect(location.map { cdb.withUnsafeBytes(at: $0) { Array($0) } } == values.first)
        }
        // Keys that are not there.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let key = (0..<Int.random(in: 25...30, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(try cdb.first(key) == nil)
            #expect(try cdb.all(key).isEmpty)
        }
    }

    @Test("file written by CDBWriter(path:) equals the in-memory build and reads back")
    func fileRoundTrip() throws {
        let records = CDBImage.randomRecords(count: 2000, seed: 3)
        let dir = try TestSupport.temporaryDirectory("cdb-roundtrip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try CDBWriter(path: "\(dir)/f.cdb")
        for (key, data) in records { try writer.add(key: key, data: data) }
        #expect(writer.count == 2000)
        try writer.finish()
        #expect(try TestSupport.read("\(dir)/f.cdb") == CDBWriter.build(records))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["f.cdb"])
        let cdb = try CDB(contentsOf: "\(dir)/f.cdb")
        #expect(cdb.path == "\(dir)/f.cdb")
        #expect(try cdb.allRecords().map(\.data.bytes) == records.map(\.1))
    }

    @Test("strings, empty keys, empty data and duplicates")
    func strings() throws {
        let writer = CDBWriter()
        try writer.add(key: "example.com", data: "")
        try writer.add(key: "", data: "empty key")
        try writer.add(key: "dup", data: "one")
        try writer.add(key: "dup", data: "two")
        try writer.add(key: "dup", data: "three")
        try writer.add(key: "ünïcödé", data: "ß")
        let cdb = try CDB(bytes: try writer.finishInMemory())
        #expect(try cdb.first("example.com")?.isEmpty == true)
        #expect(try cdb.contains("example.com"))
        #expect(try !cdb.contains("example.org"))
        #expect(try cdb.first("")?.string == "empty key")
        #expect(try cdb.first("dup")?.string == "one")
        #expect(try cdb.all("dup").map(\.string) == ["one", "two", "three"])
        #expect(try cdb.first("ünïcödé")?.string == "ß")
        #expect(cdb.byteCount == 2048 + (8 + 11) + (8 + 9) + (8 + 6) + (8 + 6) + (8 + 8) + (8 + 11 + 2) + 6 * 16)
    }

    @Test("the empty database: 2048-byte header, every table empty")
    func emptyDatabase() throws {
        let bytes = try CDBWriter.build([([UInt8], [UInt8])]())
        #expect(bytes.count == 2048)
        let cdb = try CDB(bytes: bytes)
        for table in 0..<256 { #expect(cdb.table(table) == (2048, 0)) }
        #expect(try cdb.first("anything") == nil)
        #expect(try cdb.allRecords().isEmpty)
        #expect(cdb.recordAreaEnd == 2048)
    }

    @Test("keys with the same 32-bit hash are told apart")
    func hashCollisions() throws {
        var records: [([UInt8], [UInt8])] = []
        for (n, (a, b)) in CDBImage.collidingKeys.enumerated() {
            #expect(CDBHash.hash(a) == CDBHash.hash(b), "the pair must collide for this test to mean anything")
            #expect(a != b)
            records.append((a, Array("a\(n)".utf8)))
            records.append((b, Array("b\(n)".utf8)))
        }
        let cdb = try CDB(bytes: CDBWriter.build(records))
        for (n, (a, b)) in CDBImage.collidingKeys.enumerated() {
            #expect(try cdb.first(a)?.string == "a\(n)")
            #expect(try cdb.first(b)?.string == "b\(n)")
            #expect(try cdb.firstBatch([a, b, a]).map { $0?.string } == ["a\(n)", "b\(n)", "a\(n)"])
        }
    }

    @Test("the hash function matches the format's definition")
    func hashFunction() {
        #expect(CDBHash.hash([UInt8]()) == 5381)
        #expect(CDBHash.hash(Array("a".utf8)) == (5381 &* 33) ^ 0x61)
        var h: UInt32 = 5381
        for byte in "example.com".utf8 { h = (h &* 33) ^ UInt32(byte) }
        #expect(CDBHash.hash(Array("example.com".utf8)) == h)
        #expect(Array("example.com".utf8).withUnsafeBytes { CDBHash.hash($0) } == h)
    }

    @Test("FindCursor walks every record of a key and counts its probes")
    func findCursor() throws {
        let records: [([UInt8], [UInt8])] = (0..<50).map { (Array("k\($0 % 5)".utf8), Array("\($0)".utf8)) }
        let bytes = try CDBWriter.build(records)
        let cdb = try CDB(bytes: bytes)
        let key = Array("k3".utf8)
        var found: [String] = []
        try key.withUnsafeBytes { raw in
            var cursor = CDB.FindCursor(key: raw, in: cdb)
            while let value = try cursor.next(in: cdb, key: raw) { found.append(value.string) }
            #expect(cursor.probes >= 10)
            #expect(try cursor.next(in: cdb, key: raw) == nil)
        }
        #expect(found == stride(from: 3, to: 50, by: 5).map { "\($0)" })
    }

    @Test("CDBMakeFormat prints what cdbdump prints")
    func makeFormat() {
        let records: [([UInt8], [UInt8])] = [(Array("one".utf8), Array("Hello".utf8)), ([], []), ([0x0a], [0x00, 0xff])]
        #expect(
            CDBMakeFormat.format(records)
                == Array("+3,5:one->Hello\n+0,0:->\n+1,2:\n->".utf8) + [0x00, 0xff] + Array("\n\n".utf8))
    }
}

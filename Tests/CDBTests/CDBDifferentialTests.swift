import CDB
import Foundation
import TestSupport
import Testing

/// Byte-for-byte comparison with the C tools: freecdb's `cdbmake` and tinycdb's `cdb -c`.
@Suite("cdb files identical to cdbmake and tinycdb")
struct CDBDifferentialTests {
    static let haveCdbmake = TestSupport.has("cdbmake")
    static let haveTinycdb = TestSupport.has("cdb")

    /// Random records: binary keys, duplicates, empty keys and values.
    static func randomRecords(count: Int, seed: UInt64) -> [([UInt8], [UInt8])] {
        var rng = SplitMix64(seed: seed)
        var records: [([UInt8], [UInt8])] = []
        records.reserveCapacity(count)
        for index in 0..<count {
            let keyLength = Int.random(in: 0...24, using: &rng)
            let dataLength = Int.random(in: 0...40, using: &rng)
            var key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if index > 0 && Int.random(in: 0..<10, using: &rng) == 0 {
                key = records[Int.random(in: 0..<index, using: &rng)].0  // a duplicate key
            }
            let data = (0..<dataLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            records.append((key, data))
        }
        return records
    }

    @Test("cdbmake output equals ours", .enabled(if: haveCdbmake, "cdbmake (Debian freecdb) is not installed"),
          arguments: [(0, 1), (1, 2), (7, 3), (1000, 4), (100_000, 5)])
    func matchesCdbmake(count: Int, seed: UInt64) throws {
        let records = Self.randomRecords(count: count, seed: seed)
        let ours = try CDBWriter.build(records)
        let dir = try TestSupport.temporaryDirectory("cdbmake")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try TestSupport.run("cdbmake", ["\(dir)/c.cdb", "\(dir)/c.tmp"], input: CDBMakeFormat.format(records))
        #expect(result.status == 0, "cdbmake failed: \(result.stderrText)")
        let theirs = try TestSupport.read("\(dir)/c.cdb")
        #expect(ours == theirs)
    }

    @Test("tinycdb's cdb -c output equals ours", .enabled(if: haveTinycdb, "tinycdb's cdb is not installed"),
          arguments: [(0, 11), (3, 12), (1000, 13), (100_000, 14)])
    func matchesTinycdb(count: Int, seed: UInt64) throws {
        let records = Self.randomRecords(count: count, seed: seed)
        let ours = try CDBWriter.build(records)
        let dir = try TestSupport.temporaryDirectory("tinycdb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write(CDBMakeFormat.format(records), to: "\(dir)/in.txt")
        let result = try TestSupport.run("cdb", ["-c", "-t", "\(dir)/t.tmp", "\(dir)/t.cdb", "\(dir)/in.txt"])
        #expect(result.status == 0, "cdb -c failed: \(result.stderrText)")
        let theirs = try TestSupport.read("\(dir)/t.cdb")
        #expect(ours == theirs)
    }

    @Test("files made by cdbmake read back", .enabled(if: haveCdbmake, "cdbmake (Debian freecdb) is not installed"))
    func readsCdbmakeFiles() throws {
        let records = Self.randomRecords(count: 5000, seed: 99)
        let dir = try TestSupport.temporaryDirectory("cdbread")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try TestSupport.run("cdbmake", ["\(dir)/c.cdb", "\(dir)/c.tmp"], input: CDBMakeFormat.format(records))
        let cdb = try CDB(contentsOf: "\(dir)/c.cdb")
        let all = try cdb.allRecords()
        #expect(all.map { $0.key.bytes } == records.map { $0.0 })
        #expect(all.map { $0.data.bytes } == records.map { $0.1 })
        for (index, (key, _)) in records.enumerated() {
            let expected = records.enumerated().filter { $0.element.0 == key }.map { $0.element.1 }
            if index % 50 == 0 {
                #expect(try cdb.all(key).map(\.bytes) == expected)
            }
            #expect(try cdb.first(key)?.bytes == expected.first)
        }
    }
}

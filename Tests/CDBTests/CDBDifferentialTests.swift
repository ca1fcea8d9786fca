import CDB
import Foundation
import TestSupport
import Testing

/// Byte-for-byte comparison with the C tools: freecdb's `cdbmake` and tinycdb's `cdb -c`.
@Suite("cdb files identical to cdbmake and tinycdb")
struct CDBDifferentialTests {
    static let haveCdbmake = TestSupport.has("cdbmake")
    static let haveTinycdb = TestSupport.has("cdb")

    static func randomRecords(count: Int, seed: UInt64) -> [([UInt8], [UInt8])] {
        CDBImage.randomRecords(count: count, seed: seed)
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
        var expected: [[UInt8]: [[UInt8]]] = [:]
        for (key, data) in records { expected[key, default: []].append(data) }
        for (index, (key, values)) in expected.enumerated() {
            if index % 50 == 0 {
                #expect(try cdb.all(key).map(\.bytes) == values)
            }
            #expect(try cdb.first(key)?.bytes == values.first)
        }
    }

    @Test("records print exactly as cdbdump prints them", .enabled(if: TestSupport.has("cdbmake", "cdbdump"), "cdbmake/cdbdump (Debian freecdb) are not installed"))
    func dumpMatchesCdbdump() throws {
        let records = Self.randomRecords(count: 3000, seed: 8)
        let dir = try TestSupport.temporaryDirectory("cdbdump")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try TestSupport.run("cdbmake", ["\(dir)/c.cdb", "\(dir)/c.tmp"], input: CDBMakeFormat.format(records))
        let theirs = try TestSupport.run("sh", ["-c", "cdbdump < \"$0\"", "\(dir)/c.cdb"])
        #expect(theirs.status == 0)
        let cdb = try CDB(contentsOf: "\(dir)/c.cdb")
        let ours = CDBMakeFormat.format(try cdb.allRecords().map { ($0.key.bytes, $0.data.bytes) })
        #expect(ours == theirs.stdout)
    }
}

// Inputs the fuzz-tcprules harness (Fuzz/) found, kept as regression tests. Each committed
// crasher lives in Fuzz/Corpus/tcprules/ and is replayed here through the property it broke.

import CDB
import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("tcprules fuzzing regressions")
struct TCPRulesFuzzRegressionTests {
    /// tcpserver finds keys only through the hash tables; the in-memory index was built from the
    /// record area, so a record no slot leads to was "found" by the index and not by tcpserver.
    @Test func indexFindsOnlyWhatTheHashTablesLeadTo() throws {
        var bytes = try CDBWriter.build([(Array("012.".utf8), Array("+X=1\0".utf8)), ([UInt8](), [UInt8]())])
        // Empty the slot of "012." (its table is hash & 255; its one record sits in slot 0 or 1).
        let hash = CDBHash.hash(Array("012.".utf8))
        let table = Int(hash & 255)
        let cdb = try CDB(bytes: bytes)
        let (position, slots) = cdb.table(table)
        for slot in 0..<Int(slots) {
            let offset = Int(position) + slot * 8
            let stored = bytes[offset..<offset + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
            if stored == hash { for index in offset..<offset + 8 { bytes[index] = 0 } }
        }
        let damaged = try CDB(bytes: bytes)
        let indexed = RulesDatabase(cdb: damaged, path: "t.cdb", source: nil, indexed: true)
        let probing = RulesDatabase(cdb: damaged, path: "t.cdb", source: nil, indexed: false)
        let client = RuleClient(ip: "012.7")
        #expect(try probing.match(client).key == "")
        #expect(try indexed.match(client) == probing.match(client))
        #expect(try indexed.lookup(client)?.bytes == probing.lookup(client)?.bytes)
    }

    /// A cdb whose table has no empty slot: every lookup of a missing key in it fails (tcpserver
    /// drops the connection), so the index must not answer "not found" instead.
    @Test func fullTableIsNotIndexed() throws {
        var bytes = try CDBWriter.build([(Array("a".utf8), [UInt8]())])
        let hash = CDBHash.hash(Array("a".utf8))
        let cdb = try CDB(bytes: bytes)
        let (position, slots) = cdb.table(Int(hash & 255))
        // Fill the empty slot with a copy of the used one: the table is now full.
        let used = (0..<Int(slots)).first { slot in bytes[(Int(position) + slot * 8 + 4)..<(Int(position) + slot * 8 + 8)].contains { $0 != 0 } }!
        let empty = (0..<Int(slots)).first { $0 != used }!
        for index in 0..<8 { bytes[Int(position) + empty * 8 + index] = bytes[Int(position) + used * 8 + index] }
        let full = try CDB(bytes: bytes)
        let indexed = RulesDatabase(cdb: full, path: "t.cdb", source: nil, indexed: true)
        #expect(!indexed.isIndexed)
        #expect(try indexed.match(RuleClient(ip: "a")).key == "a")
    }

    @Test func committedCrashersKeepIndexAndProbingInAgreement() throws {
        let folder = TestSupport.packageRoot + "/Fuzz/Corpus/tcprules"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasPrefix("regression-") {
            let input = try TestSupport.read(folder + "/" + name)
            guard input.first.map({ $0 & 0x80 != 0 }) == true else { continue }
            let body = input.dropFirst()
            let split = body.firstIndex(of: 0xFF) ?? body.endIndex
            guard let cdb = try? CDB(bytes: body[..<split]) else { continue }
            let indexed = RulesDatabase(cdb: cdb, path: name, source: nil, indexed: true)
            let probing = RulesDatabase(cdb: cdb, path: name, source: nil, indexed: false)
            var clients = [RuleClient(ip: "012.7", host: "mx.example.com"), RuleClient(ip: "127.0.0.1")]
            var cursor = cdb.records()
            while let record = try? cursor.next() { clients.append(RuleClient(ip: record.key.string, host: record.key.string)) }
            for client in clients {
                let a = Result { try indexed.match(client) }
                let b = Result { try probing.match(client) }
                if case .success(let x) = a, case .success(let y) = b {
                    #expect(x == y, "\(name): \(client)")
                }
            }
        }
    }
}

import CDB
import Foundation
import TestSupport
import Testing

/// Hostile and damaged files: every one gives a typed error naming the file and the offset of
/// the bad field — never a crash, an out-of-bounds read or an endless loop.
@Suite("corrupt cdb files")
struct CDBCorruptionTests {
    static let records: [([UInt8], [UInt8])] = (0..<64).map {
        (Array("domain\($0).example".utf8), Array("value \($0)".utf8))
    }
    static let good: [UInt8] = try! CDBWriter.build(records)
    static let key = records[10].0

    /// Opens `bytes` as `name` and returns the error of `operation`, or nil if it succeeded.
    static func error(_ bytes: [UInt8], _ operation: (CDB) throws(CDBError) -> Void) -> CDBError? {
        do {
            try operation(CDB(bytes: bytes, name: "damaged.cdb"))
            return nil
        } catch {
            return error
        }
    }

    @Test("truncated header", arguments: [0, 1, 100, 2047])
    func truncatedHeader(size: Int) throws {
        let error = Self.error(Array(Self.good.prefix(size))) { _ in }
        #expect(error == CDBError(.truncatedHeader(size: size), path: "damaged.cdb", offset: UInt64(size)))
        #expect(error?.description.hasPrefix("damaged.cdb: offset \(size): truncated cdb header") == true)

        let dir = try TestSupport.temporaryDirectory("cdb-trunc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write(Array(Self.good.prefix(size)), to: "\(dir)/t.cdb")
        #expect(throws: CDBError(.truncatedHeader(size: size), path: "\(dir)/t.cdb", offset: UInt64(size))) {
            try CDB(contentsOf: "\(dir)/t.cdb")
        }
    }

    @Test("a file cut short inside the tables or records")
    func truncatedBody() {
        for size in [2049, 3000, Self.good.count - 1] {
            let error = Self.error(Array(Self.good.prefix(size))) { _ in }
            guard case .tableOutOfBounds = error?.kind else {
                Issue.record("size \(size): \(String(describing: error))")
                continue
            }
            #expect(error?.path == "damaged.cdb")
            #expect(error.flatMap(\.offset).map { $0 % 8 == 0 && $0 < 2048 } == true)
        }
    }

    @Test("table positions and slot counts past the end, or inside the header")
    func tableOutOfBounds() {
        let table = Int(CDBHash.hash(Self.key) & 255)
        let (position, slots) = CDBImage.table(Self.good, table)
        let cases: [(UInt32, UInt32)] = [
            (UInt32(Self.good.count) + 8, UInt32(slots)),  // position past the end
            (UInt32(position), UInt32(slots) + 10_000),  // slots run past the end
            (UInt32(position), 0xFFFF_FFFF),  // slot count overflowing 32-bit byte arithmetic
            (0xFFFF_FFFF, 0xFFFF_FFFF),
            (100, 2),  // inside the header
        ]
        for (badPosition, badSlots) in cases {
            var bytes = Self.good
            CDBImage.set(&bytes, table * 8, badPosition)
            CDBImage.set(&bytes, table * 8 + 4, badSlots)
            let error = Self.error(bytes) { _ in }
            #expect(
                error
                    == CDBError(
                        .tableOutOfBounds(table: table, position: badPosition, slots: badSlots), path: "damaged.cdb",
                        offset: UInt64(table * 8)))
        }
    }

    @Test("record lengths past the end and length overflow")
    func recordOutOfBounds() throws {
        let position = try #require(CDBImage.recordPosition(of: Self.key, in: Self.good))
        let keyLength = UInt32(Self.key.count)
        let lengths: [(UInt32, UInt32)] = [
            (keyLength, 100_000), (0xFFFF_FFFF, 0xFFFF_FFFF), (keyLength, 0xFFFF_FFF0), (0x7FFF_FFFF, 0x8000_0001),
        ]
        for (keyLength, dataLength) in lengths {
            var bytes = Self.good
            CDBImage.set(&bytes, position, keyLength)
            CDBImage.set(&bytes, position + 4, dataLength)
            let expected = CDBError(
                .recordOutOfBounds(position: UInt64(position), keyLength: keyLength, dataLength: dataLength),
                path: "damaged.cdb", offset: UInt64(position))
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.first(Self.key) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.all(Self.key) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.firstBatch([Self.key]) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.allRecords() } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.statistics() } == expected)
        }
    }

    @Test("the record area ends in the middle of a record header")
    func truncatedRecordArea() throws {
        // Table 0's position marks the end of the records; move it 3 bytes into the last record.
        var bytes = Self.good
        let (table0, _) = CDBImage.table(bytes, 0)
        var recordsEnd = table0
        for table in 0..<256 { recordsEnd = min(recordsEnd, CDBImage.table(bytes, table).position) }
        let lastRecord = try #require(CDBImage.recordPosition(of: Self.records.last!.0, in: bytes))
        for table in 0..<256 where CDBImage.table(bytes, table).slots == 0 {
            CDBImage.set(&bytes, table * 8, UInt32(lastRecord + 3))
        }
        let error = Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.allRecords() }
        #expect(
            error
                == CDBError(
                    .recordOutOfBounds(position: UInt64(lastRecord), keyLength: 0, dataLength: 0), path: "damaged.cdb",
                    offset: UInt64(lastRecord)))
        #expect(recordsEnd > lastRecord)
    }

    @Test("a slot that points at itself, into the tables, into the header or past the records")
    func slotPointsOutside() throws {
        let slotOffset = try #require(CDBImage.slotOffset(of: Self.key, in: Self.good))
        let recordsEnd = (0..<256).map { CDBImage.table(Self.good, $0).position }.min()!
        for target in [UInt32(slotOffset), UInt32(recordsEnd), UInt32(recordsEnd - 7), 100, 2047, 0xFFFF_FFFF] {
            var bytes = Self.good
            CDBImage.set(&bytes, slotOffset + 4, target)
            let expected = CDBError(
                .recordPositionOutOfBounds(position: target), path: "damaged.cdb", offset: UInt64(slotOffset + 4))
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.first(Self.key) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.all(Self.key) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.firstBatch([Self.key]) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.statistics() } == expected)
        }
    }

    @Test("a slot pointing at another record finds nothing wrong but no match")
    func slotPointsAtOtherRecord() throws {
        var bytes = Self.good
        let slotOffset = try #require(CDBImage.slotOffset(of: Self.key, in: bytes))
        CDBImage.set(&bytes, slotOffset + 4, 2048)  // the first record: a valid record, a different key
        let cdb = try CDB(bytes: bytes, name: "damaged.cdb")
        #expect(try cdb.first(Self.key) == nil)
        #expect(try cdb.firstBatch([Self.key]) == [nil])
    }

    @Test("a table with no empty slot: a missing key ends with an error, not a hang")
    func fullTable() throws {
        let table = Int(CDBHash.hash(Self.key) & 255)
        let (position, slots) = CDBImage.table(Self.good, table)
        let present = try #require(CDBImage.slotOffset(of: Self.key, in: Self.good))
        let expected = CDBError(
            .tableFull(table: table, slots: UInt32(slots)), path: "damaged.cdb", offset: UInt64(position))
        // Variant 1: fill every empty slot with a copy of a used one (hash matches nothing else).
        // Variant 2: every slot carries the missing key's hash and points at one real record,
        // so each probe also reads and compares a record.
        let missing = CDBImage.missingKey(inTable: table, avoiding: Set(Self.records.map(\.0)))
        for variant in 1...2 {
            var bytes = Self.good
            for slot in 0..<slots {
                let offset = position + slot * 8
                if variant == 1 {
                    if CDBImage.uint32(bytes, offset + 4) == 0 {
                        CDBImage.set(&bytes, offset, CDBImage.uint32(bytes, present) ^ 0x100)
                        CDBImage.set(&bytes, offset + 4, CDBImage.uint32(bytes, present + 4))
                    }
                } else {
                    CDBImage.set(&bytes, offset, CDBHash.hash(missing))
                    CDBImage.set(&bytes, offset + 4, 2048)
                }
            }
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.first(missing) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.all(missing) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.firstBatch([missing]) } == expected)
            #expect(Self.error(bytes) { cdb throws(CDBError) in _ = try cdb.statistics() } == expected)
            if variant == 1 {
                // Keys that are there are still found.
                #expect(try CDB(bytes: bytes).first(Self.key)?.string == "value 10")
            }
        }
    }

    @Test("error messages name the file and the offset")
    func messages() {
        let error = CDBError(.recordPositionOutOfBounds(position: 5), path: "tcp.smtp.cdb", offset: 4100)
        #expect(
            error.description
                == "tcp.smtp.cdb: offset 4100: hash slot points at position 5, outside the record area")
        let format = CDBError(.badFormat(line: 3, message: "x"), path: "in.txt", offset: 17)
        #expect(format.description == "in.txt: line 3: offset 17: bad cdbmake input: x")
        let system = CDBError(.system(operation: "open", errno: ENOENT), path: "/nope")
        #expect(system.description == "/nope: unable to open: file does not exist")
    }

    /// Random damage anywhere; every operation must return or throw an error that names the
    /// file and an offset inside it.
    @Test("random damage never crashes or hangs", arguments: 0..<4)
    func fuzz(seed: UInt64) {
        var rng = SplitMix64(seed: 77 + seed)
        let keys = Self.records.map(\.0) + [Array("absent".utf8), []]
        for _ in 0..<250 {
            var bytes = Self.good
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                // Half the damage in the header, where it hurts most.
                let offset =
                    Bool.random(using: &rng)
                    ? Int.random(in: 0..<2048, using: &rng) : Int.random(in: 0..<bytes.count, using: &rng)
                bytes[offset] = UInt8.random(in: 0...255, using: &rng)
            }
            if Int.random(in: 0..<8, using: &rng) == 0 { bytes.removeLast(Int.random(in: 1...200, using: &rng)) }
            for operation in 0..<5 {
                let error = Self.error(bytes) { cdb throws(CDBError) in
                    switch operation {
                    case 0: for key in keys { _ = try cdb.first(key) }
                    case 1: for key in keys { _ = try cdb.all(key) }
                    case 2: _ = try cdb.firstBatch(keys)
                    case 3: _ = try cdb.allRecords()
                    default: _ = try cdb.statistics()
                    }
                }
                if let error {
                    #expect(error.path == "damaged.cdb")
                    #expect(error.offset.map { $0 <= UInt64(bytes.count) } == true, "\(error)")
                }
            }
        }
    }
}

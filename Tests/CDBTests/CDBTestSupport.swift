import CDB
import TestSupport

/// Building and patching cdb images for the tests.
enum CDBImage {
    /// Reads the little-endian 32-bit integer at `offset`.
    static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    /// Writes `value` little-endian at `offset`.
    static func set(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    /// `(position, slots)` of table `table`.
    static func table(_ bytes: [UInt8], _ table: Int) -> (position: Int, slots: Int) {
        (Int(uint32(bytes, table * 8)), Int(uint32(bytes, table * 8 + 4)))
    }

    /// The offset of the slot that indexes the first record with `key`.
    static func slotOffset(of key: [UInt8], in bytes: [UInt8]) -> Int? {
        let hash = CDBHash.hash(key)
        let (position, slots) = table(bytes, Int(hash & 255))
        guard slots > 0 else { return nil }
        var slot = Int(hash >> 8) % slots
        for _ in 0..<slots {
            let offset = position + slot * 8
            let recordPosition = Int(uint32(bytes, offset + 4))
            if recordPosition == 0 { return nil }
            if uint32(bytes, offset) == hash {
                let keyLength = Int(uint32(bytes, recordPosition))
                if Array(bytes[(recordPosition + 8)..<(recordPosition + 8 + keyLength)]) == key { return offset }
            }
            slot = (slot + 1) % slots
        }
        return nil
    }

    /// The position of the first record with `key`.
    static func recordPosition(of key: [UInt8], in bytes: [UInt8]) -> Int? {
        slotOffset(of: key, in: bytes).map { Int(uint32(bytes, $0 + 4)) }
    }

    /// A key, not among `keys`, whose hash falls in table `table`.
    static func missingKey(inTable table: Int, avoiding keys: Set<[UInt8]>) -> [UInt8] {
        var n = 0
        while true {
            let key = Array("missing-\(n)".utf8)
            if CDBHash.hash(key) & 255 == UInt32(table) && !keys.contains(key) { return key }
            n += 1
        }
    }

    /// Random records: binary keys, duplicates, empty keys and values.
    static func randomRecords(count: Int, seed: UInt64, maxKey: Int = 24, maxData: Int = 40) -> [([UInt8], [UInt8])] {
        var rng = SplitMix64(seed: seed)
        var records: [([UInt8], [UInt8])] = []
        records.reserveCapacity(count)
        for index in 0..<count {
            let keyLength = Int.random(in: 0...maxKey, using: &rng)
            let dataLength = Int.random(in: 0...maxData, using: &rng)
            var key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if index > 0 && Int.random(in: 0..<10, using: &rng) == 0 {
                key = records[Int.random(in: 0..<index, using: &rng)].0  // a duplicate key
            }
            let data = (0..<dataLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            records.append((key, data))
        }
        return records
    }

    /// Pairs of different keys with the same cdb hash (found by search; checked by the tests).
    static let collidingKeys: [([UInt8], [UInt8])] = [
        ("c15849.example", "c2060270.example"), ("c11987.example", "c2064710.example"),
        ("c83301.example", "c2018938.example"), ("c33897.example", "c2046240.example"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }
}

// An immutable, allocation-free lookup table for control-file entries (qmail's constmap):
// byte-string keys compared ASCII-case-insensitively (only A-Z fold, as case_diffb does; 8-bit
// bytes compare exactly). Lookups take a buffer pointer so the hot RCPT path never allocates.

/// A set of byte strings, each mapped to the index of the entry it came from.
final class _ByteTable: Sendable {
    /// Every key, lower-cased, back to back.
    private let keyBytes: [UInt8]
    /// Start of each key in `keyBytes`.
    private let starts: [Int]
    /// Length of each key.
    private let lengths: [Int]
    /// The caller's entry index for each key.
    private let payloads: [Int]
    /// Open-addressing slots: -1 empty, otherwise an index into `starts`.
    private let slots: [Int]
    private let mask: Int

    /// Builds the table; when a key occurs twice the first one is kept (its payload is reported).
    init(keys: [(key: [UInt8], payload: Int)]) {
        var capacity = 8
        while capacity < keys.count * 2 { capacity <<= 1 }
        var keyBytes: [UInt8] = []
        var starts: [Int] = []
        var lengths: [Int] = []
        var payloads: [Int] = []
        var slots = [Int](repeating: -1, count: capacity)
        let mask = capacity - 1
        for (key, payload) in keys {
            let folded = key.map(_ByteTable.fold)
            let hash = folded.withUnsafeBufferPointer { _ByteTable.hash($0) }
            var slot = hash & mask
            var duplicate = false
            while slots[slot] >= 0 {
                let other = slots[slot]
                if lengths[other] == folded.count
                    && keyBytes[starts[other]..<(starts[other] + lengths[other])].elementsEqual(folded)
                {
                    duplicate = true
                    break
                }
                slot = (slot + 1) & mask
            }
            if duplicate { continue }
            slots[slot] = starts.count
            starts.append(keyBytes.count)
            lengths.append(folded.count)
            payloads.append(payload)
            keyBytes.append(contentsOf: folded)
        }
        self.keyBytes = keyBytes
        self.starts = starts
        self.lengths = lengths
        self.payloads = payloads
        self.slots = slots
        self.mask = mask
    }

    /// Number of distinct keys.
    var count: Int { starts.count }

    /// The payload of `key` (compared case-insensitively), or nil.
    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = _ByteTable.hash(key)
        var slot = hash & mask
        return keyBytes.withUnsafeBufferPointer { stored in
            while true {
                let index = slots[slot]
                if index < 0 { return nil }
                if lengths[index] == key.count {
                    let start = starts[index]
                    var equal = true
                    for offset in 0..<key.count where stored[start + offset] != _ByteTable.fold(key[offset]) {
                        equal = false
                        break
                    }
                    if equal { return payloads[index] }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Convenience for callers holding an array.
    func find(_ key: [UInt8]) -> Int? {
        key.withUnsafeBufferPointer { find($0) }
    }

    @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        byte &- 65 < 26 ? byte | 0x20 : byte
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h = (h ^ UInt64(fold(byte))) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}

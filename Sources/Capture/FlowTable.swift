// Connection lookup: a canonical 4-tuple key and a compact open-addressing hash table
// (linear probing, backward-shift deletion, a cheap multiplicative hash).

/// An IP address in 128 bits; IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`).
struct IPAddress: Hashable, Comparable {
    var hi: UInt64
    var lo: UInt64

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    init(v4: UInt32) {
        hi = 0
        lo = 0x0000_FFFF_0000_0000 | UInt64(v4)
    }

    var isV4: Bool { hi == 0 && lo >> 32 == 0x0000_FFFF }

    static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo
    }

    /// Dotted quad for IPv4, RFC 5952 for IPv6.
    var text: String {
        if isV4 {
            let v = UInt32(truncatingIfNeeded: lo)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        var groups = [Int](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = Int((hi >> UInt64(48 - 16 * i)) & 0xFFFF)
            groups[4 + i] = Int((lo >> UInt64(48 - 16 * i)) & 0xFFFF)
        }
        // The longest run (at least two) of zero groups becomes "::" (the first on ties).
        var bestStart = -1
        var bestLength = 0
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 {
                    bestStart = i
                    bestLength = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// A TCP connection's addresses and ports in canonical order (side A is the lower endpoint).
struct FlowKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    var aPort: UInt16
    var bPort: UInt16

    /// The key for a packet from `source:sourcePort` to `destination:destinationPort`, and
    /// whether the packet was sent by side A.
    static func make(
        source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16
    ) -> (key: FlowKey, fromA: Bool) {
        if source < destination || (source == destination && sourcePort <= destinationPort) {
            return (FlowKey(a: source, b: destination, aPort: sourcePort, bPort: destinationPort), true)
        }
        return (FlowKey(a: destination, b: source, aPort: destinationPort, bPort: sourcePort), false)
    }

    var hashValue64: UInt64 {
        var h = a.hi &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ a.lo) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ b.hi) &* 0x94D0_49BB_1331_11EB
        h = (h ^ b.lo) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (UInt64(aPort) << 16 | UInt64(bPort))) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 29)
    }
}

/// Maps flow keys to small integer values (connection slots). Values must be non-zero.
/// Probing compares 64-bit hashes in a dense array; the full key is compared only when the
/// hash matches.
struct FlowTable {
    private struct Entry {
        var hash: UInt64
        var value: Int32
    }

    private static let emptyKey = FlowKey(a: IPAddress(hi: 0, lo: 0), b: IPAddress(hi: 0, lo: 0), aPort: 0, bPort: 0)

    private var entries: [Entry]
    private var keys: [FlowKey]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        entries = [Entry](repeating: Entry(hash: 0, value: 0), count: size)
        keys = [FlowKey](repeating: Self.emptyKey, count: size)
        mask = size - 1
    }

    @inline(__always)
    func value(for key: FlowKey) -> Int32? {
        let hash = key.hashValue64
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = entries[index]
            if entry.value == 0 { return nil }
            if entry.hash == hash && keys[index] == key { return entry.value }
            index = (index + 1) & mask
        }
    }

    mutating func set(_ value: Int32, for key: FlowKey) {
        precondition(value != 0)
        if (count + 1) * 2 > entries.count { grow() }
        let hash = key.hashValue64
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            if entries[index].value == 0 {
                entries[index] = Entry(hash: hash, value: value)
                keys[index] = key
                count += 1
                return
            }
            if entries[index].hash == hash && keys[index] == key {
                entries[index].value = value
                return
            }
            index = (index + 1) & mask
        }
    }

    /// Removes `key` (only when it maps to `expected`, if given).
    mutating func remove(_ key: FlowKey, ifValue expected: Int32? = nil) {
        let hash = key.hashValue64
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            if entries[index].value == 0 { return }
            if entries[index].hash == hash && keys[index] == key { break }
            index = (index + 1) & mask
        }
        if let expected, entries[index].value != expected { return }
        // Backward-shift deletion keeps every probe sequence unbroken.
        var hole = index
        var next = (hole + 1) & mask
        while entries[next].value != 0 {
            let home = Int(truncatingIfNeeded: entries[next].hash) & mask
            // Move `next` into the hole when its home is not in (hole, next] cyclically.
            if (hole - home) & mask < (next - home) & mask {
                entries[hole] = entries[next]
                keys[hole] = keys[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        entries[hole].value = 0
        count -= 1
    }

    private mutating func grow() {
        let oldEntries = entries
        let oldKeys = keys
        entries = [Entry](repeating: Entry(hash: 0, value: 0), count: oldEntries.count * 2)
        keys = [FlowKey](repeating: Self.emptyKey, count: oldEntries.count * 2)
        mask = entries.count - 1
        count = 0
        for index in oldEntries.indices where oldEntries[index].value != 0 {
            set(oldEntries[index].value, for: oldKeys[index])
        }
    }
}

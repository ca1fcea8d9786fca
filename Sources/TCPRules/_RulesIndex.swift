// The only file in TCPRules with raw memory: an in-memory hash index over a rules cdb, so the
// 5-11 lookups tcpserver makes per connection run at C speed. Built once, never written after.

import CDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing hash table from key to the first record with that key (what `cdb_find`
/// returns), laid out so that a miss costs one memory access and a hit two, like `cdb_find`:
///
/// ```
/// slots (power of two, ≥ 2 × keys), probed linearly from (hash × φ) >> shift:
///   UInt64: cdb hash << 32 | (entry number + 1)           0 = empty
/// entries (64 bytes each, one cache line):
///   0  CDB.Value (the data)   24  UInt32 key length   28  UInt32 long-key offset
///   32 the key, if it has at most 32 bytes (longer keys live in a separate buffer)
/// ```
final class _RulesIndex: @unchecked Sendable {
    // Sendable: every buffer is filled in init and only read afterwards; freed in deinit.
    private let slots: UnsafeMutablePointer<UInt64>
    private let slotMask: Int
    private let shift: UInt64
    private let entries: UnsafeMutableRawPointer
    /// The number of distinct keys indexed (entries are numbered from 0).
    let entryCount: Int
    private let longKeys: UnsafeMutableRawPointer
    /// A Bloom filter over the key hashes (two bits per key, 10 bits per key): most keys tcpserver
    /// tries are absent, and the filter (small enough to stay in cache) rejects ~97% of them
    /// without touching the slots.
    private let filter: UnsafeMutablePointer<UInt64>
    private let filterShift: UInt64

    private static let stride = 64
    private static let inlineKey = 32

    /// The largest database indexed (larger ones are searched in the cdb directly).
    static let maximumRecords = 8_000_000

    /// Indexes `records` (what `cdb_find` returns for each key), keeping the first of each key.
    init(entries records: [(key: CDB.Value, data: CDB.Value)]) {
        var capacity = 16
        while capacity < records.count * 2 { capacity <<= 1 }
        let slotMask = capacity - 1
        let shift = UInt64(64 - capacity.trailingZeroBitCount)
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        let entries = UnsafeMutableRawPointer.allocate(
            byteCount: max(records.count, 1) * _RulesIndex.stride, alignment: _RulesIndex.stride)
        let longSize = records.reduce(0) { $0 + ($1.key.count > _RulesIndex.inlineKey ? $1.key.count : 0) }
        let longKeys = UnsafeMutableRawPointer.allocate(byteCount: max(longSize, 1), alignment: 8)
        var filterBits = 1024
        while filterBits < records.count * 10 { filterBits <<= 1 }
        let filterShift = UInt64(64 - filterBits.trailingZeroBitCount)
        let filter = UnsafeMutablePointer<UInt64>.allocate(capacity: filterBits / 64)
        filter.initialize(repeating: 0, count: filterBits / 64)
        var count = 0
        var longEnd = 0
        for record in records {
            let length = record.key.count
            let entry = entries + count * _RulesIndex.stride
            let keyStore = length > _RulesIndex.inlineKey ? longKeys + longEnd : entry + _RulesIndex.inlineKey
            let hash: UInt32 = record.key.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { keyStore.copyMemory(from: base, byteCount: length) }
                return CDBHash.hash(bytes)
            }
            let key = UnsafeRawBufferPointer(start: keyStore, count: length)
            if _RulesIndex.find(key, hash: hash, slots, slotMask, shift, entries, longKeys) != nil {
                continue  // a later record with the same key: the first one wins, as in cdb_find
            }
            entry.initializeMemory(as: CDB.Value.self, to: record.data)
            entry.storeBytes(of: UInt32(length), toByteOffset: 24, as: UInt32.self)
            entry.storeBytes(of: UInt32(longEnd), toByteOffset: 28, as: UInt32.self)
            if length > _RulesIndex.inlineKey { longEnd += length }
            var slot = _RulesIndex.firstSlot(hash, shift)
            while slots[slot] != 0 { slot = (slot + 1) & slotMask }
            slots[slot] = UInt64(hash) << 32 | UInt64(count + 1)
            let (first, second) = _RulesIndex.filterBits(hash, filterShift)
            filter[first >> 6] |= 1 << UInt64(first & 63)
            filter[second >> 6] |= 1 << UInt64(second & 63)
            count += 1
        }
        self.slots = slots
        self.slotMask = slotMask
        self.shift = shift
        self.entries = entries
        self.entryCount = count
        self.longKeys = longKeys
        self.filter = filter
        self.filterShift = filterShift
    }

    deinit {
        for entry in 0..<entryCount {
            (entries + entry * _RulesIndex.stride).assumingMemoryBound(to: CDB.Value.self).deinitialize(count: 1)
        }
        slots.deallocate()
        filter.deallocate()
        entries.deallocate()
        longKeys.deallocate()
    }

    @inline(__always)
    private static func firstSlot(_ hash: UInt32, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (UInt64(hash) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    private static func find(
        _ key: UnsafeRawBufferPointer, hash: UInt32, _ slots: UnsafeMutablePointer<UInt64>, _ slotMask: Int,
        _ shift: UInt64, _ entries: UnsafeMutableRawPointer, _ longKeys: UnsafeMutableRawPointer
    ) -> Int? {
        var probes = 0
        return find(key, hash: hash, slots, slotMask, shift, entries, longKeys, probes: &probes)
    }

    /// `find`, counting the slots read in `probes`.
    @inline(__always)
    private static func find(
        _ key: UnsafeRawBufferPointer, hash: UInt32, _ slots: UnsafeMutablePointer<UInt64>, _ slotMask: Int,
        _ shift: UInt64, _ entries: UnsafeMutableRawPointer, _ longKeys: UnsafeMutableRawPointer, probes: inout Int
    ) -> Int? {
        var slot = firstSlot(hash, shift)
        while true {
            probes &+= 1
            let stored = slots[slot]
            if stored == 0 { return nil }
            if UInt32(truncatingIfNeeded: stored >> 32) == hash {
                let number = Int(truncatingIfNeeded: stored & 0xFFFF_FFFF) - 1
                let entry = entries + number * stride
                let length = Int(entry.load(fromByteOffset: 24, as: UInt32.self))
                if length == key.count {
                    if length == 0 { return number }
                    let stored =
                        length > inlineKey
                        ? longKeys + Int(entry.load(fromByteOffset: 28, as: UInt32.self)) : entry + inlineKey
                    if memcmp(stored, key.baseAddress!, length) == 0 { return number }
                }
            }
            slot = (slot + 1) & slotMask
        }
    }

    /// The two filter bits of a hash.
    @inline(__always)
    private static func filterBits(_ hash: UInt32, _ shift: UInt64) -> (Int, Int) {
        (
            Int(truncatingIfNeeded: (UInt64(hash) &* 0xC2B2_AE3D_27D4_EB4F) >> shift),
            Int(truncatingIfNeeded: (UInt64(hash) &* 0x1656_67B1_9E37_79F9) >> shift)
        )
    }

    /// The number of the first record whose key is `key`, with cdb hash `hash`.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Int? {
        var probes = 0
        return find(key, hash: hash, probes: &probes)
    }

    /// ``find(_:hash:)``, counting the index slots read in `probes` (none when the filter rules
    /// the key out).
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt32, probes: inout Int) -> Int? {
        let (first, second) = _RulesIndex.filterBits(hash, filterShift)
        if filter[first >> 6] & (1 << UInt64(first & 63)) == 0 || filter[second >> 6] & (1 << UInt64(second & 63)) == 0 {
            return nil
        }
        return _RulesIndex.find(key, hash: hash, slots, slotMask, shift, entries, longKeys, probes: &probes)
    }

    /// The key of entry `number`.
    func key(_ number: Int) -> [UInt8] {
        let entry = entries + number * _RulesIndex.stride
        let length = Int(entry.load(fromByteOffset: 24, as: UInt32.self))
        let stored =
            length > _RulesIndex.inlineKey
            ? longKeys + Int(entry.load(fromByteOffset: 28, as: UInt32.self)) : entry + _RulesIndex.inlineKey
        return Array(UnsafeRawBufferPointer(start: stored, count: length))
    }

    /// The data of entry `number` (from ``find(_:hash:)``).
    @inline(__always)
    func value(_ number: Int) -> CDB.Value {
        (entries + number * _RulesIndex.stride).assumingMemoryBound(to: CDB.Value.self).pointee
    }
}

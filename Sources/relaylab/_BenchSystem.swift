// System-level pieces of `relaylab bench cdb`: the clock, pinned key buffers, the memory-latency
// probe and the cache size. Everything here touches raw memory or system calls.

import CDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic time in nanoseconds (clock_gettime, ~20 ns through the vDSO).
@inline(__always)
func benchNow() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// The cost of one `benchNow()` pair, as included in every timed lookup (the median of many).
func benchClockOverhead() -> UInt64 {
    var samples: [UInt64] = []
    samples.reserveCapacity(1001)
    for _ in 0..<1001 {
        let start = benchNow()
        let end = benchNow()
        samples.append(end &- start)
    }
    samples.sort()
    return samples[samples.count / 2]
}

/// Keys packed in one immutable buffer, with a table of byte-buffer views into it that lookups
/// take directly. Shared read-only between benchmark threads.
final class BenchKeyPool: @unchecked Sendable {
    // Sendable: both buffers are written only in init and freed only in deinit.
    private let bytes: UnsafeMutableRawBufferPointer
    let keys: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    /// The number of keys.
    let count: Int

    /// Packs `keys` (in this order).
    init(_ list: [[UInt8]]) {
        let total = list.reduce(0) { $0 + $1.count }
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 64)
        keys = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: max(list.count, 1))
        count = list.count
        var offset = 0
        for (index, key) in list.enumerated() {
            key.withUnsafeBytes { source in
                if let base = source.baseAddress {
                    (bytes.baseAddress! + offset).copyMemory(from: base, byteCount: source.count)
                }
            }
            keys[index] = UnsafeRawBufferPointer(start: bytes.baseAddress! + offset, count: key.count)
            offset += key.count
        }
    }

    deinit {
        bytes.deallocate()
        keys.deallocate()
    }

    /// Keys `start..<start+length` (no wrap-around).
    func slice(_ start: Int, _ length: Int) -> UnsafeBufferPointer<UnsafeRawBufferPointer> {
        UnsafeBufferPointer(rebasing: keys[start..<(start + length)])
    }
}

/// Per-thread scratch space for batch results.
final class BenchResults {
    let buffer: UnsafeMutableBufferPointer<CDB.Location?>

    init(capacity: Int) {
        buffer = .allocate(capacity: capacity)
        buffer.initialize(repeating: nil)
    }

    deinit { buffer.deallocate() }
}

/// Measures the latency of one dependent read from a working set of `bytes` bytes: a random
/// cyclic pointer chase over 64-byte lines of an anonymous mapping with ordinary 4 KiB pages
/// (like a file mapping), so it includes the TLB misses a cdb lookup on such a file pays.
/// Returns nanoseconds per read, or nil if the memory cannot be mapped.
func benchDependentReadLatency(bytes requested: Int, seed: UInt64) -> Double? {
    let size = max(1 << 16, min(requested, 1 << 30)) & ~63
    let lines = size / 64
    guard let region = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        region != MAP_FAILED
    else { return nil }
    defer { munmap(region, size) }
    #if os(Linux)
    _ = madvise(region, size, MADV_NOHUGEPAGE)
    #endif
    // Sattolo's algorithm: a single cycle through every line in random order.
    var order = [Int32](unsafeUninitializedCapacity: lines) { buffer, initialized in
        for i in 0..<lines { buffer[i] = Int32(i) }
        initialized = lines
    }
    var state = seed
    func random(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
    var i = lines - 1
    while i > 0 {
        order.swapAt(i, random(i))
        i -= 1
    }
    let base = region.assumingMemoryBound(to: UInt8.self)
    for line in 0..<lines {
        let next = Int(order[line])
        (base + line * 64).withMemoryRebound(to: Int.self, capacity: 1) { $0.pointee = next * 64 }
    }
    let steps = min(1_000_000, max(200_000, lines))
    var offset = 0
    for _ in 0..<min(steps / 4, lines) {  // warm the page tables and caches a little
        offset = UnsafeRawPointer(base + offset).load(as: Int.self)
    }
    let start = benchNow()
    for _ in 0..<steps {
        offset = UnsafeRawPointer(base + offset).load(as: Int.self)
    }
    let elapsed = benchNow() &- start
    if offset == -1 { return nil }  // keeps the chase from being optimized away
    return Double(elapsed) / Double(steps)
}

/// The size of the largest CPU cache (the last-level cache), from sysfs; nil where unknown.
func benchLastLevelCacheBytes() -> Int? {
    var largest: Int?
    for index in 0..<8 {
        let path = "/sys/devices/system/cpu/cpu0/cache/index\(index)/size"
        guard let file = fopen(path, "r") else { continue }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, file) != nil else { continue }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var digits = Substring(text).filter { $0 != " " && $0 != "\n" }[...]
        var multiplier = 1
        if digits.hasSuffix("K") { multiplier = 1024; digits = digits.dropLast() }
        if digits.hasSuffix("M") { multiplier = 1 << 20; digits = digits.dropLast() }
        if let value = Int(digits) { largest = max(largest ?? 0, value * multiplier) }
    }
    return largest
}

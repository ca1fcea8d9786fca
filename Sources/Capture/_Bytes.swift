// The only pointer code outside the libpcap wrapper and the header decoder: a bounds-checked
// view of a packet's payload inside libpcap's buffer (valid only while the packet is being
// processed), and memchr-based byte searches over arrays.

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Bytes that can be appended to an array and searched, without exposing pointers.
protocol ByteSource {
    var count: Int { get }
    subscript(_ index: Int) -> UInt8 { get }
    /// Appends `self[range]` to `array`.
    func append(_ range: Range<Int>, to array: inout [UInt8])
    /// Appends `self[range]` to `store`.
    func append(_ range: Range<Int>, to store: inout ByteStore)
    /// The first index of `byte` in `range`.
    func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int?
    /// The last index of `byte` in `range`.
    func lastIndex(of byte: UInt8, in range: Range<Int>) -> Int?
}

/// A view of bytes inside libpcap's (or a decoder's) buffer. Only valid during the callback
/// that received it; every access is bounds-checked.
@safe
struct PayloadBytes: ByteSource {
    private let base: UnsafeRawPointer?
    let count: Int

    /// - Precondition: `base` points at `count` readable bytes for the view's lifetime.
    init(unsafeBase base: UnsafeRawPointer?, count: Int) {
        unsafe self.base = base
        self.count = unsafe base == nil ? 0 : max(0, count)
    }

    static var empty: PayloadBytes { unsafe PayloadBytes(unsafeBase: nil, count: 0) }

    /// The first byte (for the copy in _ByteStore.swift).
    var payloadBase: UnsafeRawPointer? { unsafe base }

    @inline(__always)
    func append(_ range: Range<Int>, to store: inout ByteStore) {
        store.append(self, range)
    }

    @inline(__always)
    subscript(_ index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "payload index out of range")
        return unsafe base.unsafelyUnwrapped.load(fromByteOffset: index, as: UInt8.self)
    }

    func append(_ range: Range<Int>, to array: inout [UInt8]) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "payload range out of bounds")
        guard !range.isEmpty, let base = unsafe base else { return }
        let needed = array.count + range.count
        if needed > array.capacity { array.reserveCapacity(max(needed, array.capacity * 2)) }
        unsafe array.append(
            contentsOf: UnsafeBufferPointer(
                start: (base + range.lowerBound).assumingMemoryBound(to: UInt8.self), count: range.count))
    }

    func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "payload range out of bounds")
        guard !range.isEmpty, let base = unsafe base else { return nil }
        guard let found = unsafe memchr(base + range.lowerBound, Int32(byte), range.count) else { return nil }
        return unsafe UnsafeRawPointer(found) - base
    }

    @inline(__always)
    func lastIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "payload range out of bounds")
        guard !range.isEmpty, let base = unsafe base else { return nil }
        var index = range.upperBound - 1
        while index >= range.lowerBound {
            if unsafe base.load(fromByteOffset: index, as: UInt8.self) == byte { return index }
            index -= 1
        }
        return nil
    }

    /// A copy of `self[range]`.
    func copy(_ range: Range<Int>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(range.count)
        append(range, to: &result)
        return result
    }
}

extension Array: ByteSource where Element == UInt8 {
    func append(_ range: Range<Int>, to array: inout [UInt8]) {
        array.append(contentsOf: self[range])
    }

    func append(_ range: Range<Int>, to store: inout ByteStore) {
        store.append(self, range)
    }

    func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        ByteSearch.firstIndex(of: byte, in: self, range: range)
    }

    func lastIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        var index = range.upperBound - 1
        while index >= range.lowerBound {
            if self[index] == byte { return index }
            index -= 1
        }
        return nil
    }
}

/// Fast byte searches over arrays (memchr).
enum ByteSearch {
    /// The first index of `byte` in `array[range]`.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in array: [UInt8], range: Range<Int>) -> Int? {
        precondition(range.lowerBound >= 0 && range.upperBound <= array.count, "range out of bounds")
        guard !range.isEmpty else { return nil }
        return unsafe array.withUnsafeBytes { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            guard let found = unsafe memchr(base + range.lowerBound, Int32(byte), range.count) else { return nil }
            return unsafe UnsafeRawPointer(found) - base
        }
    }

    /// Counts `byte` in `array[range]`.
    static func count(of byte: UInt8, in array: ArraySlice<UInt8>) -> Int {
        var total = 0
        var index = array.startIndex
        while index < array.endIndex {
            let found = unsafe array.withUnsafeBytes { buffer -> Int? in
                guard let base = buffer.baseAddress else { return nil }
                let offset = index - array.startIndex
                guard let hit = unsafe memchr(base + offset, Int32(byte), buffer.count - offset) else { return nil }
                return unsafe UnsafeRawPointer(hit) - base + array.startIndex
            }
            guard let found else { break }
            total += 1
            index = found + 1
        }
        return total
    }
}

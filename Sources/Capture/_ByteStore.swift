// A growable byte buffer filled with memcpy while packets arrive; its bytes move into an
// ordinary [UInt8] once, when the stream is parsed. A value type around an immutable block
// (no dynamic exclusivity checks on the hot path); one stream owns it at a time.

/// A fixed-size allocation, freed with its last reference.
@safe
final class RawBlock: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(capacity: Int) {
        unsafe base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        self.capacity = capacity
    }

    deinit {
        unsafe base.deallocate()
    }
}

struct ByteStore {
    private var block: RawBlock?
    private(set) var count = 0

    var capacity: Int { block?.capacity ?? 0 }

    /// Makes room for `wanted` bytes in all (growing geometrically).
    mutating func reserve(_ wanted: Int) {
        let current = block?.capacity ?? 0
        guard wanted > current else { return }
        var size = max(16, current)
        while size < wanted { size *= 2 }
        let grown = RawBlock(capacity: size)
        if let block, count > 0 {
            unsafe grown.base.copyMemory(from: block.base, byteCount: count)
        }
        block = grown
    }

    /// Appends `source[range]`.
    @inline(__always)
    mutating func append(_ source: PayloadBytes, _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        if count + range.count > capacity { reserve(count + range.count) }
        unsafe source.copy(range, to: block!.base + count)
        count += range.count
    }

    /// Appends `source[range]`.
    mutating func append(_ source: [UInt8], _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= source.count, "range out of bounds")
        guard !range.isEmpty else { return }
        if count + range.count > capacity { reserve(count + range.count) }
        let destination = unsafe block!.base + count
        unsafe source.withUnsafeBytes { buffer in
            unsafe destination.copyMemory(from: buffer.baseAddress! + range.lowerBound, byteCount: range.count)
        }
        count += range.count
    }

    /// Moves the bytes to the end of `array`; the store is empty afterwards (capacity kept).
    mutating func drain(into array: inout [UInt8]) {
        guard count > 0, let block else { return }
        let bytes = unsafe UnsafeRawBufferPointer(start: block.base, count: count)
        // Not [UInt8](unsafeUninitializedCapacity:): that allocates through an unspecialised
        // library function which looks the array's storage class up at run time (hundreds of
        // instructions); append allocates through code specialised for [UInt8].
        unsafe array.append(contentsOf: bytes)
        count = 0
    }
}

extension PayloadBytes {
    /// Copies `self[range]` to `destination`.
    func copy(_ range: Range<Int>, to destination: UnsafeMutableRawPointer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "payload range out of bounds")
        guard !range.isEmpty else { return }
        unsafe destination.copyMemory(from: payloadBase.unsafelyUnwrapped + range.lowerBound, byteCount: range.count)
    }
}

// Structured values read from the fuzzer's bytes: a harness turns an arbitrary byte string into
// a sequence of operations (segments, chunk sizes, configuration choices). Running out of bytes
// yields zeros, so every byte string decodes to something.

/// A cursor over one fuzz input.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - position }
    public var isEmpty: Bool { remaining == 0 }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    public mutating func u16() -> UInt16 {
        UInt16(byte()) << 8 | UInt16(byte())
    }

    public mutating func u32() -> UInt32 {
        UInt32(u16()) << 16 | UInt32(u16())
    }

    /// A number in `range`, from one byte (or two when the range is wider than 256).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = range.upperBound - range.lowerBound + 1
        let raw = width > 256 ? Int(u16()) : Int(byte())
        return range.lowerBound + raw % width
    }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, position + max(0, count))
        defer { position = end }
        return Array(bytes[position..<end])
    }

    /// A length byte (at most `max`), then that many bytes.
    public mutating func lengthPrefixed(max: Int) -> [UInt8] {
        take(int(in: 0...max))
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] {
        take(remaining)
    }

    /// One of `choices`.
    public mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int(byte()) % choices.count]
    }

    /// Splits `bytes` into chunks whose sizes are drawn from this input (1...maxChunk each).
    public mutating func chunks(of bytes: [UInt8], maxChunk: Int) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let size = isEmpty ? bytes.count - start : int(in: 1...max(1, maxChunk))
            let end = min(bytes.count, start + size)
            result.append(bytes[start..<end])
            start = end
        }
        return result
    }
}

// Short texts put together from a few parts, written straight into the storage of one string:
// appending to a copy of the first part, or interpolating, allocates and copies more than once,
// and a check run makes some of these for every connection (a matched rule's `file:line`, a
// connection's default name).

package enum _JoinedText {
    /// `a + b + c + d` in one string.
    package static func joined(_ a: String, _ b: String, _ c: String = "", _ d: String = "") -> String {
        var parts = (a, b, c, d)
        let capacity = a.utf8.count + b.utf8.count + c.utf8.count + d.utf8.count
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var count = 0
            parts.0.withUTF8 { count = copy($0, into: buffer, at: count) }
            parts.1.withUTF8 { count = copy($0, into: buffer, at: count) }
            parts.2.withUTF8 { count = copy($0, into: buffer, at: count) }
            parts.3.withUTF8 { count = copy($0, into: buffer, at: count) }
            return count
        }
    }

    /// Copies `bytes` into `buffer` at `offset`; returns the offset after them.
    private static func copy(
        _ bytes: UnsafeBufferPointer<UInt8>, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int
    ) -> Int {
        guard !bytes.isEmpty else { return offset }
        let target = UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)])
        return offset + target.initialize(fromContentsOf: bytes)
    }
}

// `file:line` written straight into the storage of one string: appending to a copy of the
// file name, or interpolating, allocates and copies more than once, and a check run asks for the
// matched rule's location once per connection.

enum _SourceLocationText {
    static func joined(_ file: String, _ line: Int) -> String {
        var file = file
        var number = String(line)
        return String(unsafeUninitializedCapacity: file.utf8.count + 1 + number.utf8.count) { buffer in
            var count = 0
            file.withUTF8 { count = copy($0, into: buffer, at: count) }
            buffer[count] = UInt8(ascii: ":")
            count += 1
            number.withUTF8 { count = copy($0, into: buffer, at: count) }
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

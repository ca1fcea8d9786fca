// Small byte-string helpers with qmail's semantics (ASCII-only case folding, C strings).

enum Bytes {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let crlf: [UInt8] = [13, 10]

    /// A-Z → a-z, everything else unchanged (case_lowerb).
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- 65 < 26 ? byte | 0x20 : byte
    }

    /// Whether `bytes` equals the lower-case ASCII `word`, ignoring ASCII case (case_equals).
    @inline(__always)
    static func equalsFolded(_ bytes: ArraySlice<UInt8>, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { word in
            var index = bytes.startIndex
            for expected in word {
                if lower(bytes[index]) != expected { return false }
                index += 1
            }
            return true
        }
    }

    /// Whether `bytes` starts with the ASCII `prefix`, ignoring ASCII case (case_starts).
    static func startsFolded(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString) -> Bool {
        guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
        return prefix.withUTF8Buffer { prefix in
            var index = bytes.startIndex
            for expected in prefix {
                if lower(bytes[index]) != lower(expected) { return false }
                index += 1
            }
            return true
        }
    }

    /// case_diffs(a, b) != 0: whether two C strings differ, ignoring ASCII case.
    static func differFolded(_ a: String, _ b: [UInt8]) -> Bool {
        var text = a
        return text.withUTF8 { a in
            if a.count != b.count { return true }
            for index in 0..<a.count where lower(a[index]) != lower(b[index]) { return true }
            return false
        }
    }

    /// `text` up to its first NUL (usually `text` itself, without copying).
    static func cText(_ text: String) -> String {
        var copy = text
        guard copy.withUTF8({ $0.contains(0) }) else { return text }
        return String(decoding: cString(text), as: UTF8.self)
    }

    /// The bytes of `text` up to its first NUL (what a C program sees of an environment value).
    static func cString(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        return bytes
    }

    /// `bytes` up to its first NUL.
    static func cString(_ bytes: [UInt8]) -> [UInt8] {
        if let nul = bytes.firstIndex(of: 0) { return Array(bytes[..<nul]) }
        return bytes
    }

    /// Decodes as UTF-8, replacing invalid sequences.
    static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the decimal digits of `value` (fmt_ulong); nothing for a negative value.
    @inline(__always)
    static func appendDecimal(_ value: some BinaryInteger, to output: inout [UInt8]) {
        guard value > 0 else {
            if value == 0 { output.append(48) }
            return
        }
        appendDecimal(UInt64(value), to: &output)
    }

    /// Appends the decimal digits of `value`, most significant first (a byte at a time into
    /// reserved room: appending a raw buffer would go element by element through a generic path).
    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        var divisor: UInt64 = 1
        var digits = 1
        while value / divisor >= 10 {
            divisor &*= 10
            digits += 1
        }
        output.reserveCapacity(output.count + digits)
        repeat {
            output.append(UInt8(truncatingIfNeeded: (value / divisor) % 10) &+ 48)
            divisor /= 10
        } while divisor > 0
    }

    /// Appends an ASCII string.
    @inline(__always)
    static func append(_ text: StaticString, to output: inout [UInt8]) {
        text.withUTF8Buffer { output.append(contentsOf: $0) }
    }
}

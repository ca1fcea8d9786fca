/// Base64 as the qmail-authentication patch does it: a standard encoder (with `=` padding) for
/// CRAM-MD5 challenges, and the patch's lenient decoder, reproduced for its quirks:
/// characters outside the alphabet are skipped without taking a 6-bit slot, input is read in
/// whole groups of four (a trailing partial group is ignored), trailing `=` are counted as
/// padding, and the decoder never reports an error (so `!!!notbase64` "decodes" to bytes).
enum QmailBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (b64encode).
    static func encode(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index < input.count {
            let a = input[index]
            let b: UInt8 = index + 1 < input.count ? input[index + 1] : 0
            let c: UInt8 = index + 2 < input.count ? input[index + 2] : 0
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 3) << 4 | b >> 4)])
            out.append(index + 1 >= input.count ? UInt8(ascii: "=") : alphabet[Int((b & 15) << 2 | c >> 6)])
            out.append(index + 2 >= input.count ? UInt8(ascii: "=") : alphabet[Int(c & 63)])
            index += 3
        }
        return out
    }

    /// The patch's b64decode. Returns nil where the real function gives up (its output size
    /// would be negative); the caller then keeps its previous (empty) buffer.
    static func decode(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        let bytes = Array(input)
        if bytes.isEmpty { return [] }
        var length = bytes.count
        var padding = 0
        while length > 0, bytes[length - 1] == UInt8(ascii: "=") {
            padding += 1
            length -= 1
        }
        let groups = (length + padding) / 4
        let outputLength = groups * 3 - padding
        if outputLength < 0 { return nil }
        if groups == 0 { return [] }
        var output: [UInt8] = []
        output.reserveCapacity(groups * 3)
        var position = 0
        for group in 0..<groups {
            var x: UInt32 = 0
            for offset in 0..<4 {
                let character = bytes[position + offset]
                switch character {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): x = x << 6 + UInt32(character - 65)
                case UInt8(ascii: "a")...UInt8(ascii: "z"): x = x << 6 + UInt32(character - 97 + 26)
                case UInt8(ascii: "0")...UInt8(ascii: "9"): x = x << 6 + UInt32(character - 48 + 52)
                case UInt8(ascii: "+"): x = x << 6 + 62
                case UInt8(ascii: "/"): x = x << 6 + 63
                case UInt8(ascii: "="): x = x << 6
                default: break
                }
            }
            let triple = [UInt8(truncatingIfNeeded: x >> 16), UInt8(truncatingIfNeeded: x >> 8), UInt8(truncatingIfNeeded: x)]
            if group < groups - 1 {
                output.append(contentsOf: triple)
            } else {
                let keep = max(0, 3 - padding)
                output.append(contentsOf: triple[0..<keep])
            }
            position += 4
        }
        // The real function sets the length to groups*3 - padding; with more than two '=' the
        // last group contributes nothing and earlier bytes are cut.
        if output.count > outputLength { output.removeSubrange(outputLength...) }
        return output
    }
}

/// The calendar date qmail writes in Received lines (date822fmt): `24 Nov 2026 23:10:06 -0000`.
enum Date822 {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The date for unix time `time` (UTC), followed by LF.
    static func format(_ time: Int64) -> [UInt8] {
        var days = time / 86400
        var seconds = time % 86400
        if seconds < 0 {
            seconds += 86400
            days -= 1
        }
        // Civil-from-days (proleptic Gregorian).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        var year = yearOfEra + era * 400
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        if month <= 2 { year += 1 }
        let hour = seconds / 3600
        let minute = seconds % 3600 / 60
        let second = seconds % 60
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text = "\(day) \(months[Int(month - 1)]) \(year) \(two(hour)):\(two(minute)):\(two(second)) -0000\n"
        return Array(text.utf8)
    }
}

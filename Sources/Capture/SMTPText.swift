// Small byte-level helpers for SMTP lines: verbs, reply codes, printable forms, redaction.

/// The commands the reconstructor needs to recognise.
enum SMTPVerb: UInt8 {
    case helo, ehlo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, expn, help, auth, starttls
    case turn, etrn, atrn, send, soml, saml, xclient, xforward
    /// A line whose first word is not a known verb.
    case other

    /// The verb of the line `bytes[range]` (the first word, case-insensitive, ended by a space,
    /// a tab, CR, LF or the end of the line).
    static func of<S: ByteSource>(_ bytes: S, _ range: Range<Int>) -> SMTPVerb {
        // The usual case, a four-letter verb: its bytes at once. `& 0xDF` upper-cases letters
        // and turns no other byte into a letter, so a word of other bytes matches no verb.
        let start = range.lowerBound
        if range.count >= 4 {
            if range.count == 4 || isWordEnd(bytes[start + 4]) {
                let word = (UInt32(bytes[start]) << 24 | UInt32(bytes[start + 1]) << 16
                    | UInt32(bytes[start + 2]) << 8 | UInt32(bytes[start + 3])) & 0xDFDF_DFDF
                return fourLetter(word)
            }
        } else {
            return .other
        }
        // Longer words (up to eight letters).
        var word: UInt64 = 0
        var length = 0
        var index = start
        while index < range.upperBound {
            let byte = bytes[index]
            if isWordEnd(byte) { break }
            guard length < 8 else { return .other }
            let upper = byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte
            word = word << 8 | UInt64(upper)
            length += 1
            index += 1
        }
        switch word {
        case 0x5354_4152_5454_4C53: return .starttls
        case 0x58_434C_4945_4E54: return .xclient
        case 0x5846_4F52_5741_5244: return .xforward
        default: return .other
        }
    }

    /// Space, tab, CR or LF: the end of a command's first word.
    @inline(__always)
    private static func isWordEnd(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
    }

    /// The verb spelt by four upper-case letters (big-endian), or `.other`.
    private static func fourLetter(_ word: UInt32) -> SMTPVerb {
        switch word {
        case 0x48454C4F: return .helo
        case 0x45484C4F: return .ehlo
        case 0x4D41494C: return .mail
        case 0x52435054: return .rcpt
        case 0x44415441: return .data
        case 0x42444154: return .bdat
        case 0x52534554: return .rset
        case 0x4E4F4F50: return .noop
        case 0x51554954: return .quit
        case 0x56524659: return .vrfy
        case 0x4558504E: return .expn
        case 0x48454C50: return .help
        case 0x41555448: return .auth
        case 0x5455524E: return .turn
        case 0x4554524E: return .etrn
        case 0x4154524E: return .atrn
        case 0x53454E44: return .send
        case 0x534F4D4C: return .soml
        case 0x53414D4C: return .saml
        default: return .other
        }
    }

}

enum SMTPText {
    /// The line feed and carriage return bytes.
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D

    /// Parses a reply line's code: `(code, continued)` for `ddd-…` (continued), `ddd …` and
    /// `ddd` alone; nil when the line does not start with three digits.
    static func replyCode<S: ByteSource>(_ bytes: S, _ range: Range<Int>) -> (code: Int, continued: Bool)? {
        guard range.count >= 3 else { return nil }
        let start = range.lowerBound
        var code = 0
        for i in 0..<3 {
            let byte = bytes[start + i]
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            code = code * 10 + Int(byte - 0x30)
        }
        if range.count == 3 { return (code, false) }
        switch bytes[start + 3] {
        case 0x2D: return (code, true)
        case 0x20, 0x0D, 0x0A, 0x09: return (code, false)
        default: return nil
        }
    }

    /// The lines of `bytes`, without terminators (a final line without one is included).
    static func lines(of bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            if bytes[index] == lf {
                var end = index
                if end > start && bytes[end - 1] == cr { end -= 1 }
                result.append(bytes[start..<end])
                start = index + 1
            }
            index += 1
        }
        if start < bytes.endIndex { result.append(bytes[start..<bytes.endIndex]) }
        return result
    }

    /// `bytes` without its line terminator (CRLF or LF).
    static func stripTerminator(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = bytes.endIndex
        if end > bytes.startIndex && bytes[end - 1] == lf {
            end -= 1
            if end > bytes.startIndex && bytes[end - 1] == cr { end -= 1 }
        }
        return bytes[bytes.startIndex..<end]
    }

    /// The upper-cased first word of a command line.
    static func verb(of bytes: ArraySlice<UInt8>) -> String? {
        let line = stripTerminator(bytes)
        let word = line.prefix { $0 != 0x20 && $0 != 0x09 }
        guard !word.isEmpty else { return nil }
        let upper = word.prefix(64).map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
        return printable(upper[...])
    }

    /// Whether the command is `AUTH <mechanism> <initial response>`.
    static func isAuthWithInitialResponse(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard SMTPVerb.of(Array(bytes.prefix(9)), 0..<min(9, bytes.count)) == .auth else { return false }
        return words(of: stripTerminator(bytes)).count >= 3
    }

    private static func words(of line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
    }

    /// How many lines a message body has and its size without the final `.` line.
    static func bodyShape(_ bytes: ArraySlice<UInt8>) -> (lines: Int, bytes: Int) {
        // The final line is "." plus its terminator.
        var contentEnd = bytes.endIndex
        if contentEnd > bytes.startIndex && bytes[contentEnd - 1] == lf {
            var dot = contentEnd - 1
            if dot > bytes.startIndex && bytes[dot - 1] == cr { dot -= 1 }
            if dot > bytes.startIndex && bytes[dot - 1] == 0x2E
                && (dot - 1 == bytes.startIndex || bytes[dot - 2] == lf)
            {
                contentEnd = dot - 1
            }
        }
        let content = bytes[bytes.startIndex..<contentEnd]
        return (ByteSearch.count(of: lf, in: content), content.count)
    }

    /// The printable form of a step (see `DialogueStep.line`).
    static func printable(kind: DialogueStep.Kind, bytes: ArraySlice<UInt8>) -> String {
        switch kind {
        case .dataBody:
            let shape = bodyShape(bytes)
            return "<message: \(shape.lines) lines, \(shape.bytes) bytes on the wire>"
        case .authResponse:
            return "<auth response redacted>"
        case .bdatChunk:
            let firstLine = bytes.firstIndex(of: lf).map { bytes[bytes.startIndex...$0] } ?? bytes
            let chunk = bytes.count - firstLine.count
            return printable(stripTerminator(firstLine)) + " <chunk: \(chunk) bytes>"
        case .command:
            let line = stripTerminator(bytes)
            if isAuthWithInitialResponse(bytes) {
                let parts = words(of: line)
                return printable(parts[0]) + " " + printable(parts[1]) + " <credentials redacted>"
            }
            return printable(line)
        }
    }

    /// Longest printable form produced for one line.
    static let printableLimit = 4096

    /// UTF-8 text as is; control bytes, DEL and bytes that are not UTF-8 as `\xNN`.
    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        let shown = bytes.prefix(printableLimit)
        var result = ""
        result.reserveCapacity(shown.count)
        var index = shown.startIndex
        var runStart = index
        func flush(_ end: Int) {
            if runStart < end { result += String(decoding: shown[runStart..<end], as: UTF8.self) }
        }
        while index < shown.endIndex {
            let byte = shown[index]
            if byte >= 0x20 && byte < 0x7F || byte == 0x09 {
                index += 1
                continue
            }
            if byte >= 0x80, let length = utf8SequenceLength(shown, at: index) {
                index += length
                continue
            }
            flush(index)
            result += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            index += 1
            runStart = index
        }
        flush(shown.endIndex)
        if bytes.count > shown.count { result += "… (\(bytes.count) bytes)" }
        return result
    }

    /// The length of a valid UTF-8 sequence starting at `index`, or nil.
    private static func utf8SequenceLength(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int? {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard index + length <= bytes.endIndex else { return nil }
        for i in 1..<length where bytes[index + i] & 0xC0 != 0x80 { return nil }
        // Reject overlong and surrogate forms the decoder would replace.
        let second = bytes[index + 1]
        if lead == 0xE0 && second < 0xA0 { return nil }
        if lead == 0xED && second > 0x9F { return nil }
        if lead == 0xF0 && second < 0x90 { return nil }
        if lead == 0xF4 && second > 0x8F { return nil }
        return length
    }
}

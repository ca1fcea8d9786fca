/// Bytes shown as text in reports: exact where possible, escaped where not.
public enum ByteText {
    /// A client line for display: the final CRLF removed, other control bytes and invalid UTF-8
    /// escaped (`\r`, `\n`, `\t`, `\0`, `\xNN`). A bare LF at the end stays visible as `\n`.
    public static func display(line bytes: [UInt8]) -> String {
        let end = bytes.count >= 2 && bytes[bytes.count - 2] == 13 && bytes[bytes.count - 1] == 10 ? bytes.count - 2 : bytes.count
        let line = bytes[..<end]
        if line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(decoding: line, as: UTF8.self) }
        return escaped(Array(line))
    }

    /// A client line for display (see ``display(line:)-([UInt8])``).
    public static func display(line bytes: some Collection<UInt8>) -> String {
        var bytes = Array(bytes)
        if bytes.count >= 2, bytes[bytes.count - 2] == 13, bytes[bytes.count - 1] == 10 { bytes.removeLast(2) }
        return escaped(bytes)
    }

    /// Every byte outside printable text escaped; valid UTF-8 beyond ASCII kept.
    public static func escaped(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(decoding: bytes, as: UTF8.self) }
        var result = ""
        result.reserveCapacity(bytes.count)
        let valid = isValidUTF8(bytes)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 13: result += "\\r"
            case 10: result += "\\n"
            case 9: result += "\\t"
            case 0: result += "\\0"
            case 0x20...0x7E: result.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x80...0xFF where valid:
                var length = 1
                if byte >= 0xF0 { length = 4 } else if byte >= 0xE0 { length = 3 } else if byte >= 0xC0 { length = 2 }
                result += String(decoding: bytes[index..<min(index + length, bytes.count)], as: UTF8.self)
                index += length
                continue
            default: result += hexEscape(byte)
            }
            index += 1
        }
        return result
    }

    /// Reply bytes split at CRLF (a final piece without CRLF is kept), decoded as UTF-8.
    public static func replyLines(_ bytes: [UInt8]) -> [String] {
        var lines: [String] = []
        var start = 0
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10 {
                lines.append(String(decoding: bytes[start..<index], as: UTF8.self))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        if start < bytes.count { lines.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return lines
    }

    /// Whether `bytes` are valid UTF-8.
    public static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    /// Lower-case hex, two digits per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 15)])
        }
        return String(decoding: result, as: UTF8.self)
    }

    static func hexEscape(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
    }

    // MARK: - JSON and XML

    /// A JSON string literal (quotes included), escaping `"`, `\` and control characters: `\"`,
    /// `\\`, `\n`, `\r`, `\t`, `\u00XX` for the other control characters and DEL; everything
    /// else, non-ASCII included, as is. (Written by ``_JSONBuffer``, as JSON Lines records are.)
    public static func json(_ text: String) -> String {
        var buffer = _JSONBuffer(capacity: text.utf8.count + 2)
        buffer.string(text)
        return buffer.text
    }

    /// Appends a JSON string literal (quotes included) to `out` (see ``json(_:)-(String)``).
    public static func appendJSON(_ text: String, to out: inout String) {
        out.append(json(text))
    }

    /// Appends a JSON string literal or `null`.
    public static func appendJSON(_ text: String?, to out: inout String) {
        if let text { appendJSON(text, to: &out) } else { out.append("null") }
    }

    /// Appends a JSON array of strings.
    public static func appendJSON(_ texts: [String], to out: inout String) {
        out.append("[")
        for (index, text) in texts.enumerated() {
            if index > 0 { out.append(",") }
            appendJSON(text, to: &out)
        }
        out.append("]")
    }

    /// A JSON string literal or `null`.
    public static func json(_ text: String?) -> String {
        guard let text else { return "null" }
        return json(text)
    }

    /// A JSON array of strings.
    public static func json(_ texts: [String]) -> String {
        "[" + texts.map { json($0) }.joined(separator: ",") + "]"
    }

    /// Text for XML attributes (or, with `attribute: false`, element content, where line ends
    /// stay as they are): markup characters escaped, characters XML 1.0 cannot hold (control
    /// characters other than tab, LF, CR) written as `\xNN`.
    public static func xml(_ text: String, attribute: Bool = true) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 || $0 == 0xEF }) {
            return text
        }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\n": result += attribute ? "&#10;" : "\n"
            case "\r": result += "&#13;"
            case "\t": result += attribute ? "&#9;" : "\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    result += hexEscape(UInt8(truncatingIfNeeded: scalar.value))
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}

import RelayEngine

/// JSON text built as UTF-8 bytes: strings are copied whole when nothing in them needs escaping
/// (the usual case), and escaped byte by byte otherwise: `\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX`
/// for other control characters and DEL; everything else, UTF-8 included, as is. Every JSON
/// string relaylab writes goes through it (``ByteText/json(_:)-(String)`` too).
struct _JSONBuffer {
    var bytes: [UInt8] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// JSON syntax, as is.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func number(_ value: Int?) {
        guard let value else { return raw("null") }
        number(value)
    }

    mutating func number(_ value: Int) {
        if value >= 0, value < 10 {
            bytes.append(UInt8(48 + value))
            return
        }
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func string(_ text: String?) {
        guard let text else { return raw("null") }
        string(text)
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// A JSON string literal of UTF-8 text.
    mutating func string(utf8 text: some Collection<UInt8>) {
        bytes.append(34)
        if !text.contains(where: _JSONBuffer.needsEscape) {
            bytes.append(contentsOf: text)
        } else {
            for byte in text {
                switch byte {
                case 34: bytes.append(contentsOf: [92, 34])
                case 92: bytes.append(contentsOf: [92, 92])
                case 10: bytes.append(contentsOf: [92, 110])
                case 13: bytes.append(contentsOf: [92, 114])
                case 9: bytes.append(contentsOf: [92, 116])
                case _ where byte < 0x20 || byte == 0x7F:
                    let digits: StaticString = "0123456789abcdef"
                    bytes.append(contentsOf: [92, 117, 48, 48])
                    digits.withUTF8Buffer { digits in
                        bytes.append(digits[Int(byte >> 4)])
                        bytes.append(digits[Int(byte & 15)])
                    }
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(34)
    }

    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 34 || byte == 92 || byte == 0x7F
    }

    mutating func strings(_ texts: [String]) {
        bytes.append(91)
        for (index, text) in texts.enumerated() {
            if index > 0 { bytes.append(44) }
            string(text)
        }
        bytes.append(93)
    }

    /// The facts' descriptions (``Fact/description``), as a JSON array.
    mutating func facts(_ facts: [Fact]) {
        bytes.append(91)
        for (index, fact) in facts.enumerated() {
            if index > 0 { bytes.append(44) }
            string(fact.description)
        }
        bytes.append(93)
    }

    /// Valid UTF-8 reply bytes split at CRLF (see ``ByteText/replyLines(_:)``), as a JSON array.
    mutating func replyLines(_ reply: [UInt8]) {
        bytes.append(91)
        var start = 0
        var index = 0
        var first = true
        while index + 1 < reply.count {
            if reply[index] == 13, reply[index + 1] == 10 {
                if !first { bytes.append(44) }
                first = false
                string(utf8: reply[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        if start < reply.count {
            if !first { bytes.append(44) }
            string(utf8: reply[start...])
        }
        bytes.append(93)
    }
}

// MARK: - Tests

extension JSONLinesReportWriter {
    /// A string as the writer's byte buffer writes it (quotes included). For tests.
    @_spi(Testing) public static func _bufferedJSON(_ text: String) -> String {
        var buffer = _JSONBuffer(capacity: 0)
        buffer.string(text)
        return buffer.text
    }

    /// Reply bytes as the writer's byte buffer writes their lines (a JSON array). For tests.
    @_spi(Testing) public static func _bufferedJSONReplyLines(_ reply: [UInt8]) -> String {
        var buffer = _JSONBuffer(capacity: 0)
        buffer.replyLines(reply)
        return buffer.text
    }

    /// Numbers (or null) as the writer's byte buffer writes them, one after another. For tests.
    @_spi(Testing) public static func _bufferedJSONNumbers(_ values: [Int?]) -> String {
        var buffer = _JSONBuffer(capacity: 0)
        for value in values { buffer.number(value) }
        return buffer.text
    }
}

/// A line `tcprules` refuses: the file, the line, what is wrong and where.
///
/// ``description`` is the one-line form `tcp.smtp:3: <problem>`; ``diagnostic`` adds the offending
/// line and a caret under the problem (the same layout as Yams' parse errors). ``tcprulesOutput`` is
/// what the real `tcprules` prints on standard error for the same file.
public struct RulesSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the line is refused.
    public enum Reason: Sendable, Hashable {
        /// The text after the address's `:` does not start with `allow` or `deny` (case matters,
        /// nothing may come between them).
        case missingAction
        /// After `allow`/`deny` or after a value, something other than `,` follows.
        case unexpectedCharacter(UInt8)
        /// A `,NAME` with no `=` after it.
        case missingEquals
        /// A `,NAME=` at the very end of the line: the quote character is missing.
        case missingQuote
        /// A value whose closing quote (the character after `=`) never comes.
        case unterminatedValue(quote: UInt8)
        /// A range bound (`a-b` in the address) that is not a decimal number.
        case badRangeBound([UInt8])
        /// The line would be fine without its final carriage return: a CRLF (DOS) file.
        case carriageReturn
        /// ucspi-tcp-ipv6 only: no `:` in the line is followed by `allow` or `deny` (blank lines and
        /// lines without `:` included). That `tcprules` loops forever on such a line.
        case noRuleColon
    }

    /// The source file's name as given.
    public var path: String
    /// 1-based line number.
    public var line: Int
    /// 1-based byte column of the problem within ``text``.
    public var column: Int
    /// What is wrong.
    public var reason: Reason
    /// The line as `tcprules` prints it: trailing blanks and the newline removed (a CR is kept).
    public var textBytes: [UInt8]
    /// The dialect the line was parsed with.
    public var dialect: RulesDialect
    /// Whether the other dialect would accept the line (stock `tcprules` rejects IPv6 rules that
    /// `ucspi-tcp-ipv6`'s accepts).
    public var otherDialectAccepts: Bool

    public init(
        path: String, line: Int, column: Int, reason: Reason, textBytes: [UInt8], dialect: RulesDialect,
        otherDialectAccepts: Bool = false
    ) {
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
        self.textBytes = textBytes
        self.dialect = dialect
        self.otherDialectAccepts = otherDialectAccepts
    }

    /// The offending line as text (invalid UTF-8 replaced).
    public var text: String { String(decoding: textBytes, as: UTF8.self) }

    /// The problem, without the file name and line number.
    public var message: String {
        var message: String
        switch reason {
        case .missingAction:
            let after = Array(textBytes.dropFirst(max(0, column - 1)))
            message = "expected 'allow' or 'deny' right after the ':'"
            if dialect == .ucspiTCP { message = "expected 'allow' or 'deny' right after the first ':'" }
            if after.isEmpty {
                message += ", found the end of the line"
            } else if let first = after.first, first == 0x20 || first == 0x09 {
                message += ", found a blank (nothing may come between ':' and the word)"
            } else if Self.startsCaseInsensitive(after, "allow") || Self.startsCaseInsensitive(after, "deny") {
                message += " (the words are case-sensitive: write them in lower case)"
            } else {
                message += ", found \(Self.describe(after[0]))"
            }
        case .unexpectedCharacter(let byte):
            message = "expected ',' or the end of the line, found \(Self.describe(byte))"
            if byte == 0x20 || byte == 0x09 {
                message += " (no blanks between items: write ,NAME=\"value\",OTHER=\"value\")"
            }
        case .missingEquals:
            message = "variable without '=': write ,NAME=\"value\""
            if column >= textBytes.count { message = "',' at the end of the line: a NAME=\"value\" must follow it" }
        case .missingQuote:
            message = "'=' at the end of the line: the value needs quotes, e.g. NAME=\"\""
        case .unterminatedValue(let quote):
            message =
                "value not closed: no second \(Self.describe(quote)) on the line (the quote is whatever character follows '=')"
        case .badRangeBound(let bound):
            message = "address range bound \(Self.quote(bound)) is not a decimal number"
        case .carriageReturn:
            message =
                "the line ends in a carriage return (CRLF, a DOS line ending) and tcprules keeps the CR: convert the file to LF line endings (dos2unix)"
        case .noRuleColon:
            message = "no ':' followed by 'allow' or 'deny': ucspi-tcp-ipv6's tcprules loops forever on this line"
            if !textBytes.contains(UInt8(ascii: ":")) { message += " (stock tcprules ignores it)" }
            message += "; delete it or start it with '#'"
        }
        if otherDialectAccepts {
            switch dialect {
            case .ucspiTCP:
                message += " (an IPv6 rule? only ucspi-tcp-ipv6's tcprules accepts it: use --dialect ucspi-tcp-ipv6)"
            case .ucspiTCPIPv6:
                message += " (stock ucspi-tcp's tcprules accepts it: --dialect ucspi-tcp)"
            }
        }
        return message
    }

    /// `path:line: message`.
    public var description: String { "\(path):\(line): \(message)" }

    /// ``description``, then the offending line and a caret under the problem.
    public var diagnostic: String {
        let shown = textBytes.prefix(max(0, column - 1))
        // Keep the caret under the right character: tabs stay tabs, other bytes become spaces.
        var pad = ""
        for byte in String(decoding: shown, as: UTF8.self).unicodeScalars {
            pad += byte == "\t" ? "\t" : " "
        }
        return "\(description)\n    \(Self.visible(text))\n    \(pad)^"
    }

    /// What the real `tcprules` writes to standard error (empty for ``Reason/noRuleColon``: it hangs).
    public var tcprulesOutput: [UInt8] {
        if reason == .noRuleColon { return [] }
        let shown = textBytes.prefix { $0 != 0 }
        return Array("tcprules: fatal: unable to parse this line: ".utf8) + shown + [0x0A]
    }

    // MARK: - Helpers

    static func startsCaseInsensitive(_ bytes: [UInt8], _ word: String) -> Bool {
        let w = Array(word.utf8)
        guard bytes.count >= w.count else { return false }
        return zip(bytes, w).allSatisfy { a, b in a | 0x20 == b }
    }

    static func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0x0D: return "a carriage return"
        case 0x09: return "a tab"
        case 0x20: return "a blank"
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        default: return "byte 0x" + String(byte, radix: 16, uppercase: true)
        }
    }

    static func quote(_ bytes: [UInt8]) -> String {
        "'" + visible(String(decoding: bytes, as: UTF8.self)) + "'"
    }

    /// Shows control characters (such as a CR) as `\r`, `\0`, `\xNN` so a diagnostic line stays one line.
    static func visible(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": result += "\\r"
            case "\0": result += "\\0"
            case "\t": result += "\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\x" + String(scalar.value, radix: 16, uppercase: true)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

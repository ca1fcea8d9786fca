/// A `tcprules` source file (such as `/etc/tcp.smtp`), parsed exactly as Debian's `tcprules` reads it.
///
/// Each line is one of:
/// - a comment (its first byte is `#`) or an empty line: ignored;
/// - a line without `:` (including lines of only blanks): silently ignored by stock `tcprules`
///   (ucspi-tcp-ipv6's loops forever, see ``RulesDialect``);
/// - a rule, `address:allow` or `address:deny` followed by any number of `,NAME=<q>value<q>` items,
///   where `<q>` is **whatever character follows `=`** and the value runs to its next occurrence
///   (so values may contain `,`, `:`, `=` and `#`).
///
/// Trailing blanks, tabs and the newline are stripped first; a carriage return is **not**, so a CRLF
/// file is rejected at its first rule. An address without `=` and `@` may hold one range `a-b` in the
/// octet containing the dash (`10.0.1.4-7`, `10.0.2-3.`); it is expanded to one key per number, the
/// upper bound capped at 255, and a reversed range or an empty upper bound creates no key at all.
public struct RulesSource: Sendable, Hashable {
    /// The file name used in messages.
    public var path: String
    /// The `tcprules` build whose parsing rules were applied.
    public var dialect: RulesDialect
    /// The rules, in file order.
    public var rules: [TCPRule]
    /// Lines that are not rules (comments, empty and blank lines, lines without `:`).
    public var skippedLines: [SkippedLine]

    /// Parses source bytes.
    ///
    /// - Throws: ``RulesSyntaxError`` for the first line `tcprules` would refuse.
    public init(parsing bytes: some Collection<UInt8>, path: String, dialect: RulesDialect = .ucspiTCP)
        throws(RulesSyntaxError)
    {
        self.path = path
        self.dialect = dialect
        self.rules = []
        self.skippedLines = []
        try parse(Array(bytes))
    }

    /// Parses source text (its UTF-8 bytes).
    public init(parsing text: String, path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesSyntaxError) {
        try self.init(parsing: Array(text.utf8), path: path, dialect: dialect)
    }

    /// Every record `tcprules` writes, in order: one per key of each rule.
    public var records: [(key: [UInt8], data: [UInt8], line: Int)] {
        var result: [(key: [UInt8], data: [UInt8], line: Int)] = []
        for rule in rules {
            for key in rule.keyBytes { result.append((key, rule.data, rule.line)) }
        }
        return result
    }

    /// The number of cdb records (keys) the file produces.
    public var recordCount: Int { rules.reduce(0) { $0 + $1.keyBytes.count } }

    // MARK: - Parsing

    private mutating func parse(_ bytes: [UInt8]) throws(RulesSyntaxError) {
        // ucspi-tcp-ipv6's tcprules compares bytes past the end of a short line; they come from its
        // reused line buffer, i.e. from earlier (longer) lines. Keep the same buffer to get the same
        // answer (it only matters for a last line without a newline).
        var lineBuffer: [UInt8] = []
        var start = 0
        var number = 0
        while start < bytes.count {
            number += 1
            let newline = bytes[start...].firstIndex(of: 0x0A)
            let end = newline.map { $0 + 1 } ?? bytes.count
            let raw = bytes[start..<end]
            start = end
            for (offset, byte) in raw.enumerated() {
                if offset < lineBuffer.count { lineBuffer[offset] = byte } else { lineBuffer.append(byte) }
            }
            if raw.first == UInt8(ascii: "#") {
                skippedLines.append(SkippedLine(line: number, kind: .comment, textBytes: Array(raw.stripped())))
                continue
            }
            if raw.first == 0x0A {
                skippedLines.append(SkippedLine(line: number, kind: .empty, textBytes: []))
                continue
            }
            let text = Array(raw.stripped())
            switch RulesSource.parseRule(text, buffer: lineBuffer, dialect: dialect) {
            case .rule(let parsed):
                rules.append(TCPRule(line: number, textBytes: text, parsed: parsed))
            case .skipped:
                skippedLines.append(SkippedLine(line: number, kind: text.isEmpty ? .blank : .noColon, textBytes: text))
            case .failure(let column, let reason):
                throw RulesSource.explain(
                    text: text, buffer: lineBuffer, line: number, column: column, reason: reason, path: path,
                    dialect: dialect)
            }
        }
    }

    /// Builds the error for a refused line, recognising CRLF files and rules of the other dialect.
    private static func explain(
        text: [UInt8], buffer: [UInt8], line: Int, column: Int, reason: RulesSyntaxError.Reason, path: String,
        dialect: RulesDialect
    ) -> RulesSyntaxError {
        if text.last == 0x0D {
            let withoutCR = Array(text.dropLast()[...].stripped())
            if case .rule = parseRule(withoutCR, buffer: withoutCR, dialect: dialect) {
                return RulesSyntaxError(
                    path: path, line: line, column: text.count, reason: .carriageReturn, textBytes: text,
                    dialect: dialect)
            }
        }
        let other: RulesDialect = dialect == .ucspiTCP ? .ucspiTCPIPv6 : .ucspiTCP
        var otherAccepts = false
        if case .rule = parseRule(text, buffer: buffer, dialect: other) { otherAccepts = true }
        return RulesSyntaxError(
            path: path, line: line, column: column, reason: reason, textBytes: text, dialect: dialect,
            otherDialectAccepts: otherAccepts)
    }

    enum LineResult {
        case rule(ParsedRule)
        case skipped
        /// `column` is 1-based.
        case failure(column: Int, reason: RulesSyntaxError.Reason)
    }

    struct ParsedRule {
        var address: [UInt8]
        var action: RuleAction
        var actionColumn: Int
        var variables: [(name: [UInt8], value: [UInt8], column: Int)]
        var data: [UInt8]
        var keys: [[UInt8]]
        var range: AddressRange?
    }

    /// Parses one stripped rule line. `buffer` holds the raw line followed by stale bytes (used by
    /// the IPv6 dialect's over-long comparisons).
    static func parseRule(_ text: [UInt8], buffer: [UInt8], dialect: RulesDialect) -> LineResult {
        let colon: Int
        switch dialect {
        case .ucspiTCP:
            guard let first = text.firstIndex(of: Byte.colon) else { return .skipped }
            colon = first
        case .ucspiTCPIPv6:
            var from = 0
            var found: Int?
            while let candidate = text[from...].firstIndex(of: Byte.colon) {
                if buffer.matches(Byte.deny, at: candidate + 1) || buffer.matches(Byte.allow, at: candidate + 1) {
                    found = candidate
                    break
                }
                from = candidate + 1
            }
            guard let found else { return .failure(column: max(1, text.count + 1), reason: .noRuleColon) }
            colon = found
        }

        var x = colon + 1
        var data: [UInt8] = []
        let action: RuleAction
        let actionColumn = x + 1
        if text.count - x >= 4 && text.matches(Byte.deny, at: x) {
            data.append(contentsOf: [UInt8(ascii: "D"), 0])
            action = .deny
            x += 4
        } else if text.count - x >= 5 && text.matches(Byte.allow, at: x) {
            action = .allow
            x += 5
        } else {
            return .failure(column: x + 1, reason: .missingAction)
        }

        var variables: [(name: [UInt8], value: [UInt8], column: Int)] = []
        while x < text.count {
            guard text[x] == Byte.comma else {
                return .failure(column: x + 1, reason: .unexpectedCharacter(text[x]))
            }
            guard let equals = text[x...].firstIndex(of: Byte.equals) else {
                return .failure(column: x + 1, reason: .missingEquals)
            }
            let name = Array(text[(x + 1)..<equals])
            let itemColumn = x + 2
            data.append(Byte.plus)
            data.append(contentsOf: text[(x + 1)...equals])
            x = equals + 1
            guard x < text.count else { return .failure(column: equals + 1, reason: .missingQuote) }
            let quote = text[x]
            x += 1
            guard let close = text[x...].firstIndex(of: quote) else {
                return .failure(column: x, reason: .unterminatedValue(quote: quote))
            }
            let value = Array(text[x..<close])
            data.append(contentsOf: value)
            data.append(0)
            variables.append((name, value, itemColumn))
            x = close + 1
        }

        let address = Array(text[..<colon])
        var keys = [address]
        var range: AddressRange?
        if !address.contains(Byte.equals) && !address.contains(Byte.at), let dash = address.firstIndex(of: Byte.dash) {
            let left = address[..<dash].lastIndex(of: Byte.dot).map { $0 + 1 } ?? 0
            let right = address[(dash + 1)...].firstIndex(of: Byte.dot) ?? address.count
            let lowerText = Array(address[left..<dash])
            let upperText = Array(address[(dash + 1)..<right])
            guard let lower = scanNumber(lowerText) else {
                return .failure(column: left + 1, reason: .badRangeBound(lowerText))
            }
            guard let upper = scanNumber(upperText) else {
                return .failure(column: dash + 2, reason: .badRangeBound(upperText))
            }
            let expanded = AddressRange(
                lowerText: lowerText, upperText: upperText, lower: lower, upper: upper, dashColumn: dash + 1)
            keys = []
            if lower <= expanded.effectiveUpper {
                for number in lower...expanded.effectiveUpper {
                    keys.append(Array(address[..<left]) + Array(String(number).utf8) + Array(address[right...]))
                }
            }
            range = expanded
        }
        return .rule(
            ParsedRule(
                address: address, action: action, actionColumn: actionColumn, variables: variables, data: data,
                keys: keys, range: range))
    }

    /// tcprules' number scan: decimal digits up to the end (or to a NUL byte), wrapping modulo 2^64
    /// like C's `unsigned long`; an empty string is 0. Anything else is not a number.
    static func scanNumber(_ bytes: [UInt8]) -> UInt64? {
        var value: UInt64 = 0
        for byte in bytes {
            if byte == 0 { break }
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value &* 10 &+ UInt64(byte - 0x30)
        }
        return value
    }
}

/// The `a-b` range of a rule address.
public struct AddressRange: Sendable, Hashable {
    /// The text before the dash (within its octet).
    public var lowerText: [UInt8]
    /// The text after the dash (within its octet).
    public var upperText: [UInt8]
    /// The lower bound as tcprules reads it.
    public var lower: UInt64
    /// The upper bound as tcprules reads it, before capping at 255.
    public var upper: UInt64
    /// 1-based column of the dash in the line.
    public var dashColumn: Int

    /// The upper bound after capping at 255.
    public var effectiveUpper: UInt64 { min(upper, 255) }
    /// Whether the upper bound was lowered to 255.
    public var isCapped: Bool { upper > 255 }
    /// How many keys the range creates (0 for a reversed range or an empty upper bound).
    public var keyCount: Int { lower > effectiveUpper ? 0 : Int(effectiveUpper - lower) + 1 }
}

/// One rule line of a source file.
public struct TCPRule: Sendable, Hashable {
    /// 1-based line number.
    public var line: Int
    /// The line as tcprules sees it (trailing blanks and newline stripped).
    public var textBytes: [UInt8]
    /// The address before the `:` (possibly a range), byte for byte.
    public var addressBytes: [UInt8]
    /// Allow or deny.
    public var action: RuleAction
    /// 1-based column where `allow`/`deny` starts.
    public var actionColumn: Int
    /// The variables in file order (raw bytes), each with the 1-based column of its name.
    public var variableBytes: [VariableBytes]
    /// The cdb data of every key of this rule.
    public var data: [UInt8]
    /// The cdb keys: the address, or the keys a range expands to (possibly none).
    public var keyBytes: [[UInt8]]
    /// The range in the address, if it was expanded.
    public var range: AddressRange?

    /// A variable as raw bytes.
    public struct VariableBytes: Sendable, Hashable {
        public var name: [UInt8]
        public var value: [UInt8]
        public var column: Int
    }

    init(line: Int, textBytes: [UInt8], parsed: RulesSource.ParsedRule) {
        self.line = line
        self.textBytes = textBytes
        self.addressBytes = parsed.address
        self.action = parsed.action
        self.actionColumn = parsed.actionColumn
        self.variableBytes = parsed.variables.map { VariableBytes(name: $0.name, value: $0.value, column: $0.column) }
        self.data = parsed.data
        self.keyBytes = parsed.keys
        self.range = parsed.range
    }

    /// The line as text.
    public var text: String { String(decoding: textBytes, as: UTF8.self) }
    /// The address as text.
    public var address: String { String(decoding: addressBytes, as: UTF8.self) }
    /// The keys as text.
    public var keys: [String] { keyBytes.map { String(decoding: $0, as: UTF8.self) } }
    /// The variables as text, in file order.
    public var variables: [RuleVariable] {
        variableBytes.map {
            RuleVariable(name: String(decoding: $0.name, as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self))
        }
    }
}

/// A source line that is not a rule.
public struct SkippedLine: Sendable, Hashable {
    /// Why the line is not a rule.
    public enum Kind: String, Sendable, Hashable {
        /// Starts with `#` (in the first column: an indented `#` is not a comment).
        case comment
        /// Nothing but the newline.
        case empty
        /// Only blanks and tabs.
        case blank
        /// Text without any `:` (stock tcprules ignores it without a word).
        case noColon
    }

    public var line: Int
    public var kind: Kind
    /// The line with trailing blanks stripped.
    public var textBytes: [UInt8]

    public var text: String { String(decoding: textBytes, as: UTF8.self) }
}

enum Byte {
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let at = UInt8(ascii: "@")
    static let dash = UInt8(ascii: "-")
    static let dot = UInt8(ascii: ".")
    static let plus = UInt8(ascii: "+")
    static let deny = Array("deny".utf8)
    static let allow = Array("allow".utf8)
}

extension Array where Element == UInt8 {
    /// Whether `word` is at `offset` (false when it would run past the end).
    func matches(_ word: [UInt8], at offset: Int) -> Bool {
        guard offset >= 0, offset + word.count <= count else { return false }
        for index in 0..<word.count where self[offset + index] != word[index] { return false }
        return true
    }
}

extension ArraySlice where Element == UInt8 {
    /// The slice without trailing blanks, tabs and newlines (what tcprules strips; not CR).
    func stripped() -> ArraySlice<UInt8> {
        var end = endIndex
        while end > startIndex {
            let byte = self[end - 1]
            guard byte == 0x0A || byte == 0x20 || byte == 0x09 else { break }
            end -= 1
        }
        return self[startIndex..<end]
    }
}

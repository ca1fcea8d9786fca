public import RelayEngine

/// Byte-level helpers for comparing recorded and simulated SMTP replies.
public enum ReplayReplies {
    /// The reply code of a reply (its first line's three digits), or nil.
    public static func code<C: RandomAccessCollection<UInt8>>(_ reply: C) -> Int? where C.Index == Int {
        guard reply.count >= 3 else { return nil }
        let start = reply.startIndex
        var value = 0
        for offset in 0..<3 {
            let byte = reply[start + offset]
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    /// The outcome a reply code stands for: 2xx/3xx accept, 4xx tempfail, 5xx refuse.
    public static func outcome(ofCode code: Int?) -> Decision.Outcome? {
        guard let code else { return nil }
        switch code / 100 {
        case 2, 3: return .accept
        case 4: return .tempfail
        case 5: return .refuse
        default: return nil
        }
    }

    /// Whether two outcomes are the same decision for a client (`relay` and `accept` are both
    /// an acceptance).
    public static func sameClass(_ lhs: Decision.Outcome?, _ rhs: Decision.Outcome?) -> Bool {
        func normalised(_ outcome: Decision.Outcome?) -> Decision.Outcome? { outcome == .relay ? .accept : outcome }
        return normalised(lhs) == normalised(rhs)
    }

    /// `250 ok <digits> qp <digits>` followed by a line end: qmail-smtpd's reply after a queued
    /// message, whose time and pid vary from run to run.
    public static func isQueuedReply<C: RandomAccessCollection<UInt8>>(_ reply: C) -> Bool where C.Index == Int {
        var index = reply.startIndex
        let end = reply.endIndex
        func literal(_ text: StaticString) -> Bool {
            var matched = true
            text.withUTF8Buffer { bytes in
                for byte in bytes {
                    guard index < end, reply[index] == byte else {
                        matched = false
                        return
                    }
                    index += 1
                }
            }
            return matched
        }
        func digits() -> Bool {
            let start = index
            while index < end, reply[index] >= 48, reply[index] <= 57 { index += 1 }
            return index > start
        }
        guard literal("250 ok "), digits(), literal(" qp "), digits() else { return false }
        if index < end, reply[index] == 13 { index += 1 }
        guard index < end, reply[index] == 10 else { return false }
        return index + 1 == end
    }

    /// The line terminator of a reply's last line (`\r\n`, `\n`, or none).
    static func terminator<C: RandomAccessCollection<UInt8>>(_ reply: C) -> Int where C.Index == Int {
        guard let last = reply.last, last == 10 else { return 0 }
        if reply.count >= 2, reply[reply.endIndex - 2] == 13 { return 2 }
        return 1
    }

    /// Whether a recorded and a simulated reply are the same, with variable parts normalised.
    ///
    /// - Parameters:
    ///   - greeting: the replies are greetings (only codes count with `ignoreGreeting`).
    ///   - challenge: the replies are CRAM-MD5 challenges (`334 <base64>`: any challenge matches).
    public static func same(
        recorded: ArraySlice<UInt8>, simulated: [UInt8], options: ReplayOptions, greeting: Bool = false,
        challenge: Bool = false
    ) -> Bool {
        if options.matching == .code || (greeting && options.ignoreGreeting) {
            guard let recordedCode = code(recorded) else { return false }
            return recordedCode == code(simulated)
        }
        if recorded.elementsEqual(simulated) { return true }
        if isQueuedReply(recorded), isQueuedReply(simulated) {
            return terminator(recorded) == terminator(simulated)
        }
        if challenge, code(recorded) == 334, code(simulated) == 334 {
            return recorded.count > 4 && simulated.count > 4 && recorded[recorded.startIndex + 3] == 32 && simulated[3] == 32
        }
        return false
    }

    /// Reply lines without terminators, joined with newlines (invalid UTF-8 as U+FFFD).
    public static func text<C: RandomAccessCollection<UInt8>>(_ reply: C) -> String where C.Index == Int {
        var lines: [String] = []
        var start = reply.startIndex
        var index = start
        while index < reply.endIndex {
            if reply[index] == 10 {
                var lineEnd = index
                if lineEnd > start, reply[lineEnd - 1] == 13 { lineEnd -= 1 }
                lines.append(String(decoding: reply[start..<lineEnd], as: UTF8.self))
                start = index + 1
            }
            index += 1
        }
        if start < reply.endIndex { lines.append(String(decoding: reply[start..<reply.endIndex], as: UTF8.self)) }
        return lines.joined(separator: "\n")
    }

    /// The engine's facts in words, with user names of SMTP AUTH withheld (they are credentials).
    public static func explanation(_ facts: [Fact]) -> [String] {
        redacted(facts).map(\.description)
    }

    /// The engine's facts with user names of SMTP AUTH replaced (they are credentials).
    public static func redacted(_ facts: [Fact]) -> [Fact] {
        facts.map { fact in
            switch fact.kind {
            case .authenticated:
                return Fact(.note("authenticated with SMTP AUTH"), source: fact.source)
            case .authFailed:
                return Fact(.note("checkpassword refused the credentials"), source: fact.source)
            default:
                return fact
            }
        }
    }

    /// The domain of a recipient address, lower-cased (nil without `@`).
    public static func domain(ofAddress address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let domain = address[address.index(after: at)...]
        return domain.isEmpty ? nil : domain.lowercased()
    }

    /// The address of a `RCPT TO:` (or `MAIL FROM:`) line: between `<` and `>`, or after the colon.
    public static func address(ofCommand line: String) -> String {
        if let open = line.firstIndex(of: "<") {
            let rest = line[line.index(after: open)...]
            return String(rest.prefix { $0 != ">" })
        }
        if let colon = line.firstIndex(of: ":") {
            return String(line[line.index(after: colon)...].drop { $0 == " " }.prefix { $0 != " " })
        }
        return ""
    }
}

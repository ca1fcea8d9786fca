/// An IPv4 or IPv6 address, printed the way tcpserver prints it.
///
/// Stock tcpserver prints IPv4 as a dotted quad without leading zeros. ucspi-tcp-ipv6's tcpserver
/// prints an IPv4-mapped IPv6 client (`::ffff:192.0.2.9`) as a plain dotted quad in `TCPREMOTEIP`,
/// and other IPv6 addresses with its own `ip6_fmt`: lower-case hex groups without leading zeros,
/// and the **longest** run of zero groups — the first one if several are equally long, **even a
/// single zero group** — written as `::` (`2001:db8:0:1:1:1:1:1` → `2001:db8::1:1:1:1:1`, which
/// differs from RFC 5952's form).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// An address from its 4 or 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a dotted quad or any RFC 4291 IPv6 text form (including `::` and a trailing dotted
    /// quad), case-insensitively. Returns nil for anything else.
    public init?(_ text: String) {
        let chars = Array(text.utf8)
        if let v4 = IPAddress.parseIPv4(chars[...]) {
            bytes = v4
        } else if let v6 = IPAddress.parseIPv6(chars) {
            bytes = v6
        } else {
            return nil
        }
    }

    /// Whether this is an IPv4 address or an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    public var isIPv4: Bool { bytes.count == 4 || isV4Mapped }

    /// Whether this is an IPv4-mapped IPv6 address.
    public var isV4Mapped: Bool {
        bytes.count == 16 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
    }

    /// The 16-byte form (IPv4 as IPv4-mapped).
    public var ipv6Bytes: [UInt8] {
        bytes.count == 16 ? bytes : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + bytes
    }

    /// The four IPv4 bytes of an IPv4 or IPv4-mapped address.
    public var ipv4Bytes: [UInt8]? {
        if bytes.count == 4 { return bytes }
        return isV4Mapped ? Array(bytes[12..<16]) : nil
    }

    /// `TCPREMOTEIP`/`TCPLOCALIP` as tcpserver sets it: a dotted quad for IPv4 (mapped or not),
    /// ucspi-tcp-ipv6's compressed form otherwise.
    public var tcpserverString: String {
        if bytes.count == 4 { return IPAddress.dottedQuad(bytes[0], bytes[1], bytes[2], bytes[3]) }
        if isV4Mapped { return IPAddress.dottedQuad(bytes[12], bytes[13], bytes[14], bytes[15]) }
        return ip6Format
    }

    /// `a.b.c.d` in decimal without leading zeros.
    static func dottedQuad(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> String {
        String(unsafeUninitializedCapacity: 15) { buffer in
            var length = 0
            func put(_ octet: UInt8) {
                if octet >= 100 {
                    buffer[length] = 0x30 + octet / 100
                    length += 1
                }
                if octet >= 10 {
                    buffer[length] = 0x30 + octet / 10 % 10
                    length += 1
                }
                buffer[length] = 0x30 + octet % 10
                length += 1
            }
            func dot() {
                buffer[length] = Byte.dot
                length += 1
            }
            put(a)
            dot()
            put(b)
            dot()
            put(c)
            dot()
            put(d)
            return length
        }
    }

    /// Whether `text` is a dotted quad exactly as tcpserver prints it (1-3 digits per part, no
    /// leading zeros, each part at most 255): then it is its own ``tcpserverString``.
    public static func isCanonicalIPv4(_ text: String) -> Bool {
        // Through the contiguous bytes: a dotted quad is a small (inline) string, whose `utf8`
        // view decodes it again for every byte.
        var text = text
        return text.withUTF8 { isCanonicalIPv4(bytes: $0) }
    }

    /// ucspi-tcp-ipv6's `ip6_fmt` of the 16-byte form (`TCP6REMOTEIP`): IPv4 becomes
    /// `::ffff:a.b.c.d`.
    public var ip6Format: String {
        let ip = ipv6Bytes
        // Find the longest run of zero groups (the first of equal runs; a single group counts).
        var bestStart = 0
        var bestLength = 0
        var runStart = -1
        for group in 0...8 {
            let isZero = group < 8 && ip[2 * group] == 0 && ip[2 * group + 1] == 0
            if isZero {
                if runStart < 0 { runStart = group }
            } else if runStart >= 0 {
                if group - runStart > bestLength {
                    bestLength = group - runStart
                    bestStart = runStart
                }
                runStart = -1
            }
        }
        let mapped = isV4Mapped || bytes.count == 4
        var text = ""
        var group = 0
        while group < 8 {
            if group == 6 && mapped {
                text += ip[12..<16].map(String.init).joined(separator: ".")
                break
            }
            if bestLength > 0 && group == bestStart {
                text += group == 0 ? "::" : ":"
                group += bestLength
                continue
            }
            text += String(UInt16(ip[2 * group]) << 8 | UInt16(ip[2 * group + 1]), radix: 16)
            if group < 7 { text += ":" }
            group += 1
        }
        return text
    }

    public var description: String { tcpserverString }

    // MARK: - Parsing

    static func parseIPv4(_ chars: ArraySlice<UInt8>) -> [UInt8]? {
        // Four parts of 1-3 decimal digits (leading zeros allowed), each at most 255.
        var result: [UInt8] = []
        result.reserveCapacity(4)
        var digits = 0
        var value = 0
        for char in chars {
            if char == Byte.dot {
                guard digits > 0, value <= 255, result.count < 3 else { return nil }
                result.append(UInt8(value))
                digits = 0
                value = 0
                continue
            }
            guard char &- 0x30 < 10, digits < 3 else { return nil }
            value = value * 10 + Int(char - 0x30)
            digits += 1
        }
        guard digits > 0, result.count == 3, value <= 255 else { return nil }
        result.append(UInt8(value))
        return result
    }

    static func parseIPv6(_ chars: [UInt8]) -> [UInt8]? {
        guard chars.count >= 2 else { return nil }
        // Split at "::" (at most once).
        var head = chars[...]
        var tail: ArraySlice<UInt8>?
        if let range = chars.firstRange(of: [Byte.colon, Byte.colon]) {
            head = chars[..<range.lowerBound]
            tail = chars[range.upperBound...]
            if tail!.firstRange(of: [Byte.colon, Byte.colon]) != nil { return nil }
        }
        func groups(_ part: ArraySlice<UInt8>, allowIPv4: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: Byte.colon, omittingEmptySubsequences: false)
            var result: [UInt8] = []
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1 && allowIPv4 && field.contains(Byte.dot) {
                    guard let v4 = parseIPv4(field) else { return nil }
                    result += v4
                    continue
                }
                guard (1...4).contains(field.count) else { return nil }
                var value: UInt16 = 0
                for char in field {
                    guard let digit = hexValue(char) else { return nil }
                    value = value << 4 | UInt16(digit)
                }
                result += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return result
        }
        if let tail {
            guard let first = groups(head, allowIPv4: false), let last = groups(tail, allowIPv4: true),
                first.count + last.count <= 14
            else { return nil }
            return first + [UInt8](repeating: 0, count: 16 - first.count - last.count) + last
        }
        guard let all = groups(head, allowIPv4: true), all.count == 16 else { return nil }
        return all
    }

    static func hexValue(_ char: UInt8) -> UInt8? {
        switch char {
        case 0x30...0x39: return char - 0x30
        case 0x61...0x66: return char - 0x61 + 10
        case 0x41...0x46: return char - 0x41 + 10
        default: return nil
        }
    }
}

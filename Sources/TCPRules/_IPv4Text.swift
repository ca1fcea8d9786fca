// The dotted-quad check over a string's contiguous bytes (see `IPAddress.isCanonicalIPv4(_:)`).

extension IPAddress {
    /// Whether `bytes` are a dotted quad exactly as tcpserver prints one: four parts of 1–3
    /// digits, each at most 255, without leading zeros (`0` itself is fine).
    static func isCanonicalIPv4(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var dots = 0
        var digits = 0
        var value = 0
        var startsWithZero = false
        for byte in bytes {
            if byte == Byte.dot {
                guard digits > 0, dots < 3 else { return false }
                dots += 1
                digits = 0
                value = 0
                continue
            }
            // A digit; not after a part's leading 0, and the part stays at most 255.
            guard byte &- 0x30 < 10 else { return false }
            if digits == 0 {
                startsWithZero = byte == 0x30
            } else if startsWithZero {
                return false
            }
            value = value * 10 + Int(byte - 0x30)
            digits += 1
            if value > 255 { return false }
        }
        return dots == 3 && digits > 0
    }
}

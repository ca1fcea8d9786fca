/// Realistic, reproducible domain-name keys for test and benchmark databases, shaped like the
/// entries of a large ISP's `morercpthosts`: `example.com`, `.example.com` (every subdomain) and
/// `mail.example.com`, over a spread of top-level domains.
///
/// ``key(_:)`` is a pure function of the seed and the index, and distinct indexes always give
/// distinct keys (each index gets its own second-level label), so a database built from indexes
/// `0..<n` holds exactly `n` different keys, and any index `>= n` is a key it does not contain —
/// the reproducible misses of `relaylab bench cdb` and the `Benchmarks/` package.
public struct CDBSampleDomains: Sendable {
    /// The largest number of distinct keys (2^30).
    public static let capacity = 1 << 30

    private let roundKeys: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose keys depend only on `seed`.
    public init(seed: UInt64) {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        roundKeys = (next(), next(), next(), next())
    }

    /// The kind of entry a key is.
    public enum Kind: Sendable, Hashable {
        /// `label.tld`: exactly this domain.
        case domain
        /// `.label.tld`: every subdomain (qmail-smtpd's suffix match).
        case subdomains
        /// `host.label.tld`: one host.
        case host
    }

    /// Key number `index` (`0 <= index < capacity`) as its bytes.
    public func key(_ index: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        append(index, to: &bytes)
        return bytes
    }

    /// Key number `index` as a string.
    public func string(_ index: Int) -> String {
        String(decoding: key(index), as: UTF8.self)
    }

    /// What kind of entry key number `index` is.
    public func kind(_ index: Int) -> Kind {
        Self.kind(of: mix(index))
    }

    /// Appends key number `index` to `bytes`.
    public func append(_ index: Int, to bytes: inout [UInt8]) {
        precondition(index >= 0 && index < Self.capacity, "CDBSampleDomains index out of range")
        let permuted = permute(UInt32(index))
        let bits = mix(index)
        switch Self.kind(of: bits) {
        case .domain: break
        case .subdomains: bytes.append(UInt8(ascii: "."))
        case .host:
            bytes.append(contentsOf: Self.hosts[Int((bits >> 8) % UInt64(Self.hosts.count))].utf8)
            bytes.append(UInt8(ascii: "."))
        }
        // The label: `permuted` in bijective base 90 over consonant-vowel syllables (a prefix-free
        // code, so different numbers spell different labels), at least three syllables long.
        // Written least significant syllable first, then reversed in place (vowel, consonant
        // pairs reversed become consonant, vowel).
        var value = UInt64(permuted) + 8100
        let labelStart = bytes.count
        while value > 0 {
            value -= 1
            let syllable = Int(value % 90)
            bytes.append(Self.vowels[syllable % 5])
            bytes.append(Self.consonants[syllable / 5])
            value /= 90
        }
        bytes[labelStart...].reverse()
        bytes.append(UInt8(ascii: "."))
        bytes.append(contentsOf: Self.tld(bits >> 16).utf8)
    }

    private static func kind(of bits: UInt64) -> Kind {
        switch bits % 10 {
        case 0, 1: return .subdomains
        case 2: return .host
        default: return .domain
        }
    }

    private static let consonants = Array("bcdfghjklmnprstvwz".utf8)
    private static let vowels = Array("aeiou".utf8)
    private static let hosts = ["mail", "mx", "smtp", "lists", "news", "shop", "mx1", "relay"]
    /// Top-level domains with rough real-world weights (out of 100).
    private static let tlds: [(String, UInt64)] = [
        ("com", 40), ("net", 9), ("org", 7), ("de", 8), ("co.uk", 5), ("nl", 4), ("fr", 4), ("it", 3),
        ("ru", 3), ("com.br", 3), ("info", 3), ("co.jp", 2), ("com.au", 2), ("ch", 2), ("se", 2),
        ("pl", 1), ("es", 1), ("at", 1),
    ]

    private static func tld(_ bits: UInt64) -> String {
        var pick = bits % 100
        for (name, weight) in tlds {
            if pick < weight { return name }
            pick -= weight
        }
        return "com"
    }

    /// A 64-bit mix of the index (not a permutation; used only for choices).
    private func mix(_ index: Int) -> UInt64 {
        var z = UInt64(index) &+ roundKeys.0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed-keyed permutation of 0..<2^30 (a four-round Feistel network on two 15-bit halves),
    /// so the labels of consecutive indexes look unrelated but never collide.
    private func permute(_ value: UInt32) -> UInt32 {
        var left = value >> 15
        var right = value & 0x7FFF
        func round(_ key: UInt64) {
            var z = UInt64(right) &+ key
            z = (z ^ (z >> 31)) &* 0x7FB5_D329_728E_A185
            z = (z ^ (z >> 27)) &* 0x81DA_DEF4_BC2D_D44D
            let f = UInt32(truncatingIfNeeded: z ^ (z >> 33)) & 0x7FFF
            (left, right) = (right, left ^ f)
        }
        round(roundKeys.0)
        round(roundKeys.1)
        round(roundKeys.2)
        round(roundKeys.3)
        return (left << 15) | right
    }
}

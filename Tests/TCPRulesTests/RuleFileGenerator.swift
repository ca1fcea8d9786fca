// Seeded random tcprules source files and client queries for the differential tests. The files
// lean on the quirks (ranges, odd quotes, duplicates, comments, lines tcprules ignores or refuses)
// and the queries are built from the files' own keys so that most of them hit a rule.

import TCPRules
import TestSupport

struct RuleFileGenerator {
    var rng: SplitMix64
    /// Generate IPv6 rules and queries (for ucspi-tcp-ipv6).
    var ipv6: Bool
    /// Chance (0...1000) that a line is one the dialect refuses or (IPv6) loops on.
    var brokenPerMille: Int

    init(seed: UInt64, ipv6: Bool = false, brokenPerMille: Int = 12) {
        self.rng = SplitMix64(seed: seed)
        self.ipv6 = ipv6
        self.brokenPerMille = brokenPerMille
    }

    mutating func chance(_ perMille: Int) -> Bool { Int.random(in: 0..<1000, using: &rng) < perMille }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    // MARK: - Pieces

    mutating func octet() -> String {
        chance(700) ? pick(["1", "2", "3", "10", "127", "192", "168", "0", "255", "4"]) : String(int(0...255))
    }

    mutating func ipv4() -> String { (0..<4).map { _ in octet() }.joined(separator: ".") }

    mutating func ipv4Prefix() -> String { (0..<int(1...3)).map { _ in octet() }.joined(separator: ".") + "." }

    mutating func ipv6Address() -> String {
        var bytes: [UInt8] = []
        for _ in 0..<8 {
            let group: UInt16 = chance(450) ? 0 : pick([1, 2, 0x2001, 0xdb8, 0xffff, 0xa, 0xfe80, 0x1234])
            bytes += [UInt8(group >> 8), UInt8(group & 0xFF)]
        }
        if chance(80) { bytes = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + (0..<4).map { _ in UInt8(int(0...255)) } }
        return IPAddress(bytes: bytes)!.tcpserverString
    }

    mutating func ipv6Prefix() -> String {
        let address = ipv6Address()
        let cuts = address.indices.filter { address[$0] == ":" || address[$0] == "." }
        guard let cut = cuts.randomElement(using: &rng) else { return address }
        return String(address[...cut])
    }

    mutating func label() -> String {
        pick(["mail", "mx", "example", "com", "org", "a-b", "x_y", "host1", "MX", "Example", "we\\040ird", "net"])
    }

    mutating func host() -> String { (0..<int(1...4)).map { _ in label() }.joined(separator: ".") }

    mutating func info() -> String { pick(["joe", "root", "", "x", "mail"]) }

    mutating func anyIP() -> String { ipv6 && chance(600) ? ipv6Address() : ipv4() }

    mutating func anyPrefix() -> String { ipv6 && chance(600) ? ipv6Prefix() : ipv4Prefix() }

    mutating func address() -> String {
        switch int(0...19) {
        case 0, 1, 2: return anyIP()
        case 3, 4, 5: return anyPrefix()
        case 6:
            // A range in the last octet or in a prefix octet.
            let lower = chance(900) ? String(int(0...260)) : ""
            let upper = chance(900) ? String(int(0...300)) : ""
            let head = (0..<int(0...3)).map { _ in octet() + "." }.joined()
            let tail = chance(500) ? "" : "." + (chance(500) ? "" : octet() + ".")
            return head + lower + "-" + upper + tail
        case 7: return "=" + host()
        case 8: return "=." + host()
        case 9: return chance(500) ? "=" : ""
        case 10: return info() + "@" + anyIP()
        case 11: return info() + "@=" + host()
        case 12: return info() + "@" + anyPrefix()
        case 13: return "=" + host() + "-" + label()
        case 14: return anyIP() + pick([" ", "\t", "x", "#"])
        case 15: return pick(["0", "00", "01.2.3.4", "1.2.3", "a b", "#x", "-", "-5.", "1-2.3-4."])
        default: return chance(500) ? anyIP() : anyPrefix()
        }
    }

    mutating func value(avoiding quote: Character) -> String {
        let pool: [Character] = ["a", "b", "1", " ", ",", ":", "=", "#", "-", "\"", "'", "/", "@", "x", "é"]
        return String((0..<int(0...6)).map { _ in pick(pool) }.filter { $0 != quote })
    }

    mutating func variable() -> String {
        let name = pick(["RELAYCLIENT", "RBLSMTPD", "DATABYTES", "X", "", "A B", "TCPREMOTEIP", "D", "Q"])
        // A blank as the quote is legal, but at the end of a line tcprules strips the closing one.
        let quote: Character = chance(15) ? " " : pick(["\"", "\"", "\"", "'", "/", "x", "#", ",", ":"])
        return "," + name + "=" + String(quote) + value(avoiding: quote) + String(quote)
    }

    /// A line tcprules refuses (or, for ucspi-tcp-ipv6, may loop on).
    mutating func brokenLine() -> String {
        let address = anyIP()
        return pick([
            address + ":Allow", address + ": allow", address + ":allowed", address + ":allow,",
            address + ":allow,X", address + ":allow,X=", address + ":allow,X=\"y", address + ":allow X=\"y\"",
            address + ":allow,X=\"y\" ,Z=\"w\"", address + ":denyfoo", address + ":", "a-b.c.d:allow",
            "1.2.3.x-7:allow", "1.2.3.4-7x:allow", " # indented: comment?", address + ":allow\r",
        ])
    }

    mutating func ruleLine() -> String {
        var line = address() + ":" + (chance(650) ? "allow" : "deny")
        for _ in 0..<(chance(500) ? 0 : int(1...3)) { line += variable() }
        return line
    }

    mutating func line() -> String {
        if chance(brokenPerMille) { return brokenLine() }
        var line: String
        switch int(0...29) {
        case 0: line = "# " + ruleLine()
        case 1: line = ""
        case 2: line = ipv6 ? ruleLine() : pick(["   ", "\t", "no colon here", "1.2.3.4 allow"])
        default: line = ruleLine()
        }
        // (ucspi-tcp-ipv6's tcprules loops forever on a blank line: keep those rare.)
        if chance(120) && !(ipv6 && line.isEmpty) { line += pick([" ", "\t", "  \t "]) }
        return line
    }

    /// A whole file: 0-24 lines, sometimes without a final newline, sometimes with duplicate rules.
    mutating func file() -> String {
        var lines: [String] = []
        for _ in 0..<int(0...24) {
            if !lines.isEmpty && chance(80) { lines.append(pick(lines)) } else { lines.append(line()) }
        }
        var text = lines.joined(separator: "\n")
        if !lines.isEmpty && chance(850) { text += "\n" }
        return text
    }

    // MARK: - Queries

    /// A client for `source`: mostly derived from its keys, so that most queries hit a rule.
    mutating func client(for source: RulesSource?) -> RuleClient {
        let keys = source?.rules.flatMap(\.keys) ?? []
        var ip = anyIP()
        var host: String? = chance(500) ? host().lowercased() : nil
        var info: String? = chance(300) ? info() : nil
        if let key = keys.randomElement(using: &rng), chance(800) {
            if key.hasPrefix("=") {
                let name = String(key.dropFirst())
                host = name.hasPrefix(".") ? label().lowercased() + name : name
            } else if let at = key.firstIndex(of: "@") {
                info = String(key[..<at])
                let rest = String(key[key.index(after: at)...])
                if rest.hasPrefix("=") { host = String(rest.dropFirst()) } else { ip = rest }
            } else if key.hasSuffix(".") {
                let missing = max(1, 4 - key.filter { $0 == "." }.count)
                ip = key + (0..<missing).map { _ in octet() }.joined(separator: ".")
            } else if key.hasSuffix(":") {
                ip = key + pick(["1", "a:2", "0:0:1", ":1"])
            } else {
                ip = key
            }
        }
        if chance(30) { host = "" }
        // Now and then an IPv6 address for stock tcprulescheck, whose prefixes end only at dots.
        if !ipv6 && chance(40) { ip = ipv6Address() }
        return RuleClient(ip: ip, host: host, info: info)
    }
}

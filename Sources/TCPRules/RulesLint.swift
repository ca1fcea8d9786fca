public import CDB

/// Something in a rules file a careful administrator wants to know before deploying it.
public struct RulesLintFinding: Sendable, Hashable, CustomStringConvertible {
    /// How much it matters.
    public enum Severity: String, Sendable, Hashable, Comparable, CaseIterable {
        /// An open relay or a block that does not happen.
        case high
        /// A rule that does not do what it says.
        case medium
        /// Untidy or redundant, harmless today.
        case low

        private var rank: Int {
            switch self {
            case .high: return 0
            case .medium: return 1
            case .low: return 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// A stable identifier such as `relay-any-client` (see ``RulesLinter/codes``).
    public var code: String
    public var severity: Severity
    /// The file the finding is about.
    public var path: String
    /// The 1-based line, when the finding is about a source line.
    public var line: Int?
    /// For a cdb without source: the 1-based record number.
    public var record: Int?
    /// The key concerned, if any.
    public var key: String?
    /// What is wrong, in one line.
    public var message: String
    /// Why it matters.
    public var why: String
    /// How to fix it.
    public var fix: String

    public init(
        code: String, severity: Severity, path: String, line: Int? = nil, record: Int? = nil, key: String? = nil,
        message: String, why: String, fix: String
    ) {
        self.code = code
        self.severity = severity
        self.path = path
        self.line = line
        self.record = record
        self.key = key
        self.message = message
        self.why = why
        self.fix = fix
    }

    /// `path:line`, `path: record N`, or `path`.
    public var location: String {
        if let line { return "\(path):\(line)" }
        if let record { return "\(path): record \(record)" }
        return path
    }

    /// `location: severity: message [code]`.
    public var description: String { "\(location): \(severity.rawValue): \(message) [\(code)]" }
}

/// The findings for one file.
public struct RulesLintReport: Sendable, Hashable {
    /// The file that was linted.
    public var path: String
    /// Findings, ordered by file position.
    public var findings: [RulesLintFinding]

    public init(path: String, findings: [RulesLintFinding]) {
        self.path = path
        self.findings = findings
    }

    /// The number of findings of each severity.
    public func count(_ severity: RulesLintFinding.Severity) -> Int {
        findings.count { $0.severity == severity }
    }
}

/// Checks rules for open relays, rules that never apply, and keys that can never match a real
/// connection.
public enum RulesLinter {
    /// Every finding code with its severity and a short title (the README's table).
    public static let codes: [(code: String, severity: RulesLintFinding.Severity, title: String)] = [
        ("relay-any-client", .high, "RELAYCLIENT for the empty key: every client may relay"),
        ("relay-any-host", .high, "RELAYCLIENT for `=`: every client with reverse DNS may relay"),
        ("relay-broad-prefix", .high, "RELAYCLIENT for an IPv4 prefix shorter than /16 (`127.` excepted; IPv6: shorter than /48)"),
        ("relay-by-hostname", .medium, "RELAYCLIENT for a host name (the client controls its reverse DNS)"),
        ("relay-by-ident", .medium, "RELAYCLIENT for `info@=host` (ident answers come from the client)"),
        ("relayclient-value", .medium, "RELAYCLIENT with a value: qmail-smtpd appends it to every recipient"),
        ("shadowed-duplicate", .medium, "a key already defined earlier: this rule never applies"),
        ("duplicate-redundant", .low, "the same key with the same data again"),
        ("host-uppercase", .medium, "capital letters in a host key (tcpserver lower-cases names)"),
        ("host-unescaped", .medium, "a host key with bytes tcpserver escapes as \\ooo (or a `*`)"),
        ("host-trailing-dot", .medium, "a host key ending in `.` or holding `..`"),
        ("host-without-equals", .medium, "a host name without the leading `=`: compared with the IP"),
        ("ip-leading-zero", .medium, "an IPv4 octet with a leading zero"),
        ("ip-octet-range", .medium, "an IPv4 octet above 255"),
        ("ip-prefix-without-dot", .medium, "an IPv4 prefix without its final dot"),
        ("ip-malformed", .medium, "an IP key with empty or too many octets"),
        ("ipv6-not-canonical", .medium, "an IPv6 key not in the form tcpserver prints"),
        ("ipv6-compressed-prefix", .low, "an IPv6 prefix containing `::` (not a CIDR block)"),
        ("key-whitespace", .medium, "a key with a blank or tab (the blank before `:` is part of the key)"),
        ("key-not-address", .medium, "a key that is neither IP, prefix, `=host` nor `info@`"),
        ("info-prefix", .medium, "`info@` with an IP prefix or host suffix (only exact forms are tried)"),
        ("range-empty", .medium, "a range that creates no key (reversed or empty upper bound)"),
        ("range-capped", .low, "a range whose upper bound above 255 was capped"),
        ("deny-variables", .low, "variables on a deny rule are never used"),
        ("variable-duplicate", .low, "the same variable twice in one rule: the last one wins"),
        ("deny-bypassable", .low, "an IP-prefix deny that an exact `=host` allow rule overrides"),
        ("line-ignored", .medium, "a line without `:` that tcprules silently ignores"),
        ("cdb-stale", .high, "the compiled cdb differs from its source"),
        ("cdb-older", .low, "the compiled cdb is older than its source (same content)"),
        ("source-invalid", .medium, "the source next to the cdb does not compile"),
    ]

    // MARK: - Entry points

    /// Lints a source or cdb file (detected by content), including whether the cdb next to the
    /// source (or the source next to the cdb) is stale.
    ///
    /// - Throws: ``RulesError`` if the file cannot be read or does not parse.
    public static func lint(path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError) -> RulesLintReport {
        let database = try RulesDatabase.load(path: path, dialect: dialect)
        var findings: [RulesLintFinding] = []
        switch database.kind {
        case .source:
            let source = database.source!
            findings = lint(source)
            let cdbPath = RulesSource.defaultCDBPath(for: path)
            if _RulesFile.exists(cdbPath) {
                findings += staleness(source: source, sourcePath: path, cdbPath: cdbPath)
            }
        case .cdb:
            if let source = database.source {
                findings = lint(source)
                findings += staleness(source: source, sourcePath: source.path, cdbPath: path)
            } else {
                if let sourcePath = RulesSource.conventionalSourcePath(for: path), _RulesFile.exists(sourcePath) {
                    do {
                        _ = try RulesSource(contentsOf: sourcePath, dialect: dialect)
                    } catch {
                        findings.append(
                            RulesLintFinding(
                                code: "source-invalid", severity: .medium, path: sourcePath,
                                line: error.syntaxLine,
                                message: "the source of \(path) does not compile: \(error.shortMessage)",
                                why: "the cdb cannot be rebuilt from it; the next `tcprules` run will fail",
                                fix: "fix the line (relaylab rules lint \(sourcePath) shows it), then recompile"))
                    }
                }
                do {
                    findings += try lint(cdb: database.cdb!, path: path)
                } catch {
                    throw .cdb(error)
                }
            }
        case .unreadable:
            throw .unreadable(path: path, database.readFailure ?? .protocolError)
        }
        return RulesLintReport(path: path, findings: findings)
    }

    /// Lints parsed source.
    public static func lint(_ source: RulesSource) -> [RulesLintFinding] {
        let entries = source.rules.map { rule in
            Entry(
                line: rule.line, record: nil, keys: rule.keyBytes, action: rule.action,
                variables: rule.variables, range: rule.range)
        }
        var findings = lint(entries, path: source.path, dialect: source.dialect)
        for skipped in source.skippedLines where skipped.kind == .noColon {
            findings.append(
                RulesLintFinding(
                    code: "line-ignored", severity: .medium, path: source.path, line: skipped.line,
                    message: "tcprules ignores this line: it has no ':' (\"\(skipped.text)\")",
                    why: "a rule with a typo (\"10.0.0.1 allow\") disappears without a word; ucspi-tcp-ipv6's tcprules even loops forever on it",
                    fix: "write it as ADDRESS:allow or ADDRESS:deny, or comment it out with '#' in the first column"))
        }
        return findings.sorted { ($0.line ?? 0, $0.severity) < ($1.line ?? 0, $1.severity) }
    }

    /// Lints the records of a cdb that has no source (locations are record numbers).
    public static func lint(cdb: CDB, path: String) throws(CDBError) -> [RulesLintFinding] {
        var entries: [Entry] = []
        var cursor = cdb.records()
        var number = 0
        while let record = try cursor.next() {
            number += 1
            let match = RulesDatabase.interpret(key: record.key.bytes, data: record.data.bytes)
            entries.append(
                Entry(
                    line: nil, record: number, keys: [record.key.bytes], action: match.action,
                    variables: match.variables, range: nil))
        }
        return lint(entries, path: path, dialect: .ucspiTCPIPv6)
    }

    // MARK: - Checks

    struct Entry {
        var line: Int?
        var record: Int?
        var keys: [[UInt8]]
        var action: RuleAction
        var variables: [RuleVariable]
        var range: AddressRange?
    }

    static func lint(_ entries: [Entry], path: String, dialect: RulesDialect) -> [RulesLintFinding] {
        var findings: [RulesLintFinding] = []
        func add(
            _ entry: Entry, _ code: String, _ severity: RulesLintFinding.Severity, key: [UInt8]?, _ message: String,
            why: String, fix: String
        ) {
            findings.append(
                RulesLintFinding(
                    code: code, severity: severity, path: path, line: entry.line, record: entry.record,
                    key: key.map { String(decoding: $0, as: UTF8.self) }, message: message, why: why, fix: fix))
        }
        func show(_ key: [UInt8]) -> String { "'" + String(decoding: key, as: UTF8.self) + "'" }

        var first: [[UInt8]: (entry: Int, action: RuleAction, variables: [RuleVariable])] = [:]
        let exactHostAllows = entries.enumerated().compactMap { index, entry -> (Int, [UInt8])? in
            guard entry.action == .allow,
                let key = entry.keys.first(where: { KeyShape($0).isExactHost && keyProblems(KeyShape($0), key: $0).isEmpty })
            else {
                return nil
            }
            return (index, key)
        }

        for (index, entry) in entries.enumerated() {
            let relayValues = entry.variables.filter { $0.name == "RELAYCLIENT" }.map(\.value)
            let grantsRelay = entry.action == .allow && !relayValues.isEmpty
            var reportedKeyProblems: Set<String> = []
            var shadowedBy: [Int: (count: Int, sameData: Bool, key: [UInt8])] = [:]

            if entry.keys.isEmpty, let range = entry.range {
                let upper = String(decoding: range.upperText, as: UTF8.self)
                let lower = String(decoding: range.lowerText, as: UTF8.self)
                add(
                    entry, "range-empty", .medium, key: nil,
                    "the range \(lower)-\(upper) creates no key, so this rule does nothing",
                    why: upper.isEmpty
                        ? "an empty upper bound counts as 0, which is below the lower bound"
                        : "the lower bound is above the upper bound (after capping it at 255)",
                    fix: "write the range low-high with both bounds, e.g. 10.0.0.4-7")
            }
            if let range = entry.range, range.isCapped, range.lower <= 255 {
                add(
                    entry, "range-capped", .low, key: nil,
                    "the range's upper bound \(String(decoding: range.upperText, as: UTF8.self)) was capped at 255",
                    why: "tcprules silently stops at 255; a bound above it usually means a typo",
                    fix: "write the upper bound as 255 or less")
            }

            for key in entry.keys {
                let shape = KeyShape(key)
                // Relaying.
                if grantsRelay && reportedKeyProblems.insert("relay").inserted {
                    switch shape {
                    case .empty:
                        add(
                            entry, "relay-any-client", .high, key: key,
                            "RELAYCLIENT is set for the empty key: every client can relay (an open relay)",
                            why: "the empty key is tried last for every connection no other rule matches, so any address on the internet gets RELAYCLIENT",
                            fix: "grant RELAYCLIENT only to your own networks (e.g. 127.:allow,RELAYCLIENT=\"\") and make the empty key :allow without it")
                    case .anyHost:
                        add(
                            entry, "relay-any-host", .high, key: key,
                            "RELAYCLIENT is set for '=': every client with a reverse DNS name can relay",
                            why: "'=' matches whenever TCPREMOTEHOST is set, i.e. for any address with a PTR record",
                            fix: "remove RELAYCLIENT from the '=' rule; grant it to your own IP prefixes instead")
                    case .host(let name), .hostSuffix(let name):
                        let labels = name.split(separator: Byte.dot).count
                        let broad: Bool = { if case .hostSuffix = shape { return labels <= 1 } else { return false } }()
                        add(
                            entry, "relay-by-hostname", broad ? .high : .medium, key: key,
                            "RELAYCLIENT is granted by the host name \(show(key))",
                            why: "TCPREMOTEHOST comes from the client's reverse DNS, which whoever controls the address's PTR zone can set to any name; only tcpserver -p checks it against the forward DNS"
                                + (broad ? ", and this suffix covers a whole top-level domain" : ""),
                            fix: "grant RELAYCLIENT by IP address or prefix, or use SMTP AUTH; if you keep host rules, run tcpserver with -p")
                    case .infoAtHost:
                        add(
                            entry, "relay-by-ident", .medium, key: key,
                            "RELAYCLIENT is granted by ident user and host name \(show(key))",
                            why: "both the ident answer and the reverse DNS name come from the client's side and can be forged",
                            fix: "grant RELAYCLIENT by IP address or prefix, or use SMTP AUTH")
                    case .ip(let text), .infoAtIP(_, let text):
                        // 127. is the loopback network: relaying for it is the textbook rule.
                        if let bits = prefixBits(text), bits.isIPv6 ? bits.bits < 48 : bits.bits < 16,
                            text != Array("127.".utf8)
                        {
                            add(
                                entry, "relay-broad-prefix", .high, key: key,
                                "RELAYCLIENT is granted to the whole /\(bits.bits) \(show(key))",
                                why: bits.isIPv6
                                    ? "a prefix shorter than /48 covers more than one site's network"
                                    : "a prefix shorter than /16 covers more than 65536 addresses, usually other people's",
                                fix: "narrow it to the networks you run (e.g. 10.1.2.)")
                        }
                    case .other:
                        break
                    }
                }
                if grantsRelay, relayValues.contains(where: { !$0.isEmpty }),
                    reportedKeyProblems.insert("relay-value").inserted
                {
                    add(
                        entry, "relayclient-value", .medium, key: key,
                        "RELAYCLIENT has the value '\(relayValues.last!)': qmail-smtpd appends it to every recipient address",
                        why: "qmail-smtpd tests only whether RELAYCLIENT is set, and appends its value to each RCPT address (RELAYCLIENT=\"1\" turns joe@example.com into joe@example.com1)",
                        fix: "write RELAYCLIENT=\"\"")
                }

                // Keys that can never match.
                for problem in keyProblems(shape, key: key) where reportedKeyProblems.insert(problem.code).inserted {
                    let severity: RulesLintFinding.Severity =
                        problem.code == "ipv6-compressed-prefix" ? .low : (entry.action == .deny ? .high : .medium)
                    add(
                        entry, problem.code, severity, key: key, problem.message,
                        why: problem.why + (entry.action == .deny ? "; this deny therefore never blocks anyone" : ""),
                        fix: problem.fix)
                }

                // Duplicates.
                if let earlier = first[key] {
                    let same = earlier.action == entry.action && earlier.variables == entry.variables
                    let previous = shadowedBy[earlier.entry]
                    shadowedBy[earlier.entry] = (
                        (previous?.count ?? 0) + 1, (previous?.sameData ?? true) && same, previous?.key ?? key
                    )
                } else {
                    first[key] = (index, entry.action, entry.variables)
                }
            }

            for (earlierIndex, shadow) in shadowedBy.sorted(by: { $0.key < $1.key }) {
                let earlier = entries[earlierIndex]
                let where_ = earlier.line.map { "line \($0)" } ?? earlier.record.map { "record \($0)" } ?? "earlier"
                let keys = shadow.count == 1 ? "key \(show(shadow.key)) is" : "\(shadow.count) keys (\(show(shadow.key)), ...) are"
                if shadow.sameData {
                    add(
                        entry, "duplicate-redundant", .low, key: shadow.key,
                        "\(keys) already defined identically on \(where_)",
                        why: "tcpserver uses the first rule for a key; this copy changes nothing",
                        fix: "delete this line")
                } else {
                    add(
                        entry, "shadowed-duplicate", .medium, key: shadow.key,
                        "\(keys) already defined on \(where_): this rule never applies",
                        why: "tcpserver uses the first rule for a key (tcprules keeps both records; lookups find the first)",
                        fix: "merge the two rules into the earlier line, or delete this one")
                }
            }

            if entry.action == .deny && !entry.variables.isEmpty {
                add(
                    entry, "deny-variables", .low, key: entry.keys.first,
                    "variables on a deny rule are never used (\(entry.variables.map(\.name).joined(separator: ", ")))",
                    why: "a denied connection is closed before any program runs",
                    fix: "remove the variables, or make the rule allow")
            }
            var seen: Set<String> = []
            for name in entry.variables.map(\.name) where !seen.insert(name).inserted {
                add(
                    entry, "variable-duplicate", .low, key: entry.keys.first,
                    "\(name) is set twice in this rule; the last value wins",
                    why: "tcpserver sets the variables in order (tcprulescheck prints both)",
                    fix: "keep only the value you want")
                break
            }
            let applies = entry.keys.contains { first[$0]?.entry == index }
            if entry.action == .deny, applies, let key = entry.keys.first, KeyShape(key).isIPPrefix,
                let bypass = exactHostAllows.first
            {
                let other = entries[bypass.0]
                let where_ = other.line.map { "line \($0)" } ?? other.record.map { "record \($0)" } ?? "elsewhere"
                add(
                    entry, "deny-bypassable", .low, key: key,
                    "exact host rules such as \(show(bypass.1)) (\(where_)) are tried before the prefix \(show(key))",
                    why: "tcpserver tries =host before IP prefixes, so a client in this range whose reverse DNS claims that name is allowed",
                    fix: "deny exact addresses, or run tcpserver with -p so forged PTR names are dropped")
            }
        }
        return findings
    }

    // MARK: - Key shapes

    enum KeyShape {
        case empty
        case anyHost
        case host([UInt8])
        case hostSuffix([UInt8])
        case infoAtIP([UInt8], [UInt8])
        case infoAtHost([UInt8], [UInt8])
        case ip([UInt8])
        case other

        init(_ key: [UInt8]) {
            if key.isEmpty {
                self = .empty
            } else if key == [Byte.equals] {
                self = .anyHost
            } else if key.first == Byte.equals {
                let name = Array(key.dropFirst())
                self = name.first == Byte.dot ? .hostSuffix(name) : .host(name)
            } else if let at = key.lastIndex(of: Byte.at) {
                let info = Array(key[..<at])
                let rest = Array(key[(at + 1)...])
                self = rest.first == Byte.equals ? .infoAtHost(info, Array(rest.dropFirst())) : .infoAtIP(info, rest)
            } else {
                self = .ip(key)
            }
        }

        var isExactHost: Bool {
            if case .host = self { return true }
            return false
        }

        var isIPPrefix: Bool {
            if case .ip(let text) = self { return text.last == Byte.dot || text.last == Byte.colon }
            return false
        }
    }

    struct KeyProblem {
        var code: String
        var message: String
        var why: String
        var fix: String
    }

    static func keyProblems(_ shape: KeyShape, key: [UInt8]) -> [KeyProblem] {
        let shown = "'" + String(decoding: key, as: UTF8.self) + "'"
        switch shape {
        case .empty, .anyHost, .other:
            return []
        case .host(let name), .hostSuffix(let name):
            return hostProblems(name, shown: shown)
        case .infoAtHost(_, let name):
            var problems = hostProblems(name, shown: shown)
            if name.first == Byte.dot {
                problems.append(
                    KeyProblem(
                        code: "info-prefix", message: "\(shown) uses info@ with a host suffix",
                        why: "info@ keys are tried only with the exact host name, never with suffixes",
                        fix: "write the full host name after info@=, or drop the info@ part"))
            }
            return problems
        case .infoAtIP(_, let ip):
            var problems = ipProblems(ip, shown: shown)
            if ip.last == Byte.dot || ip.last == Byte.colon {
                problems.append(
                    KeyProblem(
                        code: "info-prefix", message: "\(shown) uses info@ with an IP prefix",
                        why: "info@ keys are tried only with the exact IP address, never with prefixes",
                        fix: "write the full address after info@, or drop the info@ part"))
            }
            return problems
        case .ip(let ip):
            return ipProblems(ip, shown: shown)
        }
    }

    static func hostProblems(_ name: [UInt8], shown: String) -> [KeyProblem] {
        var problems: [KeyProblem] = []
        if name.contains(where: { (0x41...0x5A).contains($0) }) {
            problems.append(
                KeyProblem(
                    code: "host-uppercase", message: "\(shown) has capital letters and can never match",
                    why: "tcpserver lower-cases the PTR name in TCPREMOTEHOST and keys are compared byte for byte",
                    fix: "write the host name in lower case"))
        }
        var index = 0
        var unescaped: UInt8?
        while index < name.count {
            let byte = name[index]
            if byte == UInt8(ascii: "\\"), index + 3 < name.count,
                name[(index + 1)...(index + 3)].allSatisfy({ (0x30...0x37).contains($0) })
            {
                index += 4
                continue
            }
            let allowed =
                (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte)
                || byte == Byte.dash || byte == UInt8(ascii: "_") || byte == Byte.dot
            if !allowed && unescaped == nil { unescaped = byte }
            index += 1
        }
        if let byte = unescaped {
            let wildcard = byte == UInt8(ascii: "*")
            problems.append(
                KeyProblem(
                    code: "host-unescaped",
                    message: wildcard
                        ? "\(shown) uses '*', which is not a wildcard and can never match"
                        : "\(shown) contains \(RulesSyntaxError.describe(byte)), which tcpserver writes as \\\(String(byte, radix: 8).leftPadded(to: 3)); it can never match",
                    why: "tcpserver escapes every byte outside a-z, 0-9, '-' and '_' in TCPREMOTEHOST",
                    fix: wildcard
                        ? "write =.example.com for every host under example.com"
                        : "write the byte as tcpserver does (\\ooo in octal) or remove it"))
        }
        if name.last == Byte.dot || zip(name, name.dropFirst()).contains(where: { $0 == Byte.dot && $1 == Byte.dot }) {
            problems.append(
                KeyProblem(
                    code: "host-trailing-dot", message: "\(shown) ends in '.' or holds '..' and can never match",
                    why: "tcpserver drops the root dot of PTR names, and DNS names have no empty labels",
                    fix: "remove the trailing dot"))
        }
        return problems
    }

    static func ipProblems(_ ip: [UInt8], shown: String) -> [KeyProblem] {
        if ip.contains(where: { $0 == 0x20 || $0 == 0x09 }) {
            return [
                KeyProblem(
                    code: "key-whitespace", message: "\(shown) contains a blank or tab and can never match",
                    why: "the key is everything before ':', blanks included (\"10.0.0.9 :allow\" has the key \"10.0.0.9 \")",
                    fix: "remove the blanks around the address")
            ]
        }
        if ip.contains(Byte.colon) { return ipv6Problems(ip, shown: shown) }
        if ip.allSatisfy({ $0 == Byte.dot || (0x30...0x39).contains($0) }) { return ipv4Problems(ip, shown: shown) }
        let text = String(decoding: ip, as: UTF8.self)
        if ip.contains(Byte.dot) && ip.contains(where: { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) {
            return [
                KeyProblem(
                    code: "host-without-equals", message: "\(shown) looks like a host name but has no leading '='",
                    why: "without '=' the key is compared with the client's IP address, so it can never match",
                    fix: "write =\(text) (or =.\(text) for every host under it)")
            ]
        }
        return [
            KeyProblem(
                code: "key-not-address",
                message: "\(shown) is not an IP address, IP prefix, =host, info@ form or empty key; it can never match",
                why: "tcpserver only looks up those forms",
                fix: "write an IP address (1.2.3.4), a prefix ending in '.' (1.2.3.), or =host.example.com")
        ]
    }

    static func ipv4Problems(_ ip: [UInt8], shown: String) -> [KeyProblem] {
        let isPrefix = ip.last == Byte.dot
        let octets = (isPrefix ? Array(ip.dropLast()) : ip).split(separator: Byte.dot, omittingEmptySubsequences: false)
        var problems: [KeyProblem] = []
        if octets.contains(where: \.isEmpty) || octets.count > 4 || (isPrefix && octets.count >= 4) {
            return [
                KeyProblem(
                    code: "ip-malformed", message: "\(shown) has empty or too many octets and can never match",
                    why: "tcpserver's TCPREMOTEIP is exactly four octets, and prefixes end after one to three of them",
                    fix: "write a dotted quad (1.2.3.4) or a prefix such as 1.2.3.")
            ]
        }
        if octets.contains(where: { $0.count > 1 && $0.first == 0x30 }) {
            problems.append(
                KeyProblem(
                    code: "ip-leading-zero", message: "\(shown) has an octet with a leading zero and can never match",
                    why: "tcpserver prints octets without leading zeros (001.002.003.004 is never TCPREMOTEIP)",
                    fix: "remove the leading zeros"))
        }
        if octets.contains(where: { $0.count > 3 || Int(String(decoding: $0, as: UTF8.self)) ?? 0 > 255 }) {
            problems.append(
                KeyProblem(
                    code: "ip-octet-range", message: "\(shown) has an octet above 255 and can never match",
                    why: "IPv4 octets are 0-255", fix: "correct the octet"))
        }
        if !isPrefix && octets.count < 4 {
            problems.append(
                KeyProblem(
                    code: "ip-prefix-without-dot",
                    message: "\(shown) looks like a prefix but has no final dot, so it is an exact address that never occurs",
                    why: "only keys ending in '.' are tried as prefixes; \(shown) is compared with the full dotted quad",
                    fix: "write \(String(decoding: ip, as: UTF8.self)). with the final dot"))
        }
        return problems
    }

    static func ipv6Problems(_ ip: [UInt8], shown: String) -> [KeyProblem] {
        let text = String(decoding: ip, as: UTF8.self)
        if ip.last == Byte.colon {
            var problems: [KeyProblem] = []
            let groups = ip.dropLast().split(separator: Byte.colon, omittingEmptySubsequences: true)
            let badGroup = groups.contains { group in
                group.count > 4 || group.contains { IPAddress.hexValue($0) == nil || (0x41...0x46).contains($0) }
                    || (group.count > 1 && group.first == 0x30)
            }
            if badGroup {
                problems.append(
                    KeyProblem(
                        code: "ipv6-not-canonical",
                        message: "\(shown) has capital letters, leading zeros or bad groups and can never match",
                        why: "tcpserver prints IPv6 addresses in lower case without leading zeros",
                        fix: "write the prefix as tcpserver prints it (lower case, no leading zeros)"))
            }
            if text.contains("::") {
                problems.append(
                    KeyProblem(
                        code: "ipv6-compressed-prefix",
                        message: "\(shown) is a prefix of the compressed text form, not a network",
                        why: "tcpserver compares text: a prefix ending in '::' matches only addresses whose longest zero run is compressed there",
                        fix: "use prefixes of whole groups without '::' (2001:db8:1:) or exact addresses"))
            }
            return problems
        }
        guard let address = IPAddress(text) else {
            return [
                KeyProblem(
                    code: "ipv6-not-canonical", message: "\(shown) is not a valid IPv6 address and can never match",
                    why: "TCPREMOTEIP is always a valid address", fix: "correct the address")
            ]
        }
        let printed = address.tcpserverString
        if printed != text {
            return [
                KeyProblem(
                    code: "ipv6-not-canonical", message: "\(shown) can never match: tcpserver prints this address as '\(printed)'",
                    why: "keys are compared with TCPREMOTEIP byte for byte; ucspi-tcp-ipv6 compresses the longest zero run (even a single group), prints lower case without leading zeros, and IPv4-mapped addresses as dotted quads",
                    fix: "write \(printed)")
            ]
        }
        return []
    }

    /// The prefix length of an IP prefix key (nil if the key is not a prefix).
    static func prefixBits(_ key: [UInt8]) -> (bits: Int, isIPv6: Bool)? {
        guard let last = key.last, last == Byte.dot || last == Byte.colon else { return nil }
        if key.contains(Byte.colon) {
            let groups = key.split(separator: Byte.colon, omittingEmptySubsequences: true).count
            return (groups * 16, true)
        }
        return (key.count { $0 == Byte.dot } * 8, false)
    }

    /// The lint findings of the cdb next to (or in place of) a source.
    static func staleness(source: RulesSource, sourcePath: String, cdbPath: String) -> [RulesLintFinding] {
        guard case .success(let bytes) = _RulesFile.readAll(cdbPath) else { return [] }
        let compiled = (try? source.compiled()) ?? []
        if bytes != compiled {
            return [
                RulesLintFinding(
                    code: "cdb-stale", severity: .high, path: cdbPath,
                    message: "\(cdbPath) differs from what tcprules makes of \(sourcePath)",
                    why: "tcpserver reads the cdb, so the rules in force are not the ones in the source",
                    fix: "recompile: relaylab rules compile \(sourcePath) -o \(cdbPath) (or tcprules \(cdbPath) \(cdbPath).tmp < \(sourcePath))")
            ]
        }
        if let cdbTime = _RulesFile.modificationTime(cdbPath), let sourceTime = _RulesFile.modificationTime(sourcePath),
            cdbTime < sourceTime
        {
            return [
                RulesLintFinding(
                    code: "cdb-older", severity: .low, path: cdbPath,
                    message: "\(cdbPath) is older than \(sourcePath) (the content is the same)",
                    why: "tools that compare times (make) will recompile; nothing is wrong today",
                    fix: "recompile to refresh the time: relaylab rules compile \(sourcePath) -o \(cdbPath)")
            ]
        }
        return []
    }
}

extension RulesError {
    var syntaxLine: Int? {
        if case .syntax(let error) = self { return error.line }
        return nil
    }

    var shortMessage: String {
        if case .syntax(let error) = self { return "line \(error.line): \(error.message)" }
        return description
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

import CDB
import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("relaylab rules lint checks")
struct RulesLintTests {
    func codes(_ text: String, dialect: RulesDialect = .ucspiTCP) throws -> [String] {
        RulesLinter.lint(try parse(text, dialect: dialect)).map(\.code)
    }

    @Test func cleanFileHasNoFindings() throws {
        #expect(try codes("127.:allow,RELAYCLIENT=\"\"\n10.1.2.:allow,RELAYCLIENT=\"\"\n1.2.3.4:deny\n:allow\n").isEmpty)
    }

    @Test(arguments: [
        (":allow,RELAYCLIENT=\"\"\n", "relay-any-client"),
        ("=:allow,RELAYCLIENT=\"\"\n", "relay-any-host"),
        ("10.:allow,RELAYCLIENT=\"\"\n", "relay-broad-prefix"),
        ("10-11.:allow,RELAYCLIENT=\"\"\n", "relay-broad-prefix"),
        ("=.example.com:allow,RELAYCLIENT=\"\"\n", "relay-by-hostname"),
        ("joe@=h.example.com:allow,RELAYCLIENT=\"\"\n", "relay-by-ident"),
        ("10.1.2.:allow,RELAYCLIENT=\"1\"\n", "relayclient-value"),
        ("1.2.3.4:allow\n1.2.3.4:deny\n", "shadowed-duplicate"),
        ("1.2.3.4:deny\n1.2.3.4:deny\n", "duplicate-redundant"),
        ("=Mail.example.com:allow\n", "host-uppercase"),
        ("=we ird.example.com:allow\n", "host-unescaped"),
        ("=*.example.com:deny\n", "host-unescaped"),
        ("=mail.example.com.:allow\n", "host-trailing-dot"),
        ("mail.example.com:allow\n", "host-without-equals"),
        ("010.1.2.3:deny\n", "ip-leading-zero"),
        ("10.1.2.300:deny\n", "ip-octet-range"),
        ("10.0.0:deny\n", "ip-prefix-without-dot"),
        ("1.2.3.4.:deny\n", "ip-malformed"),
        ("10.0.0.9 :deny\n", "key-whitespace"),
        ("joe@1.2.3.:deny\n", "info-prefix"),
        ("1.2.3.7-4:deny\n", "range-empty"),
        ("1.2.3.250-300:deny\n", "range-capped"),
        ("1.2.3.4:deny,X=\"y\"\n", "deny-variables"),
        ("1.2.3.4:allow,X=\"1\",X=\"2\"\n", "variable-duplicate"),
        ("1.2.3.:deny\n=mail.example.com:allow\n", "deny-bypassable"),
        ("10.0.0.1 allow\n", "line-ignored"),
    ])
    func findsTheProblem(text: String, code: String) throws {
        #expect(try codes(text).contains(code), "\(text)")
    }

    @Test(arguments: [
        ("2001:DB8::1:deny\n", "ipv6-not-canonical"), ("2001:db8:0:0:0:0:0:1:deny\n", "ipv6-not-canonical"),
        ("::ffff:1.2.3.4:deny\n", "ipv6-not-canonical"), ("2001:db8:::deny\n", "ipv6-compressed-prefix"),
        ("2001:0db8::allow\n", "ipv6-not-canonical"), ("2001::allow,RELAYCLIENT=\"\"\n", "relay-broad-prefix"),
    ])
    func findsIPv6Problems(text: String, code: String) throws {
        #expect(try codes(text, dialect: .ucspiTCPIPv6).contains(code), "\(text)")
    }

    @Test func everyFindingHasLocationSeverityWhyAndFix() throws {
        let findings = RulesLinter.lint(try parse("# x\n:allow,RELAYCLIENT=\"\"\n10.0.0:deny\n"))
        #expect(findings.map(\.line) == [2, 3])
        #expect(findings[0].severity == .high)
        #expect(findings[1].severity == .high, "a deny that never matches is a block that does not happen")
        for finding in findings {
            #expect(!finding.why.isEmpty && !finding.fix.isEmpty)
            #expect(finding.description.hasPrefix("tcp.smtp:\(finding.line!): \(finding.severity.rawValue): "))
            #expect(RulesLinter.codes.contains { $0.code == finding.code })
        }
    }

    @Test func staleAndOlderCDBs() throws {
        let dir = try TestSupport.temporaryDirectory("rules-lint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tcp.smtp"
        try TestSupport.write("1.2.3.4:deny\n", to: path)
        try RulesSource(contentsOf: path).compile(to: path + ".cdb")
        #expect(try RulesLinter.lint(path: path).findings.isEmpty)
        #expect(try RulesLinter.lint(path: path + ".cdb").findings.isEmpty)
        // Same content, but the source is newer.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: path + ".cdb")
        #expect(try RulesLinter.lint(path: path).findings.map(\.code) == ["cdb-older"])
        // Different content.
        try TestSupport.write("1.2.3.4:allow\n", to: path)
        #expect(try RulesLinter.lint(path: path).findings.map(\.code) == ["cdb-stale"])
        #expect(try RulesLinter.lint(path: path + ".cdb").findings.map(\.code) == ["cdb-stale"])
        // A broken source next to the cdb.
        try TestSupport.write("1.2.3.4:Allow\n", to: path)
        #expect(try RulesLinter.lint(path: path + ".cdb").findings.map(\.code) == ["source-invalid"])
    }

    @Test func cdbWithoutSourceIsLintedByRecord() throws {
        let cdb = try CDB(bytes: try parse("1.2.3.4:allow\n:allow,RELAYCLIENT=\"\"\n1.2.3.4:deny\n").compiled())
        let findings = try RulesLinter.lint(cdb: cdb, path: "x.cdb")
        #expect(findings.map(\.code).sorted() == ["relay-any-client", "shadowed-duplicate"])
        #expect(findings.first { $0.code == "shadowed-duplicate" }?.location == "x.cdb: record 3")
    }
}

import CDB
import Foundation
import RelayEngine
import Replay
import Scenarios
import TCPRules
import TestSupport
import Testing

/// A small configuration on disk for one audit test: control/me and control/rcpthosts
/// (example.net) unless a test changes them, and optionally tcp.smtp (and its cdb).
struct AuditSetup {
    let folder: String
    var environment: [String: String] = [:]
    var tcpserver: [String]? = nil
    var useRules = false
    var rulesFile = "tcp.smtp"

    init() throws {
        folder = try TestSupport.temporaryDirectory("audit")
        try FileManager.default.createDirectory(atPath: folder + "/control", withIntermediateDirectories: true)
        try control("me", "mx.example.net\n")
        try control("rcpthosts", "example.net\n")
    }

    var controlFolder: String { folder + "/control" }

    func control(_ name: String, _ text: String) throws {
        try TestSupport.write(text, to: controlFolder + "/" + name)
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(atPath: controlFolder + "/" + name)
    }

    /// control/NAME as a cdb with these keys (empty data), as qmail-newmrh writes it.
    func controlCDB(_ name: String, keys: [String]) throws {
        let bytes = try CDBWriter.build(keys.map { (Array($0.utf8), [UInt8]()) })
        try TestSupport.write(bytes, to: controlFolder + "/" + name)
    }

    /// Writes tcp.smtp (the audit then uses it); with `compile`, also tcp.smtp.cdb.
    mutating func rules(_ text: String, compile: Bool = false) throws {
        try TestSupport.write(text, to: folder + "/tcp.smtp")
        if compile {
            let source = try RulesSource(parsing: text, path: folder + "/tcp.smtp")
            try source.compile(to: folder + "/tcp.smtp.cdb")
        }
        useRules = true
    }

    var spec: ConfigurationSpec {
        var spec = ConfigurationSpec()
        spec.control = .directory(controlFolder)
        if useRules { spec.rules = .file(folder + "/" + rulesFile) }
        for (name, value) in environment { spec.environment[name] = value }
        spec.tcpserver = tcpserver
        return spec
    }

    func audit() throws -> AuditReport {
        try Auditor.audit([AuditTarget(spec: spec)], subject: "test")
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: folder) }
}

extension AuditReport {
    func findings(_ code: String) -> [AuditFinding] { findings.filter { $0.code == code } }
    var codes: [String] { findings.map(\.code) }
}

/// Every audit finding, each with a minimal configuration that triggers it and one that does not.
@Suite struct AuditTests {
    // MARK: - A clean configuration

    @Test func aCleanConfigurationHasNoFindings() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n10.1.2.:allow,RELAYCLIENT=\"\"\n:allow\n", compile: true)
        let report = try setup.audit()
        #expect(report.findings.isEmpty, "\(report.codes)")
        #expect(report.exitStatus == 0)
        #expect(report.countsLine == "no findings")
    }

    // MARK: - Open relays, with proofs

    @Test func rcpthostsMissingIsAnOpenRelayWithProof() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("rcpthosts")
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        let report = try setup.audit()
        let finding = try #require(report.findings("open-relay-rcpthosts-missing").first)
        #expect(finding.severity == .error)
        #expect(finding.file.hasSuffix("control/rcpthosts"))
        #expect(finding.consequence.contains("morercpthosts.cdb is ignored"))
        let proof = try #require(finding.proof)
        #expect(proof.decision.outcome == .relay)
        #expect(proof.decision.reasons.contains { if case .rcpthostsMissing = $0.kind { true } else { false } })
        #expect(proof.transcript.map(\.client) == [nil, "HELO relay-probe.example", "MAIL FROM:<probe@relay-probe.example>", "RCPT TO:<\(proof.recipient)>", "QUIT"])
        #expect(proof.transcript[3].reply == ["250 ok"])
        #expect(report.exitStatus == 1)
        // The ignored cdb is part of this finding, not one of its own.
        #expect(report.findings.count == 1, "\(report.codes)")
    }

    @Test func rcpthostsPresentIsNoOpenRelay() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        let report = try setup.audit()
        #expect(report.findings("open-relay-rcpthosts-missing").isEmpty)
    }

    @Test func relayClientForTheEmptyRuleIsProven() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow,RELAYCLIENT=\"\"\n")
        let report = try setup.audit()
        let finding = try #require(report.findings("relay-any-client").first)
        #expect(finding.severity == .error)
        #expect(finding.line == 2)
        let proof = try #require(finding.proof)
        #expect(proof.clientName == nil)
        #expect(!proof.clientIP.hasPrefix("127."))
        #expect(proof.decision.outcome == .relay)
        #expect(proof.connectionReasons.first?.text == "catch-all rule \":\" (empty key) matched: allow")
        #expect(proof.decision.reasons.contains { $0.description.hasSuffix("tcp.smtp:2)") })
    }

    @Test func theEmptyRuleWithoutRelayClientIsFine() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow\n")
        #expect(try setup.audit().findings("relay-any-client").isEmpty)
    }

    @Test func relayClientForAnyHostIsProvenWithAPTRName() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("=:allow,RELAYCLIENT=\"\"\n:allow\n")
        let finding = try #require(try setup.audit().findings("relay-any-host").first)
        #expect(finding.severity == .error)
        let proof = try #require(finding.proof)
        #expect(proof.clientName != nil)
        #expect(proof.connectionReasons.first?.text == "rule \"=\" matched: allow")
    }

    @Test func anyHostRuleCannotRelayWhenTCPServerSkipsReverseDNS() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("=:allow,RELAYCLIENT=\"\"\n:allow\n")
        setup.tcpserver = ["-H"]
        let finding = try #require(try setup.audit().findings("relay-any-host").first)
        // Dangerous, but no client can relay through it today: a warning without proof.
        #expect(finding.severity == .warning)
        #expect(finding.proof == nil)
        #expect(finding.proofNote == "tcpserver runs with -H, so host rules never apply")
    }

    @Test func broadPrefixIsProvenWithAClientInsideIt() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("10.:allow,RELAYCLIENT=\"\"\n:allow\n")
        let finding = try #require(try setup.audit().findings("relay-broad-prefix").first)
        let proof = try #require(finding.proof)
        #expect(proof.clientIP.hasPrefix("10."))
        #expect(proof.decision.outcome == .relay)
    }

    @Test func narrowPrefixIsNoFinding() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("10.1.2.:allow,RELAYCLIENT=\"\"\n:allow\n")
        #expect(try setup.audit().findings("relay-broad-prefix").isEmpty)
    }

    @Test func aBroadPrefixShadowedByAnEarlierRuleIsNotExploitable() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        // The second 10. rule never applies: the first one (without RELAYCLIENT) wins.
        try setup.rules("10.:allow\n10.:allow,RELAYCLIENT=\"\"\n:allow\n")
        let report = try setup.audit()
        let relay = try #require(report.findings("relay-broad-prefix").first)
        #expect(relay.severity == .warning)
        #expect(relay.proof == nil)
        #expect(relay.proofNote?.hasPrefix("no client tried reaches it") == true)
        #expect(report.findings("shadowed-duplicate").first?.line == 2)
    }

    @Test func relayClientInheritedFromTheEnvironmentIsProven() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        setup.environment = ["RELAYCLIENT": ""]
        let finding = try #require(try setup.audit().findings("open-relay-inherited-relayclient").first)
        #expect(finding.severity == .error)
        #expect(finding.file == "tcpserver environment (--env)")
        let proof = try #require(finding.proof)
        #expect(proof.decision.reasons.contains { $0.source?.file == "tcpserver environment" })
    }

    @Test func relayClientInheritedFromARunScriptNamesTheScriptLine() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        let script = """
            #!/bin/sh
            QMAILDUID=`id -u qmaild`
            exec env - PATH=/usr/bin RELAYCLIENT= \\
              tcpserver -v -R -h -l mx.example.net 0 25 /var/qmail/bin/qmail-smtpd

            """
        try TestSupport.write(script, to: setup.folder + "/run")
        let run = try RunScript.load(path: setup.folder + "/run")
        let report = try Auditor.audit([AuditTarget(spec: run.configuration)], subject: "run")
        let finding = try #require(report.findings("open-relay-inherited-relayclient").first)
        #expect(finding.location == setup.folder + "/run:3")
        #expect(finding.proof != nil)
    }

    @Test func relayClientInAConfigurationFileNamesItsLine() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try TestSupport.write("control: control\nenv:\n  RELAYCLIENT: \"\"\n", to: setup.folder + "/relaylab.yaml")
        let file = try ConfigurationFile.load(path: setup.folder + "/relaylab.yaml")
        let report = try Auditor.audit(file.listeners.map { AuditTarget(spec: $0.configuration) }, subject: "yaml")
        let finding = try #require(report.findings("open-relay-inherited-relayclient").first)
        #expect(finding.location == setup.folder + "/relaylab.yaml:3")
    }

    @Test func noInheritedRelayClientNoFinding() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        setup.environment = ["DATABYTES": "1000"]
        #expect(try setup.audit().findings("open-relay-inherited-relayclient").isEmpty)
    }

    @Test func aRelayMaskedByAnotherGrantKeepsItsProofAndSaysSo() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("rcpthosts")
        setup.environment = ["RELAYCLIENT": ""]
        let report = try setup.audit()
        let missing = try #require(report.findings("open-relay-rcpthosts-missing").first)
        #expect(missing.severity == .error)
        #expect(missing.proof != nil)
        #expect(missing.proofNote?.contains("RELAYCLIENT is set") == true)
    }

    // MARK: - Stale and mismatched databases

    @Test func morercpthostsWithoutItsCDB() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("morercpthosts", "hosted.example\n")
        let finding = try #require(try setup.audit().findings("morercpthosts-without-cdb").first)
        #expect(finding.severity == .error)
        #expect(finding.fix.contains("qmail-newmrh"))
    }

    @Test func morercpthostsTextWithDomainsTheCDBLacks() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("morercpthosts", "hosted.example\nNEW.example\n")
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        let report = try setup.audit()
        let finding = try #require(report.findings("morercpthosts-out-of-date").first)
        #expect(finding.message.contains("NEW.example"))
        #expect(finding.line == 2)
        #expect(report.findings("morercpthosts-cdb-extra").isEmpty)
    }

    @Test func morercpthostsCDBWithDomainsRemovedFromTheText() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("morercpthosts", "# hosted\nhosted.example\n")
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example", "gone.example"])
        let report = try setup.audit()
        let finding = try #require(report.findings("morercpthosts-cdb-extra").first)
        #expect(finding.severity == .error)
        #expect(finding.message.contains("\"gone.example\""))
        #expect(report.findings("morercpthosts-out-of-date").isEmpty)
    }

    @Test func morercpthostsTextNewerThanItsCDB() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        try setup.control("morercpthosts", "Hosted.Example   \n")
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: setup.controlFolder + "/morercpthosts.cdb")
        let report = try setup.audit()
        let finding = try #require(report.findings("morercpthosts-older").first)
        #expect(finding.severity == .info)
        #expect(report.exitStatus == 0)
    }

    @Test func morercpthostsInSyncHasNoFinding() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("morercpthosts", "hosted.example\n")
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        #expect(try setup.audit().findings.isEmpty)
    }

    @Test func rulesSourceDifferentFromItsCDB() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow\n", compile: true)
        try TestSupport.write("127.:allow,RELAYCLIENT=\"\"\n10.1.2.:allow,RELAYCLIENT=\"\"\n:allow\n", to: setup.folder + "/tcp.smtp")
        let finding = try #require(try setup.audit().findings("cdb-stale").first)
        #expect(finding.severity == .error)
        #expect(finding.file.hasSuffix("tcp.smtp.cdb"))
    }

    @Test func rulesSourceNewerThanItsCDB() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow\n", compile: true)
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: setup.folder + "/tcp.smtp.cdb")
        let report = try setup.audit()
        #expect(report.findings("cdb-older").first?.severity == .info)
        #expect(report.findings("cdb-stale").isEmpty)
    }

    @Test func rulesSourceInSyncWithItsCDB() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow\n", compile: true)
        let report = try setup.audit()
        #expect(report.findings("cdb-stale").isEmpty && report.findings("cdb-older").isEmpty)
    }

    @Test func aCRLFRulesFileIsReportedAndTheCDBInForceIsAudited() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules(":allow,RELAYCLIENT=\"\"\n", compile: true)
        try TestSupport.write("127.:allow,RELAYCLIENT=\"\"\r\n:allow\r\n", to: setup.folder + "/tcp.smtp")
        let report = try setup.audit()
        let finding = try #require(report.findings("rules-source-invalid").first)
        #expect(finding.severity == .error)
        #expect(finding.line == 1)
        #expect(finding.fix.contains("dos2unix"))
        // The cdb tcpserver still reads lets everyone relay: proven on it.
        let relay = try #require(report.findings("relay-any-client").first)
        #expect(relay.file.hasSuffix("tcp.smtp.cdb"))
        #expect(relay.proof != nil)
        #expect(report.findings("source-invalid").isEmpty)
    }

    // MARK: - Entries that never match

    @Test func capitalsAndTrailingDotsInHostRules() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("=Mail.Example.COM:allow\n=relay.example.com.:allow\n=mail.example.com:allow\n:allow\n")
        let report = try setup.audit()
        #expect(report.findings("host-uppercase").map(\.line) == [1])
        #expect(report.findings("host-trailing-dot").map(\.line) == [2])
        #expect(report.findings("host-uppercase").first?.severity == .warning)
    }

    @Test func leadingSpaceInARuleKey() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules(" 10.1.2.3:deny\n10.1.2.4:deny\n:allow\n")
        let report = try setup.audit()
        #expect(report.findings("key-whitespace").map(\.line) == [1])
        // A deny that never blocks is an error.
        #expect(report.findings("key-whitespace").first?.severity == .error)
    }

    @Test func rulesShadowedByEarlierDuplicates() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("10.1.2.:allow\n10.1.2.:deny\n:allow\n")
        let report = try setup.audit()
        #expect(report.findings("shadowed-duplicate").map(\.line) == [2])
        try setup.rules("10.1.2.:allow\n10.1.3.:deny\n:allow\n")
        #expect(try setup.audit().findings("shadowed-duplicate").isEmpty)
    }

    @Test func wildcardsInRcpthosts() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\n*\n.\n*.example.org\nmail.*.example\n")
        let report = try setup.audit()
        #expect(report.findings("rcpthosts-wildcard").compactMap(\.line).sorted() == [2, 3, 4, 5])
        try setup.control("rcpthosts", "example.net\n.example.net\n")
        #expect(try setup.audit().findings("rcpthosts-wildcard").isEmpty)
    }

    @Test func trailingDotInRcpthosts() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\nexample.org.\n")
        let finding = try #require(try setup.audit().findings("rcpthosts-trailing-dot").first)
        #expect(finding.line == 2)
        #expect(finding.consequence.contains("mail for example.org is refused"))
        try setup.control("rcpthosts", "example.net\nexample.org\n")
        #expect(try setup.audit().findings("rcpthosts-trailing-dot").isEmpty)
    }

    @Test func leadingSpaceInRcpthosts() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\n example.org\n")
        let finding = try #require(try setup.audit().findings("rcpthosts-whitespace").first)
        #expect(finding.line == 2)
        try setup.control("rcpthosts", "example.net\nexample.org   \n")  // trailing blanks are stripped
        #expect(try setup.audit().findings("rcpthosts-whitespace").isEmpty)
    }

    @Test func carriageReturnsInRcpthosts() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\r\nexample.org\r\n")
        let finding = try #require(try setup.audit().findings("carriage-return").first)
        #expect(finding.severity == .error)
        #expect(finding.line == 1)
        #expect(finding.consequence.contains("refused"))
        try setup.control("rcpthosts", "example.net\nexample.org\n")
        #expect(try setup.audit().findings("carriage-return").isEmpty)
    }

    @Test func anAddressInRcpthosts() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\npostmaster@example.org\n")
        let finding = try #require(try setup.audit().findings("rcpthosts-address").first)
        #expect(finding.fix.contains("example.org"))
    }

    @Test func aSuffixEntryWithoutItsDomain() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\n.example.org\n")
        let finding = try #require(try setup.audit().findings("rcpthosts-suffix-only").first)
        #expect(finding.severity == .info)
        try setup.control("rcpthosts", "example.net\n.example.org\nexample.org\n")
        #expect(try setup.audit().findings("rcpthosts-suffix-only").isEmpty)
        // The domain may come from morercpthosts.cdb.
        try setup.control("rcpthosts", "example.net\n.example.org\n")
        try setup.controlCDB("morercpthosts.cdb", keys: ["example.org"])
        #expect(try setup.audit().findings("rcpthosts-suffix-only").isEmpty)
    }

    @Test func badmailfromEntriesThatNeverMatch() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        let lines = [
            "spammer@bulk.example",  // fine
            "@junk.example",  // fine
            "<>",
            "<bad@example.com>",
            "*@spam.example",
            "@.spam.example",
            ".spam.example",
            "bad@example.com.",
            String(repeating: "a", count: 895) + "@x.example",
            "bad guy@example.com",
        ]
        try setup.control("badmailfrom", lines.joined(separator: "\n") + "\n")
        let report = try setup.audit()
        func line(_ code: String) -> [Int] { report.findings(code).compactMap(\.line) }
        #expect(line("badmailfrom-null-sender") == [3])
        #expect(line("badmailfrom-angle-brackets") == [4])
        #expect(line("badmailfrom-wildcard") == [5])
        #expect(line("badmailfrom-subdomain") == [6, 7])
        #expect(line("badmailfrom-trailing-dot") == [8])
        #expect(line("badmailfrom-too-long") == [9])
        #expect(line("badmailfrom-whitespace") == [10])
        #expect(report.findings.count == 8, "\(report.codes)")
        #expect(report.findings("badmailfrom-wildcard").first?.fix == "write @spam.example to block the whole domain")
    }

    @Test func badmailfromEntriesThatMatch() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("badmailfrom", "spammer@bulk.example\n@junk.example\nNoDomain\n# a comment\n")
        #expect(try setup.audit().findings.isEmpty)
    }

    @Test func databytesThatIsNotANumber() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("databytes", "ten thousand\n")
        #expect(try setup.audit().findings("not-a-number").first?.severity == .warning)
        try setup.control("databytes", "10000\n")
        #expect(try setup.audit().findings("not-a-number").isEmpty)
    }

    @Test func unreadableAndMissingControls() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("me")
        #expect(try setup.audit().findings("controls-missing").first?.severity == .error)
    }

    @Test func relayClientByIdentIsProvenWithAnIdentAnswer() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("joe@=ws1.example.net:allow,RELAYCLIENT=\"\"\n:allow\n")
        let finding = try #require(try setup.audit().findings("relay-by-ident").first)
        #expect(finding.severity == .warning)
        let proof = try #require(finding.proof)
        #expect(proof.identInfo == "joe" && proof.clientName == "ws1.example.net")
        // Without ident lookups (tcpserver -R) nobody reaches the rule.
        setup.tcpserver = ["-R"]
        let unreachable = try #require(try setup.audit().findings("relay-by-ident").first)
        #expect(unreachable.proof == nil)
        #expect(unreachable.proofNote == "tcpserver runs with -R, so info@ rules never apply")
    }

    @Test func rulesFileThatDoesNotExist() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        var spec = setup.spec
        spec.rules = .missing("/nonexistent/tcp.smtp.cdb")
        let report = try Auditor.audit([AuditTarget(spec: spec)], subject: "missing rules")
        let finding = try #require(report.findings("rules-missing").first)
        #expect(finding.severity == .error)
        #expect(finding.file == "/nonexistent/tcp.smtp.cdb")
        spec.tcpserver = ["-X"]
        // With -X tcpserver lets everyone in: still worth an error (no rules apply at all).
        #expect(try Auditor.audit([AuditTarget(spec: spec)], subject: "x").findings("rules-missing").count == 1)
        spec.rules = RulesSpec.none
        #expect(try Auditor.audit([AuditTarget(spec: spec)], subject: "none").findings("rules-missing").isEmpty)
    }

    @Test func controlFileThatCannotBeRead() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        var spec = setup.spec
        spec.controlFiles["badmailfrom"] = .unreadable(reason: "permission denied")
        let finding = try #require(try Auditor.audit([AuditTarget(spec: spec)], subject: "x").findings("control-unreadable").first)
        #expect(finding.severity == .error)
        #expect(finding.consequence.contains("421"))
        #expect(try setup.audit().findings("control-unreadable").isEmpty)
    }

    @Test func damagedMorercpthostsCDB() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("morercpthosts.cdb", "not a cdb\n")
        #expect(try setup.audit().findings("morercpthosts-damaged").first?.severity == .error)
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        #expect(try setup.audit().findings("morercpthosts-damaged").isEmpty)
    }

    @Test func capitalsInAMorercpthostsCDBKey() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.controlCDB("morercpthosts.cdb", keys: ["Hosted.Example"])
        #expect(try setup.audit().findings("morercpthosts-uppercase-key").first?.severity == .warning)
        try setup.controlCDB("morercpthosts.cdb", keys: ["hosted.example"])
        #expect(try setup.audit().findings("morercpthosts-uppercase-key").isEmpty)
    }

    @Test func aValidRulesSourceIsNoSyntaxFinding() throws {
        var setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.rules("127.:allow,RELAYCLIENT=\"\"\n:allow\n")
        #expect(try setup.audit().findings("rules-source-invalid").isEmpty)
    }

    @Test func anAddressInRcpthostsOnlyWhenThereIsOne() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.control("rcpthosts", "example.net\n[192.0.2.25]\n")
        #expect(try setup.audit().findings("rcpthosts-address").isEmpty)
    }

    // MARK: - The bundled sample and reports

    @Test func theBundledRelaySampleHasOnlyItsPartnerHostRule() throws {
        let file = try ConfigurationFile.load(path: TestSupport.fixture("captures/qmail-relay/relaylab.yaml"))
        let report = try Auditor.audit(file.listeners.map { AuditTarget(spec: $0.configuration) }, subject: "relay")
        #expect(report.codes == ["relay-by-hostname", "rcpthosts-suffix-only", "deny-bypassable"])
        let partner = report.findings[0]
        #expect(partner.severity == .warning)
        #expect(partner.proof?.clientName == "relay.partner.example")
        #expect(report.exitStatus == 1)
    }

    @Test func listenersSharingAFindingAreNamedOnce() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("rcpthosts")
        let yaml = "control: control\nlisteners:\n  - {name: smtp, port: 25}\n  - {name: submission, port: 587}\n"
        try TestSupport.write(yaml, to: setup.folder + "/relaylab.yaml")
        let file = try ConfigurationFile.load(path: setup.folder + "/relaylab.yaml")
        let report = try Auditor.audit(file.listeners.map { AuditTarget(name: $0.name, spec: $0.configuration) }, subject: "yaml")
        #expect(report.findings.count == 1)
        #expect(report.findings[0].listeners == ["smtp", "submission"])
        #expect(report.findings[0].proof?.serverPort == 25)
    }

    @Test func jsonReportShape() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("rcpthosts")
        try setup.control("badmailfrom", "<>\n")
        let report = try setup.audit()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.jsonText.utf8)) as? [String: Any])
        #expect(object["exit_status"] as? Int == 1)
        #expect((object["counts"] as? [String: Int]) == ["error": 1, "warning": 1, "info": 0])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.map { $0["code"] as? String } == ["open-relay-rcpthosts-missing", "badmailfrom-null-sender"])
        let proof = try #require(findings[0]["proof"] as? [String: Any])
        #expect(proof["decision"] as? String == "relay")
        #expect((proof["transcript"] as? [[String: Any]])?.count == 5)
        #expect(findings[1]["line"] as? Int == 1)
        #expect(findings[1]["proof"] is NSNull)
    }

    @Test func humanReportShowsConsequenceFixAndProof() throws {
        let setup = try AuditSetup()
        defer { setup.cleanUp() }
        try setup.remove("rcpthosts")
        let text = try setup.audit().humanText().replacingOccurrences(of: setup.folder, with: "$DIR")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "relaylab audit: test")
        #expect(lines[2] == "error: $DIR/control/rcpthosts: control/rcpthosts does not exist: qmail-smtpd is an open relay [open-relay-rcpthosts-missing]")
        #expect(lines.contains { $0.hasPrefix("  consequence  qmail-smtpd accepts every recipient") })
        #expect(lines.contains("                 C: RCPT TO:<relay-test@relay-probe.example>"))
        #expect(lines.contains { $0.contains("because open relay: control/rcpthosts is missing") } || lines.contains { $0.contains("open relay: control/rcpthosts is missing") })
        #expect(lines.suffix(2).first == "1 finding: 1 error")
    }
}

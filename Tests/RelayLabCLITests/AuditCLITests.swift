import Foundation
import TestSupport
import Testing

/// `relaylab audit` end to end: the built binary on the bundled sample and on small configurations.
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct AuditCLITests {
    func relaylab(_ arguments: [String]) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, ["audit"] + arguments, currentDirectory: TestSupport.packageRoot)
    }

    /// A control folder with me and rcpthosts, and a tcp.smtp with `rules`.
    func configuration(rules: String, rcpthosts: Bool = true) throws -> String {
        let folder = try TestSupport.temporaryDirectory("audit-cli")
        try FileManager.default.createDirectory(atPath: folder + "/control", withIntermediateDirectories: true)
        try TestSupport.write("mx.example.net\n", to: folder + "/control/me")
        if rcpthosts { try TestSupport.write("example.net\n", to: folder + "/control/rcpthosts") }
        try TestSupport.write(rules, to: folder + "/tcp.smtp")
        return folder
    }

    @Test func anOpenRelayExitsWithOneAndShowsItsProof() throws {
        let folder = try configuration(rules: "127.:allow,RELAYCLIENT=\"\"\n:allow,RELAYCLIENT=\"\"\n")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try relaylab(["--control", folder + "/control", "--rules", folder + "/tcp.smtp"])
        #expect(result.status == 1, "\(result.stderrText)")
        let text = result.stdoutText
        #expect(text.hasPrefix("relaylab audit: control \(folder)/control, rules \(folder)/tcp.smtp\n"))
        #expect(text.contains("error: \(folder)/tcp.smtp:2: RELAYCLIENT is set for the empty key: every client can relay (an open relay) [relay-any-client]"))
        #expect(text.contains("  proof        client 198.51.100.77 (no PTR) → 192.0.2.25:25, recipient <relay-test@relay-probe.example>: relayed"))
        #expect(text.contains("                 C: RCPT TO:<relay-test@relay-probe.example>\n                 S: 250 ok\n"))
        #expect(text.hasSuffix("\n1 finding: 1 error\n"))
        #expect(!text.contains("\u{1B}["))
    }

    @Test func aCleanConfigurationExitsWithZero() throws {
        let folder = try configuration(rules: "127.:allow,RELAYCLIENT=\"\"\n:allow\n")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try relaylab(["--control", folder + "/control", "--rules", folder + "/tcp.smtp"])
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        #expect(result.stdoutText.hasSuffix("\nno findings\n"))
    }

    @Test func inheritedRelayClientFromEnv() throws {
        let folder = try configuration(rules: ":allow\n")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try relaylab(["--control", folder + "/control", "--rules", folder + "/tcp.smtp", "--env", "RELAYCLIENT=", "--format", "json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.map { $0["code"] as? String } == ["open-relay-inherited-relayclient"])
        #expect(findings[0]["file"] as? String == "tcpserver environment (--env)")
        #expect((findings[0]["proof"] as? [String: Any])?["decision"] as? String == "relay")
        #expect(object["exit_status"] as? Int == 1)
    }

    @Test func theBundledSampleThroughItsConfigurationFile() throws {
        let result = try relaylab(["--config", "captures/qmail-relay/relaylab.yaml"])
        #expect(result.status == 1, "\(result.stderrText)")
        #expect(result.stdoutText.contains("warning: captures/qmail-relay/tcp.smtp:13: RELAYCLIENT is granted by the host name '=relay.partner.example' [relay-by-hostname]"))
        #expect(result.stdoutText.contains("client 198.51.100.77 (PTR relay.partner.example) → 192.0.2.25:25"))
        #expect(result.stdoutText.hasSuffix("\n3 findings: 1 warning, 2 info\n"))
    }

    @Test func aMissingControlDirectoryExitsWithTwo() throws {
        let result = try relaylab(["--control", "/nonexistent/control"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrText.hasPrefix("relaylab audit: /nonexistent/control: control directory does not exist"))
    }

    @Test func usageErrorsExitWithTwo() throws {
        #expect(try relaylab([]).status == 2)
        #expect(try relaylab(["--control", "captures/qmail-relay/control", "--env", "NOEQUALS"]).status == 2)
        let result = try relaylab(["--control", "captures/qmail-relay/control", "--format", "xml"])
        #expect(result.status == 2)
        #expect(result.stderrText == "relaylab audit: --format must be human or json (got \"xml\")\n")
    }
}

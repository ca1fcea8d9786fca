import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `relaylab compare` end to end: the built binary on the bundled capture, the compare fixtures,
/// flags, git revisions and bad input.
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct CompareCLITests {
    func relaylab(_ arguments: [String], in directory: String = TestSupport.packageRoot) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, ["compare"] + arguments, currentDirectory: directory)
    }

    static let relay = ["--ptr", "captures/qmail-relay/ptr.txt", "captures/qmail-relay/relay.pcap"]

    @Test func theSameConfigurationExitsWithZero() throws {
        let result = try relaylab(
            CompareCLITests.relay + ["--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate", "captures/qmail-relay/relaylab.yaml"])
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        #expect(result.stdoutText.hasPrefix("relaylab compare: 36 connections in captures/qmail-relay/relay.pcap\n"))
        #expect(result.stdoutText.contains("  connections  36 seen = 36 compared + 0 unobservable + 0 skipped: 36 identical, 0 differ\n"))
        #expect(result.stdoutText.hasSuffix("  no differences: both configurations answer every connection alike\n"))
    }

    @Test func theTightenedCandidateExitsWithOne() throws {
        let result = try relaylab(
            CompareCLITests.relay + [
                "--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate", "captures/qmail-relay/candidate-tightened.yaml",
            ])
        #expect(result.status == 1, "\(result.stderrText)")
        let text = result.stdoutText
        #expect(text.contains("  12 differences in 7 connections:\n"))
        #expect(text.contains("    the candidate would refuse 5 recipients from 2 clients\n"))
        #expect(text.contains("\nBy client prefix\n  10.1.2.0/24  2 connections from 1 client, 6 differences: refuse-recipient 4, reply 2\n"))
        #expect(text.contains("    baseline: rule sets RELAYCLIENT=\"\" (captures/qmail-relay/tcp.smtp:11)\n"))
        #expect(text.contains("    candidate: rule \"198.51.100.\" matched: deny (captures/qmail-relay/candidate-tightened.yaml:23)\n"))
        #expect(!text.contains("\u{1B}["))
    }

    @Test func sidesAsFlagsWithPrefixedEngineOptions() throws {
        let result = try relaylab([
            "Tests/Fixtures/compare/traffic.yaml",
            "--baseline-control", "captures/qmail-relay/control", "--baseline-rules", "captures/qmail-relay/tcp.smtp",
            "--baseline-rblsmtpd", "--baseline-tcpserver-options", "-h -R -l mx.example.net",
            "--candidate-control", "captures/qmail-relay/control", "--candidate-rules", "captures/qmail-relay/tcp.smtp",
            "--candidate-rblsmtpd", "--candidate-tcpserver-options", "-h -R -l mx.example.net", "--candidate-env", "DATABYTES=100",
            "--format", "json",
        ])
        #expect(result.status == 1, "\(result.stderrText)")
        let records = result.stdoutText.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        #expect(records.count == result.stdoutText.split(separator: "\n").count)
        let differences = records.filter { $0["type"] as? String == "difference" }
        // Only the message over 100 bytes differs.
        #expect(differences.map { $0["change"] as? String } == ["refuse-message"])
        #expect(differences.first?["connection"] as? String == "a large message")
        #expect((differences[0]["causes"] as? [String])?.contains("candidate: DATABYTES=\"100\" inherited from tcpserver's environment") == true)
        let summary = try #require(records.last)
        #expect(summary["type"] as? String == "summary")
        #expect(summary["differences"] as? Int == 1)
    }

    @Test func junitAndGitHubReports() throws {
        let folder = try TestSupport.temporaryDirectory("compare-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try relaylab([
            "Tests/Fixtures/compare/traffic.yaml", "--baseline", "Tests/Fixtures/compare/baseline.yaml",
            "--candidate", "Tests/Fixtures/compare/candidate.yaml", "--format", "github", "--junit", folder + "/report.xml",
        ])
        #expect(result.status == 1)
        #expect(result.stdoutText.contains("::error file=Tests/Fixtures/compare/traffic.yaml,line=12,col=9,title=office LAN relays and delivers::"))
        #expect(result.stdoutText.hasSuffix(
            "relaylab compare: 7 connections seen = 7 compared + 0 unobservable + 0 skipped: 1 passed, 6 failed (32 steps)\n"))
        let xml = try TestSupport.read(folder + "/report.xml")
        #expect(XMLParser(data: Data(xml)).parse())
        #expect(String(decoding: xml, as: UTF8.self).contains("<testsuites name=\"relaylab compare\" tests=\"7\" failures=\"6\" errors=\"0\">"))
    }

    @Test(.enabled(if: TestSupport.has("git"), "git is not installed"))
    func baselineFromAGitRevision() throws {
        // A repository whose committed rules let the office LAN relay; the working tree does not.
        let repository = try TestSupport.temporaryDirectory("compare-git")
        defer { try? FileManager.default.removeItem(atPath: repository) }
        try FileManager.default.createDirectory(atPath: repository + "/mail/control", withIntermediateDirectories: true)
        for name in ["me", "rcpthosts"] {
            try FileManager.default.copyItem(atPath: TestSupport.fixture("captures/qmail-relay/control/" + name), toPath: repository + "/mail/control/" + name)
        }
        try TestSupport.write("10.1.:allow,RELAYCLIENT=\"\"\n:allow\n", to: repository + "/mail/tcp.smtp")
        try TestSupport.write("control: control\nrules: tcp.smtp\n", to: repository + "/mail/relaylab.yaml")
        try TestSupport.write(
            "config: relaylab.yaml\nconnections:\n  - {client: 10.1.2.15, from: carol@example.net, rcpt: [friend@elsewhere.example]}\n",
            to: repository + "/mail/traffic.yaml")
        let git = ["-c", "user.name=t", "-c", "user.email=t@example.net", "-c", "commit.gpgsign=false"]
        #expect(try TestSupport.run("git", ["init", "-q"], currentDirectory: repository).status == 0)
        #expect(try TestSupport.run("git", ["add", "."], currentDirectory: repository).status == 0)
        #expect(try TestSupport.run("git", git + ["commit", "-q", "-m", "rules"], currentDirectory: repository).status == 0)
        try TestSupport.write("10.1.:allow\n:allow\n", to: repository + "/mail/tcp.smtp")

        let result = try relaylab(["mail/traffic.yaml", "--candidate", "mail/relaylab.yaml", "--baseline-rev", "HEAD"], in: repository)
        #expect(result.status == 1, "\(result.stdoutText)\(result.stderrText)")
        #expect(result.stdoutText.contains("  baseline     HEAD: mail/relaylab.yaml\n"))
        #expect(result.stdoutText.contains("    the candidate would refuse 1 recipient from 1 client\n"))
        // The revision's files are named REV:path, not by their temporary copy.
        #expect(result.stdoutText.contains("    baseline: rule sets RELAYCLIENT=\"\" (HEAD:mail/tcp.smtp:1)\n"))
        #expect(!result.stdoutText.contains("relaylab-rev-"))

        // Both sides at HEAD: the same rules.
        let unchanged = try relaylab(["mail/traffic.yaml", "--candidate", "mail/relaylab.yaml", "--candidate-rev", "HEAD", "--baseline-rev", "HEAD"], in: repository)
        #expect(unchanged.status == 0, "\(unchanged.stdoutText)\(unchanged.stderrText)")
        #expect(unchanged.stdoutText.contains("  candidate    HEAD: mail/relaylab.yaml\n"))
        let bad = try relaylab(["mail/traffic.yaml", "--candidate", "mail/relaylab.yaml", "--baseline-rev", "no-such-rev"], in: repository)
        #expect(bad.status == 2)
        #expect(bad.stderrText.hasPrefix("relaylab compare: no-such-rev: not a revision of the repository"))
    }

    @Test func usageAndInputErrorsExitWithTwo() throws {
        let sides = ["--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate", "captures/qmail-relay/relaylab.yaml"]
        let noInput = try relaylab(sides)
        #expect(noInput.status == 2)
        #expect(noInput.stderrText == "relaylab compare: give at least one capture or scenario file\n")
        let noCandidate = try relaylab(["captures/qmail-relay/relay.pcap", "--baseline", "captures/qmail-relay/relaylab.yaml"])
        #expect(noCandidate.status == 2)
        #expect(noCandidate.stderrText.hasPrefix("relaylab compare: give the candidate:"))
        let badFormat = try relaylab(["captures/qmail-relay/relay.pcap", "--format", "xml"] + sides)
        #expect(badFormat.status == 2)
        let missing = try relaylab(["no-such.pcap"] + sides)
        #expect(missing.status == 2)
        #expect(missing.stderrText == "relaylab compare: no-such.pcap: no such file or directory\n")
        let notInput = try relaylab(["README.md"] + sides)
        #expect(notInput.status == 2)
        #expect(notInput.stderrText.contains("neither a capture (pcap, pcapng) nor a scenario file"))
        let malformed = try relaylab(["Tests/Fixtures/check/malformed.yaml"] + sides)
        #expect(malformed.status == 2)
        #expect(malformed.stdout.isEmpty)
        let badSide = try relaylab(["captures/qmail-relay/relay.pcap", "--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate-control", "/nonexistent"])
        #expect(badSide.status == 2)
        #expect(badSide.stderrText.contains("/nonexistent"))
        let badEnv = try relaylab(["captures/qmail-relay/relay.pcap", "--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate", "captures/qmail-relay/relaylab.yaml", "--candidate-env", "NOEQUALS"])
        #expect(badEnv.status == 2)
        #expect(badEnv.stderrText == "relaylab compare: candidate: --candidate-env takes NAME=VALUE (got \"NOEQUALS\")\n")
    }
}

import Foundation
import TestSupport
import Testing

/// End-to-end tests of `relaylab replay` (and `relaylab extract`) with the built binary.
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct ReplayCLITests {
    let relay = TestSupport.fixture("captures/qmail-relay")
    let auth = TestSupport.fixture("captures/qmail-auth")

    func relaylab(_ arguments: [String], input: [UInt8] = []) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, input: input)
    }

    var relayFlags: [String] {
        ["--control", relay + "/control", "--rules", relay + "/tcp.smtp.cdb", "--rblsmtpd", "--ptr", relay + "/ptr.txt"]
    }

    @Test func bundledCapturesReplayWithoutDifferences() throws {
        let flags = try relaylab(["replay", relay + "/relay.pcap", relay + "/relay-sll2.pcap"] + relayFlags)
        #expect(flags.status == 0, "\(flags.stderrText)")
        #expect(flags.stdoutText.contains("44 seen = 44 compared + 0 unobservable + 0 skipped"))
        #expect(flags.stdoutText.contains("no differences"))
        let config = try relaylab(["replay", auth + "/auth.pcap", "--config", auth + "/relaylab.yaml", "--ptr", auth + "/ptr.txt"])
        #expect(config.status == 0, "\(config.stdoutText)\(config.stderrText)")
        let scripts = try relaylab(
            ["replay", relay + "/relay.pcapng", "--run", relay + "/run.smtp", "--ptr", relay + "/ptr.txt", "--threads", "3"])
        #expect(scripts.status == 0, "\(scripts.stdoutText)\(scripts.stderrText)")
        #expect(scripts.stderrText.isEmpty)
    }

    @Test func differencesExitWithOne() throws {
        let folder = try TestSupport.temporaryDirectory("replay-cli")
        let rules = String(decoding: try TestSupport.read(relay + "/tcp.smtp"), as: UTF8.self)
        try TestSupport.write(rules.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow"), to: folder + "/tcp.smtp")
        let result = try relaylab(
            ["replay", relay + "/relay.pcap", "--control", relay + "/control", "--rules", folder + "/tcp.smtp", "--rblsmtpd",
             "--ptr", relay + "/ptr.txt"])
        #expect(result.status == 1)
        #expect(result.stdoutText.contains("  would now refuse 4 recipients from 1 client\n"))
        #expect(result.stdoutText.contains("Differences by client\n  10.1.2.15 (ws15.office.example.net): 2 connections, 6 differences\n"))
        // An override on top of the listener file gives the same answer.
        let override = try relaylab(
            ["replay", relay + "/relay.pcap", "--config", relay + "/relaylab.yaml", "--rules", folder + "/tcp.smtp",
             "--ptr", relay + "/ptr.txt", "--format", "json"])
        #expect(override.status == 1)
        let last = try #require(override.stdoutText.split(separator: "\n").last)
        #expect(
            last.hasPrefix(
                "{\"type\":\"summary\",\"connections\":36,\"commands_compared\":201,\"differences\":6,\"rcpt_decisions_compared\":47,\"rcpt_decisions_changed\":4,\"unobservable\":0,\"diverged\":2,"
            ))
        #expect(override.stdoutText.split(separator: "\n").count == 37)
    }

    @Test func jsonSummaryAccountsForEveryConnection() throws {
        let result = try relaylab(
            ["replay", auth + "/auth.pcap", "--config", relay + "/relaylab.yaml", "--format", "json"])
        // The relay listener file has no listener for port 587: its 6 connections are skipped.
        #expect(result.status == 1)
        let last = try #require(result.stdoutText.split(separator: "\n").last)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let seen = summary["connections"] as? Int
        let compared = summary["compared"] as? Int ?? -1
        let unobservable = summary["unobservable_connections"] as? Int ?? -1
        let skipped = summary["skipped"] as? Int ?? -1
        #expect(seen == 17 && compared + unobservable + skipped == 17)
        #expect(skipped == 6)
        let commands = summary["commands"] as? Int ?? -1
        let steps = (summary["commands_compared"] as? Int ?? 0) + (summary["unobservable"] as? Int ?? 0) + (summary["not_replayed"] as? Int ?? 0)
        #expect(commands > 0 && commands == steps)
        #expect((summary["skipped_reasons"] as? [String: Int])?.keys.first?.hasPrefix("no listener for 192.0.2.25:587 in ") == true)
    }

    @Test func filterAndPortsSelectTheConnections() throws {
        let port25 = try relaylab(
            ["replay", auth + "/auth.pcap", "--config", auth + "/relaylab.yaml", "--ptr", auth + "/ptr.txt", "--filter", "tcp port 25",
             "--format", "json"])
        #expect(port25.status == 0, "\(port25.stderrText)")
        #expect(port25.stdoutText.split(separator: "\n").last?.hasPrefix("{\"type\":\"summary\",\"connections\":11,") == true)
        // Port 587 is not an SMTP port unless a listener or --port says so.
        let only25 = try relaylab(["replay", auth + "/auth.pcap", "--run", auth + "/run.smtp", "--port", "25", "--ptr", auth + "/ptr.txt"])
        #expect(only25.status == 0 && only25.stdoutText.hasPrefix("relaylab replay: 11 connections in"))
    }

    @Test func blockListFixtureAsksWhatIf() throws {
        // What if rblsmtpd also looked clients up in zen.example, which lists 198.19.1.10?
        let folder = try TestSupport.temporaryDirectory("replay-cli")
        try TestSupport.write("zen.example 198.19.1.10 TXT Listed by zen\n", to: folder + "/zen.txt")
        let result = try relaylab(
            ["replay", relay + "/relay.pcap", "--config", relay + "/relaylab.yaml", "--ptr", relay + "/ptr.txt",
             "--rblsmtpd-options", "-r zen.example", "--rbl-fixture", folder + "/zen.txt"])
        #expect(result.status == 1)
        // mail.partner-a.example sent 6 recipients in #0, #1, #21 and #31: all now deferred (451).
        #expect(result.stdoutText.contains("  would now defer (4xx) 6 recipients from 1 client\n"), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("listed in zen.example: \"Listed by zen\""))
    }

    @Test func junitReportIsWritten() throws {
        let folder = try TestSupport.temporaryDirectory("replay-cli")
        let result = try relaylab(["replay", relay + "/relay-sll2.pcap", "--junit", folder + "/junit.xml"] + relayFlags)
        #expect(result.status == 0)
        let xml = String(decoding: try TestSupport.read(folder + "/junit.xml"), as: UTF8.self)
        #expect(xml.contains("<testsuites name=\"relaylab replay\" tests=\"8\" failures=\"0\" errors=\"0\">"))
    }

    @Test func standardInputIsACapture() throws {
        let result = try relaylab(["replay", "-", "--format", "json"] + relayFlags, input: try TestSupport.read(relay + "/relay-sll2.pcap"))
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.split(separator: "\n").last?.hasPrefix("{\"type\":\"summary\",\"connections\":8,") == true)
    }

    @Test func inputErrorsExitWithTwoAndOneLineNamingTheFile() throws {
        let folder = try TestSupport.temporaryDirectory("replay-cli")
        try TestSupport.write("this is not a capture\n", to: folder + "/bad.pcap")
        let bad = try relaylab(["replay", folder + "/bad.pcap"] + relayFlags)
        #expect(bad.status == 2)
        #expect(bad.stderrText.hasPrefix("relaylab replay: \(folder)/bad.pcap: "))
        #expect(bad.stderrText.split(separator: "\n").count == 1)
        #expect(bad.stdoutText.isEmpty)

        let missing = try relaylab(["replay", folder + "/missing.pcap"] + relayFlags)
        #expect(missing.status == 2 && missing.stderrText.contains("\(folder)/missing.pcap"))
        // The file is named once (libpcap's message starts with it too).
        #expect(missing.stderrText.components(separatedBy: "missing.pcap").count == 2, "\(missing.stderrText)")

        let noConfiguration = try relaylab(["replay", relay + "/relay.pcap"])
        #expect(noConfiguration.status == 2)
        #expect(noConfiguration.stderrText.contains("give the configuration"))

        let noControl = try relaylab(["replay", relay + "/relay.pcap", "--control", folder + "/nowhere"])
        #expect(noControl.status == 2 && noControl.stderrText.contains("\(folder)/nowhere: control directory does not exist"))

        try TestSupport.write("listeners:\n  - name: smtp\n    prot: 25\n", to: folder + "/bad.yaml")
        let badConfig = try relaylab(["replay", relay + "/relay.pcap", "--config", folder + "/bad.yaml"])
        #expect(badConfig.status == 2)
        #expect(badConfig.stderrText.contains("\(folder)/bad.yaml:3:5: unknown key 'prot'"))

        try TestSupport.write("10.0.0.1\n", to: folder + "/ptr.txt")
        let badPTR = try relaylab(["replay", relay + "/relay.pcap", "--control", relay + "/control", "--ptr", folder + "/ptr.txt"])
        #expect(badPTR.status == 2 && badPTR.stderrText.contains("\(folder)/ptr.txt:1: expected 'IP NAME'"))

        let badFilter = try relaylab(["replay", relay + "/relay.pcap", "--filter", "port nonsense +"] + relayFlags)
        #expect(badFilter.status == 2 && badFilter.stderrText.contains("relay.pcap"))

        let badThreads = try relaylab(["replay", relay + "/relay.pcap", "--threads", "0"] + relayFlags)
        #expect(badThreads.status == 2)
    }

    @Test func truncatedCaptureIsReplayedUpToTheDamage() throws {
        let folder = try TestSupport.temporaryDirectory("replay-cli")
        let bytes = try TestSupport.read(relay + "/relay.pcap")
        try TestSupport.write(Array(bytes.prefix(bytes.count / 2 + 7)), to: folder + "/cut.pcap")
        let result = try relaylab(["replay", folder + "/cut.pcap"] + relayFlags)
        #expect(result.stdoutText.contains("damaged: \(folder)/cut.pcap: damaged at packet"))
        // The connection cut by the damage is not a difference.
        #expect(result.status == 0, "\(result.stdoutText)")
    }

    @Test func progressIsQuietWhenStandardErrorIsNotATerminal() throws {
        let result = try relaylab(["replay", relay + "/relay.pcap"] + relayFlags)
        #expect(result.stderrText.isEmpty)
    }

    @Test func extractedScenarioPassesCheck() throws {
        let folder = try TestSupport.temporaryDirectory("extract-cli")
        let output = folder + "/auth.yaml"
        let extract = try relaylab(
            ["extract", auth + "/auth.pcap", "--config", auth + "/relaylab.yaml", "--ptr", auth + "/ptr.txt", "-o", output])
        #expect(extract.status == 0, "\(extract.stderrText)")
        #expect(extract.stderrText == "relaylab extract: wrote 17 connections to \(output)\n")
        let check = try relaylab(["check", output])
        #expect(check.status == 0, "\(check.stdoutText)")
        #expect(check.stdoutText.hasSuffix(
            "17 connections seen = 17 compared + 0 unobservable + 0 skipped: 17 passed, 0 failed (126 steps)\n"))
        // Against a changed configuration the suite fails: it is a regression test.
        let flags = try relaylab(
            ["extract", relay + "/relay.pcap", "-o", folder + "/relay.yaml", "--control", relay + "/control", "--rules",
             relay + "/tcp.smtp.cdb", "--rblsmtpd", "--ptr", relay + "/ptr.txt"])
        #expect(flags.status == 0)
        let text = String(decoding: try TestSupport.read(folder + "/relay.yaml"), as: UTF8.self)
        try TestSupport.write(text.replacingOccurrences(of: "  rblsmtpd: true\n", with: "  rblsmtpd: false\n"), to: folder + "/changed.yaml")
        let changed = try relaylab(["check", folder + "/changed.yaml"])
        #expect(changed.status == 1)
        let missing = try relaylab(["extract", relay + "/relay.pcap", "--control", relay + "/control"])
        #expect(missing.status == 2 && missing.stderrText.contains("-o FILE.yaml"))
    }
}

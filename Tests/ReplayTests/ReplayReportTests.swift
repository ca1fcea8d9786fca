import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// Golden tests of the reports: the human report and the JSON Lines of a replay of the
/// qmail-relay capture against a configuration without RELAYCLIENT for the office LAN, and of
/// the unchanged configuration. Set RELAYLAB_UPDATE_GOLDEN=1 to rewrite the files after a
/// deliberate change (and review the diff).
@Suite struct ReplayReportTests {
    static let golden = TestSupport.fixture("Tests/Golden/replay")

    /// Replays relay.pcap with the office LAN's RELAYCLIENT removed; paths are made stable.
    static func changedReplay(keepAllSteps: Bool = false) throws -> (ReplaySummary, [ReplayedConnection], (String) -> String) {
        let copy = try ReplayFixtures.changedCopy(of: ReplayFixtures.relay) { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { $0.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow") }
        }
        let spec = ReplayFixtures.relaySpec(control: copy + "/control", rules: copy + "/tcp.smtp")
        let (summary, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.relay + "/relay.pcap"], listeners: ReplayListeners(single: spec),
            ptr: ReplayFixtures.ptr(ReplayFixtures.relay), options: ReplayOptions(keepAllSteps: keepAllSteps))
        let stable: (String) -> String = { text in
            text.replacingOccurrences(of: copy, with: "$CONFIG").replacingOccurrences(of: TestSupport.packageRoot + "/", with: "")
        }
        return (summary, connections, stable)
    }

    func compare(_ text: String, golden name: String) throws {
        let path = Self.golden + "/" + name
        if ProcessInfo.processInfo.environment["RELAYLAB_UPDATE_GOLDEN"] != nil {
            try FileManager.default.createDirectory(atPath: Self.golden, withIntermediateDirectories: true)
            try TestSupport.write(text, to: path)
        }
        let expected = String(decoding: try TestSupport.read(path), as: UTF8.self)
        #expect(text == expected, "differs from \(name); rerun with RELAYLAB_UPDATE_GOLDEN=1 to update it")
    }

    @Test func humanReportOfChangedConfiguration() throws {
        let (summary, _, stable) = try Self.changedReplay()
        let text = stable(ReplayHumanReport().render(summary, files: ["captures/qmail-relay/relay.pcap"]))
        try compare(text, golden: "replay-no-relayclient.txt")
        // The ten-second summary comes first.
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "relaylab replay: 36 connections in captures/qmail-relay/relay.pcap")
        #expect(lines.contains("  would now refuse 4 recipients from 1 client"))
    }

    @Test func humanReportWithoutDifferences() throws {
        let (summary, _) = try ReplayFixtures.replay(
            [ReplayFixtures.relay + "/relay.pcap"], listeners: ReplayListeners(single: ReplayFixtures.relaySpec()),
            ptr: ReplayFixtures.ptr(ReplayFixtures.relay))
        try compare(ReplayHumanReport().render(summary, files: ["captures/qmail-relay/relay.pcap"]), golden: "replay-unchanged.txt")
    }

    @Test func jsonLinesOfChangedConfiguration() throws {
        let (summary, connections, stable) = try Self.changedReplay(keepAllSteps: true)
        var writer = JSONLinesReportWriter()
        var text = ""
        for connection in connections.filter(\.isNotable) {
            text += writer.write(connection.connectionResult(suite: "captures/qmail-relay/relay.pcap"))
        }
        text += summary.jsonRecord
        text = stable(text)
        try compare(text, golden: "replay-no-relayclient.jsonl")
        let last = try #require(text.split(separator: "\n").last)
        #expect(
            last.hasPrefix(
                "{\"type\":\"summary\",\"connections\":36,\"commands_compared\":201,\"differences\":6,\"rcpt_decisions_compared\":47,\"rcpt_decisions_changed\":4,\"unobservable\":0,\"diverged\":2"
            ))
        // Every line is JSON.
        for line in text.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil)
        }
    }

    @Test func jsonRecordsNeverCarryCredentials() throws {
        let listeners = ReplayListeners(file: try ConfigurationFile.load(path: ReplayFixtures.auth + "/relaylab.yaml"))
        let (_, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.auth + "/auth.pcap"], listeners: listeners, ptr: ReplayFixtures.ptr(ReplayFixtures.auth),
            options: ReplayOptions(keepAllSteps: true))
        var writer = JSONLinesReportWriter()
        var text = ""
        for connection in connections { text += writer.write(connection.connectionResult()) }
        // testuser / testpass in base64, alone and in PLAIN's \0user\0pass.
        for secret in ["dGVzdHVzZXI=", "dGVzdHBhc3M=", "AHRlc3R1c2VyAHRlc3RwYXNz", "testpass", "testuser"] {
            #expect(!text.contains(secret), "\(secret) leaked")
        }
        #expect(text.contains("\"client\":\"<auth response redacted>\""))
        #expect(text.contains("\"client\":\"AUTH PLAIN <credentials redacted>\""))
    }

    @Test func junitReportHasOneTestCasePerReplayedConnection() throws {
        let (_, connections, _) = try Self.changedReplay()
        var writer = JUnitReportWriter(name: "relaylab replay")
        var summary = ReportSummary()
        for connection in connections {
            let result = connection.connectionResult()
            _ = writer.write(result)
            summary.add(result)
        }
        let xml = writer.finish(summary)
        #expect(xml.contains("<testsuites name=\"relaylab replay\" tests=\"36\" failures=\"2\" errors=\"0\">"))
        #expect(xml.contains("<testcase name=\"#3 10.1.2.15:40004 → 192.0.2.25:25\""))
    }
}

import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// Every bundled capture replayed against the configuration it was recorded under gives zero
/// differences, whichever way the configuration is given (flags, configuration file, run
/// scripts), whatever the file format, and with any number of threads.
@Suite struct ReplayBundledCaptureTests {
    static let relayCaptures = ["relay.pcap", "relay.pcapng", "relay-sll2.pcap"]

    @Test(arguments: relayCaptures)
    func relayCaptureWithFlagsHasNoDifferences(file: String) throws {
        let (summary, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.relay + "/" + file], listeners: ReplayListeners(single: ReplayFixtures.relaySpec()),
            ptr: ReplayFixtures.ptr(ReplayFixtures.relay))
        #expect(summary.differences == 0, "\(ReplayFixtures.changes(connections))")
        #expect(summary.counts.diverged == 0)
        #expect(summary.counts.unobservable == 0)
        #expect(summary.skipped == 0 && summary.unobservableConnections == 0)
        #expect(summary.compared == connections.count)
        #expect(summary.connections == (file == "relay-sll2.pcap" ? 8 : 36))
        // Every connection decision was compared (the denied ones included), and every RCPT.
        #expect(summary.counts.connectionCompared == summary.connections)
        #expect(summary.counts.rcptCompared == (file == "relay-sll2.pcap" ? 9 : 47))
        // The accounting adds up.
        #expect(summary.counts.steps == summary.counts.compared + summary.counts.unobservable + summary.counts.notReplayed)
    }

    /// A capture's replay keeps no message bytes (``ReplayRunner`` turns
    /// ``ReplayListeners/keepsMessageBytes`` off; the bytes are still counted): every reply,
    /// decision and count is what a replay keeping them gives.
    @Test func replayKeepingNoMessageBytesLosesNothing() throws {
        let keeping = ReplayListeners(single: ReplayFixtures.relaySpec())
        let dropping = ReplayListeners(single: ReplayFixtures.relaySpec())
        #expect(dropping.keepsMessageBytes)
        dropping.keepsMessageBytes = false
        let ptr = try ReplayFixtures.ptr(ReplayFixtures.relay)
        let replayer = ConnectionReplayer(options: ReplayOptions(keepAllSteps: true))
        var messages = 0
        _ = try CaptureReader().read(files: [ReplayFixtures.relay + "/relay.pcap"]) { dialogue in
            let kept = try #require(try keeping.target(for: dialogue.server))
            let dropped = try #require(try dropping.target(for: dialogue.server))
            #expect(kept.configuration.limits.maxMessageBytes == RelayLimits().maxMessageBytes)
            #expect(dropped.configuration.limits.maxMessageBytes == 0)
            let name = ReplayRunner.clientName(for: dialogue, ptr: ptr)
            let full = replayer.replay(dialogue, target: kept, clientName: name)
            let lean = replayer.replay(dialogue, target: dropped, clientName: name)
            #expect(lean.counts == full.counts)
            #expect(lean.steps.map(\.simulated) == full.steps.map(\.simulated))
            #expect(lean.steps.map(\.decision) == full.steps.map(\.decision))
            messages += full.steps.filter { $0.kind == .dataBody && $0.simulated != nil }.count
        }
        #expect(messages > 0)
        // The runner turns it off for the listeners it is given.
        let listeners = ReplayListeners(single: ReplayFixtures.relaySpec())
        _ = try ReplayFixtures.replay([ReplayFixtures.relay + "/relay-sll2.pcap"], listeners: listeners, ptr: ptr)
        #expect(!listeners.keepsMessageBytes)
    }

    @Test func relayCaptureWithItsConfigurationFile() throws {
        let listeners = ReplayListeners(file: try ConfigurationFile.load(path: ReplayFixtures.relay + "/relaylab.yaml"))
        let (summary, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.relay + "/relay.pcap", ReplayFixtures.relay + "/relay-sll2.pcap"], listeners: listeners,
            ptr: ReplayFixtures.ptr(ReplayFixtures.relay))
        #expect(summary.connections == 44)
        #expect(summary.differences == 0, "\(ReplayFixtures.changes(connections))")
        #expect(connections.allSatisfy { $0.listener == "smtp" })
        // The one step not replayed is the client's QUIT after the server hung up (bare LF).
        #expect(summary.counts.notReplayed == 1)
    }

    @Test func authCaptureWithBothListenersFromTheConfigurationFile() throws {
        let listeners = ReplayListeners(file: try ConfigurationFile.load(path: ReplayFixtures.auth + "/relaylab.yaml"))
        let (summary, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.auth + "/auth.pcap"], listeners: listeners, ptr: ReplayFixtures.ptr(ReplayFixtures.auth))
        #expect(summary.connections == 17)
        #expect(summary.differences == 0, "\(ReplayFixtures.changes(connections))")
        #expect(summary.counts.diverged == 0)
        #expect(Set(connections.compactMap(\.listener)) == ["smtp", "submission"])
        #expect(connections.filter { $0.server.port == 587 }.allSatisfy { $0.listener == "submission" })
        // AUTH responses are compared like commands (their outcome was taken as recorded).
        #expect(summary.counts.compared == 109)
    }

    @Test func authCaptureWithRunScripts() throws {
        let scripts = try ["run.smtp", "run.submission"].map { try RunScript.load(path: ReplayFixtures.auth + "/" + $0) }
        let (summary, connections) = try ReplayFixtures.replay(
            [ReplayFixtures.auth + "/auth.pcap"], listeners: ReplayListeners(runScripts: scripts),
            ptr: ReplayFixtures.ptr(ReplayFixtures.auth))
        #expect(summary.differences == 0, "\(ReplayFixtures.changes(connections))")
        #expect(Set(connections.compactMap(\.listener)) == ["run.smtp", "run.submission"])
    }

    @Test func threadsDoNotChangeTheResultOrItsOrder() throws {
        let listeners = ReplayListeners(single: ReplayFixtures.relaySpec())
        let files = [ReplayFixtures.relay + "/relay.pcap"]
        let ptr = try ReplayFixtures.ptr(ReplayFixtures.relay)
        let one = try ReplayFixtures.replay(files, listeners: listeners, ptr: ptr, threads: 1)
        for threads in [2, 3, 8] {
            let runner = ReplayRunner(listeners: listeners, ptr: ptr, threads: threads)
            runner.batchSize = 5
            var indices: [Int] = []
            var summary = ReplaySummary()
            _ = try runner.run(files: files) { connection in
                indices.append(connection.index)
                summary.add(connection)
            }
            #expect(indices == one.connections.map(\.index))
            #expect(summary.counts == one.summary.counts)
        }
    }

    @Test func withoutPTRNamesTheNameBasedRulesChangeDecisions() throws {
        // Without --ptr, clients known by their PTR name fall to the ":" rule (no reverse DNS:
        // rblsmtpd 451): the replay must notice.
        let (summary, _) = try ReplayFixtures.replay(
            [ReplayFixtures.relay + "/relay.pcap"], listeners: ReplayListeners(single: ReplayFixtures.relaySpec()))
        #expect(summary.differences > 0)
        #expect(summary.changes[.recipientDeferred]?.count ?? 0 > 0)
    }

    @Test func noListenerMeansSkippedWithTheReason() throws {
        var spec = ReplayFixtures.relaySpec()
        spec.server.port = 587
        let listener = Listener(name: "submission", ip: nil, port: 587, configuration: spec, position: FilePosition(file: "x", line: 1))
        let listeners = ReplayListeners(listeners: [listener], origin: "x.yaml", overrides: ConfigurationSpec(), warnings: [])
        let (summary, _) = try ReplayFixtures.replay([ReplayFixtures.relay + "/relay.pcap"], listeners: listeners)
        #expect(summary.skipped == 36)
        #expect(summary.skippedReasons == ["no listener for 192.0.2.25:25 in x.yaml": 35, "no listener for 127.0.0.1:25 in x.yaml": 1])
        #expect(summary.connections == summary.compared + summary.unobservableConnections + summary.skipped)
        #expect(summary.counts.compared == 0 && summary.counts.steps == 0)
    }

    @Test func reusingTcpserverDecisionsChangesNothing() throws {
        // Connections from a client seen before start after tcpserver with its cached decision
        // (unless every detail is kept): counts, differences and divergences must be identical,
        // with the recorded configuration and with one where many decisions change.
        let copy = try ReplayFixtures.changedCopy(of: ReplayFixtures.relay) { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") {
                "198.19.1.13:deny\n" + $0.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow")
            }
            try ReplayFixtures.edit(copy + "/control/badmailfrom") { $0 + "@partner-a.example\n" }
        }
        let ptr = try ReplayFixtures.ptr(ReplayFixtures.relay)
        for spec in [ReplayFixtures.relaySpec(), ReplayFixtures.relaySpec(control: copy + "/control", rules: copy + "/tcp.smtp")] {
            let files = [ReplayFixtures.relay + "/relay.pcap", ReplayFixtures.relay + "/relay-sll2.pcap"]
            let cached = try ReplayFixtures.replay(files, listeners: ReplayListeners(single: spec), ptr: ptr)
            let full = try ReplayFixtures.replay(
                files, listeners: ReplayListeners(single: spec), ptr: ptr, options: ReplayOptions(keepAllSteps: true))
            #expect(cached.summary.counts == full.summary.counts)
            for (one, other) in zip(cached.connections, full.connections) {
                #expect(one.counts == other.counts, "#\(one.index)")
                #expect(one.differences == other.differences, "#\(one.index)")
                #expect(one.divergences == other.divergences, "#\(one.index)")
            }
        }
    }
}

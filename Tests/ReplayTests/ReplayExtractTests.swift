import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// `relaylab extract`'s scenario files: every bundled capture extracted and checked passes
/// against the configuration it was recorded under, the client's bytes come back exactly, and
/// no credential is written.
@Suite struct ReplayExtractTests {
    /// Extracts `captures` with `listeners` into a file in a temporary folder; returns its path.
    static func extract(
        _ captures: [String], listeners: ReplayListeners, reference: ScenarioExtractor.Configuration, ptr: ReplayPTRTable?
    ) throws -> (path: String, extractor: ScenarioExtractor) {
        let folder = try TestSupport.temporaryDirectory("extract")
        let path = folder + "/extracted.yaml"
        var extractor = ScenarioExtractor(outputPath: path, configuration: reference)
        var text = extractor.header(captures: captures)
        _ = try CaptureReader().read(files: captures) { dialogue in
            let target = try listeners.target(for: dialogue.server)
            if case .extracted(let item) = extractor.connection(
                dialogue, clientName: ReplayRunner.clientName(for: dialogue, ptr: ptr), target: target)
            {
                text += item
            }
        }
        text += extractor.footer()
        try TestSupport.write(text, to: path)
        return (path, extractor)
    }

    /// Runs `relaylab check`'s runner on a scenario file; returns the failures as text.
    static func check(_ path: String) throws -> (connections: Int, failures: [String]) {
        var failures: [String] = []
        var connections = 0
        CheckRunner.check(file: path) { event in
            switch event {
            case .result(let result):
                connections += 1
                for difference in result.differences { failures.append("\(result.name): \(difference.oneLine)") }
            case .problem(let problem):
                failures.append(problem.detail)
            }
        }
        return (connections, failures)
    }

    /// The bytes the scenario's steps send, in order (AUTH steps left out).
    static func sentBytes(_ connection: ScenarioConnection) -> [UInt8] {
        var bytes: [UInt8] = []
        for step in connection.steps {
            switch step.action {
            case .send(let sent): bytes += sent
            case .data(let body, _): bytes += Array("DATA\r\n".utf8) + body
            default: break
            }
        }
        return bytes
    }

    @Test(arguments: ["relay.pcap", "relay.pcapng", "relay-sll2.pcap"])
    func relayCapturesExtractAndPass(file: String) throws {
        let capture = ReplayFixtures.relay + "/" + file
        let ptr = try ReplayFixtures.ptr(ReplayFixtures.relay)
        let (path, extractor) = try Self.extract(
            [capture], listeners: ReplayListeners(single: ReplayFixtures.relaySpec()),
            reference: .inline(ReplayFixtures.relaySpec(), rblFixture: nil), ptr: ptr)
        let dialogues = try CaptureReader().readAll(files: [capture]).dialogues
        #expect(extractor.extracted == dialogues.count && extractor.skipped.isEmpty)
        let (connections, failures) = try Self.check(path)
        #expect(connections == dialogues.count)
        #expect(failures.isEmpty, "\(failures)")
        // The client's bytes come back exactly: commands, pipelined batches, bodies (bare LFs too).
        let scenario = try ScenarioFile.load(path: path)
        for (connection, dialogue) in zip(scenario.connections, dialogues.sorted { $0.index < $1.index }) {
            #expect(Self.sentBytes(connection) == dialogue.clientStream, "\(connection.name)")
            #expect(connection.client.ip == dialogue.client.ip && connection.client.port == dialogue.client.port)
        }
    }

    @Test func authCaptureExtractsWithPlaceholdersAndPasses() throws {
        let config = ReplayFixtures.auth + "/relaylab.yaml"
        let (path, extractor) = try Self.extract(
            [ReplayFixtures.auth + "/auth.pcap"], listeners: ReplayListeners(file: try ConfigurationFile.load(path: config)),
            reference: .file(path: config, overrides: ConfigurationSpec(), rblFixture: nil),
            ptr: try ReplayFixtures.ptr(ReplayFixtures.auth))
        #expect(extractor.extracted == 17)
        let (connections, failures) = try Self.check(path)
        #expect(connections == 17)
        #expect(failures.isEmpty, "\(failures)")
        let text = String(decoding: try TestSupport.read(path), as: UTF8.self)
        // The test checkpassword's real user and password, plain and base64 (alone and PLAIN's).
        for secret in ["testuser", "testpass", "dGVzdHVzZXI=", "dGVzdHBhc3M=", "AHRlc3R1c2VyAHRlc3RwYXNz"] {
            #expect(!text.contains(secret), "\(secret) leaked")
        }
        // Successful attempts become users of the scenario's checkpassword; failed ones do not.
        #expect(text.contains("auth: {users: {\"user-0-1\": \"password-0-1\"}}"))
        #expect(text.contains("- auth: {mechanism: LOGIN, user: \"unknown-user-2-1\", password: \"password-2-1\", initial: false}"))
        // An AUTH during a mail transaction keeps its shape with a placeholder; a cancel stays `*`.
        let placeholder = Data("\0placeholder-11-3\0password".utf8).base64EncodedString()
        #expect(text.contains("- send: \"AUTH PLAIN \(placeholder)\"\n        expect: \"503 no auth during mail transaction (#5.5.0)\""))
        #expect(text.contains("- send: \"*\"\n        expect: \"501 auth exchange canceled (#5.0.0)\""))
    }

    @Test func unusualBytesRoundTrip() throws {
        var builder = DialogueBuilder()
        builder.command("HELO h\u{e9}llo", "250 mx.example.net")
        builder.steps.append((.command, Array("NOOP\0junk\r\n".utf8), "250 ok\r\n", builder.startTime, nil, 0))
        builder.steps.append((.command, [UInt8]("MAIL FROM:<a@b.example>\n".utf8), "250 ok\r\n", builder.startTime, nil, 0))
        builder.command("RCPT TO:<alice@example.net>", "250 ok")
        builder.command("DATA", "354 go ahead")
        // A stuffed dot line, a line that is only a dot (stuffed), 8-bit text and an empty line.
        builder.body("Subject: caf\u{e9}\r\n\r\n..leading dot\r\n..\r\nend\r\n.\r\n", "250 ok 1 qp 2")
        builder.command("MAIL FROM:<a@b.example>", "250 ok")
        builder.command("RCPT TO:<alice@example.net>", "250 ok")
        builder.command("DATA", "354 go ahead")
        // Latin-1 bytes and a bare LF: only raw bytes reproduce this message.
        builder.steps.append((.dataBody, [0x53, 0xE9, 0x0D, 0x0A, 0x62, 0x0A, 0x2E, 0x0D, 0x0A], "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n", builder.startTime, nil, 0))
        builder.end = .serverClosed
        let dialogue = builder.build(index: 7)
        let folder = try TestSupport.temporaryDirectory("extract")
        var spec = ConfigurationSpec()
        spec.control = .directory(ReplayFixtures.relay + "/control")
        let path = folder + "/odd.yaml"
        var extractor = ScenarioExtractor(outputPath: path, configuration: .inline(spec, rblFixture: nil))
        let target = ReplayTarget(name: nil, configuration: try ConfigurationLoader().configuration(for: spec))
        guard case .extracted(let item) = extractor.connection(dialogue, clientName: nil, target: target) else {
            Issue.record("not extracted")
            return
        }
        try TestSupport.write(extractor.header(captures: ["odd.pcap"]) + item + extractor.footer(), to: path)
        let scenario = try ScenarioFile.load(path: path)
        #expect(Self.sentBytes(scenario.connections[0]) == dialogue.clientStream)
        let (_, failures) = try Self.check(path)
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func connectionsThatCannotBeReplayedAreLeftOutWithTheReason() throws {
        var midstream = ReplayConnectionReplayerTests.delivery()
        midstream.midstream = true
        var lost = ReplayConnectionReplayerTests.delivery()
        lost.steps[2].lost = 12
        lost.steps[2].reason = .clientDataLost(bytes: 12)
        var extractor = ScenarioExtractor(outputPath: "/tmp/x.yaml", configuration: .inline(ConfigurationSpec(), rblFixture: nil))
        let target = ReplayTarget(name: nil, configuration: RelayConfiguration(control: QmailControl(files: [:])))
        guard case .skipped(let first) = extractor.connection(midstream.build(index: 1), clientName: nil, target: target),
            case .skipped(let second) = extractor.connection(lost.build(index: 2), clientName: nil, target: target),
            case .skipped(let third) = extractor.connection(midstream.build(index: 3), clientName: nil, target: nil)
        else {
            Issue.record("extracted")
            return
        }
        #expect(first == "the capture started after the connection opened")
        #expect(second == "lost segment: 12 bytes of client data were not captured")
        #expect(third.hasPrefix("no listener takes connections to"))
        #expect(extractor.footer().contains("#2: lost segment: 12 bytes of client data were not captured"))
    }

    @Test func pathsAreRelativeToTheScenarioFile() {
        let extractor = ScenarioExtractor(outputPath: "/srv/mail/tests/production.yaml", configuration: .inline(ConfigurationSpec(), rblFixture: nil))
        #expect(extractor.relative("/srv/mail/qmail/control") == "../qmail/control")
        #expect(extractor.relative("/srv/mail/tests/relaylab.yaml") == "relaylab.yaml")
        #expect(extractor.relative("/var/qmail/control") == "/var/qmail/control")
    }
}

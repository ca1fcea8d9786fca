import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// Shared helpers for the replay tests: the bundled captures' configurations (as they were
/// recorded, or deliberately changed), and hand-built dialogues.
enum ReplayFixtures {
    static let relay = TestSupport.fixture("captures/qmail-relay")
    static let auth = TestSupport.fixture("captures/qmail-auth")

    /// The qmail-relay listener as flags would give it: control, rules, rblsmtpd.
    static func relaySpec(control: String = relay + "/control", rules: String = relay + "/tcp.smtp.cdb") -> ConfigurationSpec {
        var spec = ConfigurationSpec()
        spec.control = .directory(control)
        spec.rules = .file(rules)
        spec.rblsmtpd = .on(RBLSMTPDOptions())
        spec.tcpserver = ["-R", "-l", "mx.example.net"]
        return spec
    }

    static func ptr(_ folder: String) throws -> ReplayPTRTable {
        try ReplayPTRTable.load(path: folder + "/ptr.txt")
    }

    /// A copy of a sample's control directory and rules source in a temporary folder, changed
    /// by `change` (which gets the folder).
    static func changedCopy(of folder: String, _ change: (String) throws -> Void) throws -> String {
        let copy = try TestSupport.temporaryDirectory("replay-config")
        try FileManager.default.createDirectory(atPath: copy + "/control", withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder + "/control") {
            try FileManager.default.copyItem(atPath: folder + "/control/" + name, toPath: copy + "/control/" + name)
        }
        for name in ["tcp.smtp", "run.smtp", "run.submission", "relaylab.yaml"] where FileManager.default.fileExists(atPath: folder + "/" + name) {
            try FileManager.default.copyItem(atPath: folder + "/" + name, toPath: copy + "/" + name)
        }
        try change(copy)
        return copy
    }

    /// Edits a text file in place.
    static func edit(_ path: String, _ change: (String) -> String) throws {
        let text = String(decoding: try TestSupport.read(path), as: UTF8.self)
        try TestSupport.write(change(text), to: path)
    }

    /// Replays `captures` and returns every connection (in delivery order) and the summary.
    static func replay(
        _ captures: [String], listeners: ReplayListeners, ptr: ReplayPTRTable? = nil,
        options: ReplayOptions = ReplayOptions(), threads: Int = 1
    ) throws -> (summary: ReplaySummary, connections: [ReplayedConnection]) {
        let runner = ReplayRunner(listeners: listeners, ptr: ptr, options: options, threads: threads)
        var summary = ReplaySummary()
        var connections: [ReplayedConnection] = []
        summary.capture = try runner.run(files: captures) { connection in
            summary.add(connection)
            connections.append(connection)
        }
        return (summary, connections)
    }

    /// Every difference as `#connection step kind subject` (step 0: the connection itself).
    static func changes(_ connections: [ReplayedConnection]) -> [String] {
        connections.flatMap { connection in
            connection.differences.map { "#\(connection.index) \($0.step ?? 0) \($0.change.rawValue) \($0.subject)" }
        }.sorted()
    }
}

/// Builds a ``Dialogue`` by hand: client steps and server replies sliced from two byte streams,
/// as the capture layer builds them.
struct DialogueBuilder {
    var client = Capture.Endpoint(ip: "198.19.1.10", port: 40001)
    var server = Capture.Endpoint(ip: "192.0.2.25", port: 25)
    var greeting: String? = "220 mx.example.net ESMTP\r\n"
    var steps: [(kind: DialogueStep.Kind, bytes: [UInt8], reply: String?, time: Double, reason: UnobservableReason?, lost: Int)] = []
    var end: DialogueEnd = .quit
    var problems: [DialogueProblem] = []
    var midstream = false
    var clientPTR: [String]? = nil
    var startTime = 1_795_563_513.0

    mutating func command(_ line: String, _ reply: String?, after seconds: Double = 0, reason: UnobservableReason? = nil) {
        let time = (steps.last?.time ?? startTime) + seconds
        steps.append((.command, Array((line + "\r\n").utf8), reply.map { $0 + "\r\n" }, time, reason, 0))
    }

    mutating func body(_ text: String, _ reply: String?, reason: UnobservableReason? = nil, lost: Int = 0) {
        let time = steps.last?.time ?? startTime
        steps.append((.dataBody, Array(text.utf8), reply.map { $0 + "\r\n" }, time, reason, lost))
    }

    mutating func authResponse(_ line: String, _ reply: String?) {
        let time = steps.last?.time ?? startTime
        steps.append((.authResponse, Array((line + "\r\n").utf8), reply.map { $0 + "\r\n" }, time, nil, 0))
    }

    func build(index: Int = 0) -> Dialogue {
        var clientStream: [UInt8] = []
        var serverStream: [UInt8] = []
        var greetingReply: ServerReply? = nil
        if let greeting {
            serverStream += Array(greeting.utf8)
        }
        var ranges: [(Range<Int>, Range<Int>?)] = []
        for step in steps {
            let start = clientStream.count
            clientStream += step.bytes
            var replyRange: Range<Int>? = nil
            if let reply = step.reply {
                let replyStart = serverStream.count
                serverStream += Array(reply.utf8)
                replyRange = replyStart..<serverStream.count
            }
            ranges.append((start..<clientStream.count, replyRange))
        }
        if let greeting {
            greetingReply = ServerReply(code: Int(greeting.prefix(3)), bytes: serverStream[0..<greeting.utf8.count])
        }
        var dialogueSteps: [DialogueStep] = []
        for (step, (clientRange, replyRange)) in zip(steps, ranges) {
            let reply = replyRange.map { range in
                ServerReply(code: Int(String(decoding: serverStream[range].prefix(3), as: UTF8.self)), bytes: serverStream[range])
            }
            dialogueSteps.append(
                DialogueStep(
                    kind: step.kind, clientBytes: clientStream[clientRange], reply: reply, time: step.time,
                    unobservableReason: step.reason, lostBytes: step.lost))
        }
        return Dialogue(
            index: index, client: client, server: server, startTime: startTime, endTime: steps.last?.time ?? startTime,
            greeting: greetingReply, steps: dialogueSteps, end: end, midstream: midstream, problems: problems,
            sourceFile: "test.pcap", sourcePacket: 1, clientPTR: clientPTR, clientStream: clientStream,
            serverStream: serverStream)
    }
}

@Suite struct ReplayPTRTableTests {
    @Test func parsesTheSamplesFormat() throws {
        let table = try ReplayPTRTable(
            text: "# comment\n198.19.1.11   MX1.Customer.Example.ORG\n\n10.1.2.15\tws15.office.example.net # trailing\n192.0.2.99 -\n2001:DB8::1 v6.example\n",
            path: "ptr.txt")
        #expect(table.entry(for: "198.19.1.11") == .some("MX1.Customer.Example.ORG"))
        #expect(table.entry(for: "10.1.2.15") == .some("ws15.office.example.net"))
        #expect(table.entry(for: "192.0.2.99") == .some(nil))
        #expect(table.entry(for: "2001:db8::1") == .some("v6.example"))
        #expect(table.entry(for: "198.19.1.12") == nil)
    }

    @Test func malformedLinesAreNamed() {
        #expect(throws: ReplayInputError(file: "ptr.txt", line: 2, message: "expected 'IP NAME' (two fields), found 3")) {
            try ReplayPTRTable(text: "10.0.0.1 a\n10.0.0.2 b c\n", path: "ptr.txt")
        }
        #expect(throws: ReplayInputError(file: "ptr.txt", line: 1, message: "'mail.example' is not an IP address")) {
            try ReplayPTRTable(text: "mail.example 10.0.0.1\n", path: "ptr.txt")
        }
        #expect(throws: ReplayInputError.self) { try ReplayPTRTable.load(path: "/nonexistent/ptr.txt") }
    }

    @Test func bundledPTRFilesParse() throws {
        #expect(try ReplayFixtures.ptr(ReplayFixtures.relay).names.count == 11)
        #expect(try ReplayFixtures.ptr(ReplayFixtures.auth).names.count == 3)
    }
}

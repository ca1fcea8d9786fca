import Foundation
import RelayEngine
import TestSupport
import Testing

/// Every connection of the real captures (captures/*/*.sessions.jsonl) replayed through the
/// engine with the configuration that produced it: every reply, the environment the chain
/// received, the rule, the exit status and every queued envelope must match.
@Suite struct CaptureReplayTests {
    static let corpora = [
        ("qmail-relay", "qmail-relay/relay.sessions.jsonl"),
        ("qmail-relay", "qmail-relay/relay-sll2.sessions.jsonl"),
        ("qmail-auth", "qmail-auth/auth.sessions.jsonl"),
    ]

    @Test(arguments: corpora)
    func recordedSessionsReproduce(folderName: String, recordsPath: String) throws {
        let folder = try CaptureFixtures.folder(folderName)
        let records = try CaptureFixtures.records(recordsPath)
        #expect(!records.isEmpty)
        for record in records {
            try replay(record, folder: folder)
        }
    }

    func replay(_ record: CaptureFixtures.Record, folder: CaptureFixtures.Folder) throws {
        let context = "\(record.id) \(record.label)"
        let config = folder.configuration(port: record.serverPort, credentials: .recorded(record.authOutcomes))
        var session = RelaySession(configuration: config, connection: record.connection)
        var index = 0
        while index < record.steps.count {
            let step = record.steps[index]
            let kind = step["kind"] as! String
            var expected = step["reply"] as! [String]
            var reply: [UInt8]
            switch kind {
            case "greeting":
                reply = session.start()
                index += 1
            case "body":
                let line = step["line"] as! String
                let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                let total = step["bytes"] as! Int
                let lineEnd: [UInt8] = total - numbers[1] == 2 ? [10] : [13, 10]
                let body = CaptureFixtures.body(lines: numbers[0], bytes: numbers[1], lineEnd: lineEnd)
                reply = session.receive(body + [UInt8(ascii: ".")] + lineEnd)
                index += 1
            default:
                // Commands of one pipelined batch go out together.
                var input: [UInt8] = []
                let batch = step["batch"] as? Int
                input += Array((step["line"] as! String).utf8) + [13, 10]
                index += 1
                if let batch {
                    expected = expected.map { $0 }
                    while index < record.steps.count, record.steps[index]["batch"] as? Int == batch,
                        record.steps[index]["kind"] as? String == "cmd"
                    {
                        input += Array((record.steps[index]["line"] as! String).utf8) + [13, 10]
                        expected += record.steps[index]["reply"] as! [String]
                        index += 1
                    }
                }
                reply = session.receive(input)
            }
            let got = Exchange.lines(reply).map(CaptureFixtures.normalize)
            #expect(got == expected.map(CaptureFixtures.normalize), "\(context): step \(step["step"] ?? "?")")
        }
        if !session.isClosed { session.clientClosed() }
        let server = record.server
        #expect(session.exitStatus.map(Int.init) == server["exit_status"] as? Int, "\(context): exit status")
        #expect(session.connectionDecision.ruleKey == server["rule"] as? String, "\(context): rule")
        if let env = server["env"] as? [String: String] {
            var mine = session.connectionDecision.environment
            for name in mine.keys where env[name] == nil { mine[name] = nil }
            #expect(mine == env, "\(context): environment")
        }
        if let rblsmtpd = server["rblsmtpd"] as? String {
            #expect(session.connectionDecision.blocklist?.outcome == (rblsmtpd.hasPrefix("553") ? .refuse : .tempfail), "\(context)")
        }
        let queued = server["queued"] as? [[String: Any]] ?? []
        #expect(session.envelopes.count == queued.count, "\(context): queued messages")
        for (message, recorded) in zip(session.envelopes, queued) {
            #expect(message.senderText == recorded["sender"] as? String, "\(context): sender")
            #expect(message.recipientTexts == recorded["rcpts"] as? [String], "\(context): recipients")
            #expect(
                CaptureFixtures.normalize(message.receivedText) == CaptureFixtures.normalize(recorded["received"] as! String),
                "\(context): Received line")
            #expect(message.message.count == recorded["message_bytes"] as? Int, "\(context): message size")
        }
    }

    /// The same captures at the byte level: the client's stream as it crossed the wire (bodies,
    /// bare LFs and AUTH credentials included) fed packet by packet, and the server's stream
    /// compared byte for byte (only `250 ok <time> qp <n>` numbers normalised). AUTH is checked
    /// with the test checkpassword's real credentials (testuser/testpass) rather than outcomes.
    @Test(
        .enabled(if: TestSupport.has("tshark"), "tshark (wireshark) is not installed"),
        arguments: [
            ("qmail-relay", "qmail-relay/relay.pcap", "qmail-relay/relay.sessions.jsonl"),
            ("qmail-relay", "qmail-relay/relay-sll2.pcap", "qmail-relay/relay-sll2.sessions.jsonl"),
            ("qmail-auth", "qmail-auth/auth.pcap", "qmail-auth/auth.sessions.jsonl"),
        ])
    func packetStreamsReproduce(folderName: String, pcap: String, recordsPath: String) throws {
        let folder = try CaptureFixtures.folder(folderName)
        let records = try CaptureFixtures.records(recordsPath)
        let result = try TestSupport.run(
            "tshark",
            ["-n", "-r", TestSupport.fixture("captures/" + pcap), "-Y", "tcp.len>0", "-T", "fields", "-e", "tcp.srcport",
             "-e", "tcp.dstport", "-e", "tcp.seq", "-e", "tcp.payload"])
        #expect(result.status == 0)
        // client port -> (client packets in order, server bytes)
        var clientPackets: [Int: [(seq: Int, bytes: [UInt8])]] = [:]
        var serverBytes: [Int: [(seq: Int, bytes: [UInt8])]] = [:]
        for line in result.stdoutText.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4, let source = Int(fields[0]), let destination = Int(fields[1]), let seq = Int(fields[2]) else { continue }
            let bytes = hex(fields[3])
            if source == 25 || source == 587 {
                if !(serverBytes[destination] ?? []).contains(where: { $0.seq == seq }) { serverBytes[destination, default: []].append((seq, bytes)) }
            } else {
                if !(clientPackets[source] ?? []).contains(where: { $0.seq == seq }) { clientPackets[source, default: []].append((seq, bytes)) }
            }
        }
        for record in records {
            let context = "\(record.id) \(record.label)"
            let config = folder.configuration(port: record.serverPort, credentials: .users(["testuser": "testpass"]))
            var session = RelaySession(configuration: config, connection: record.connection)
            var output = session.start()
            for packet in (clientPackets[record.clientPort] ?? []).sorted(by: { $0.seq < $1.seq }) {
                output += session.receive(packet.bytes)
            }
            if !session.isClosed { session.clientClosed() }
            let expected = (serverBytes[record.clientPort] ?? []).sorted(by: { $0.seq < $1.seq }).flatMap(\.bytes)
            #expect(
                CaptureFixtures.normalize(String(decoding: output, as: UTF8.self)).split(separator: "\r\n")
                    == CaptureFixtures.normalize(String(decoding: expected, as: UTF8.self)).split(separator: "\r\n"),
                "\(context)")
            #expect(output.count == expected.count, "\(context): byte count")
            #expect(session.exitStatus.map(Int.init) == record.server["exit_status"] as? Int, "\(context): exit status")
            let queued = record.server["queued"] as? [[String: Any]] ?? []
            #expect(session.envelopes.map(\.message.count) == queued.map { $0["message_bytes"] as! Int }, "\(context): sizes")
            #expect(session.envelopes.map(\.recipientTexts) == queued.map { $0["rcpts"] as! [String] }, "\(context)")
        }
    }

    func hex(_ text: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            func value(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : (c >= 65 ? c - 55 : c - 48) }
            bytes.append(value(high) << 4 | value(low))
        }
        return bytes
    }
}

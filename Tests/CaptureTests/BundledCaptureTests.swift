// The bundled real captures must reconstruct exactly: every connection, endpoint, greeting,
// client line (bodies as their summary and size, credentials compared but never printed) and
// reply line recorded in the capture driver's *.sessions.jsonl.

import Capture
import Foundation
import Testing
import TestSupport

@Suite struct BundledCaptureTests {
    static let captures: [(pcap: String, records: String)] = [
        ("captures/qmail-relay/relay.pcap", "captures/qmail-relay/relay.sessions.jsonl"),
        ("captures/qmail-relay/relay.pcapng", "captures/qmail-relay/relay.sessions.jsonl"),
        ("captures/qmail-relay/relay-sll2.pcap", "captures/qmail-relay/relay-sll2.sessions.jsonl"),
        ("captures/qmail-auth/auth.pcap", "captures/qmail-auth/auth.sessions.jsonl"),
    ]

    static func records(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: TestSupport.fixture(path), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test(arguments: captures)
    func reconstructsExactly(pcap: String, records recordsPath: String) throws {
        let records = try Self.records(recordsPath)
        let result = try CaptureReader().readAll(files: [TestSupport.fixture(pcap)])
        #expect(result.summary.damage.isEmpty)
        #expect(result.summary.connections == records.count)
        #expect(result.summary.incompleteConnections == 0)
        try #require(result.dialogues.count == records.count)
        for (dialogue, record) in zip(result.dialogues, records) {
            let label = "\(pcap) #\(record["id"] ?? "?") \(record["label"] ?? "")"
            #expect(dialogue.client.ip == record["client_ip"] as? String, "\(label)")
            #expect(dialogue.client.port == record["client_port"] as? Int, "\(label)")
            #expect(dialogue.server.ip == record["server_ip"] as? String, "\(label)")
            #expect(dialogue.server.port == record["server_port"] as? Int, "\(label)")
            #expect(dialogue.problems.isEmpty, "\(label): \(dialogue.problems)")
            #expect(dialogue.unpairedReplies.isEmpty, "\(label)")
            #expect(!dialogue.midstream, "\(label)")
            let steps = try #require(record["steps"] as? [[String: Any]])
            let greeting = try #require(steps.first)
            #expect(greeting["kind"] as? String == "greeting")
            let greetingLines = greeting["reply"] as? [String] ?? []
            if greetingLines.isEmpty {
                // tcpserver deny: the server closed without sending a byte.
                #expect(dialogue.greeting == nil, "\(label)")
                #expect(dialogue.end == .serverClosedSilently, "\(label)")
                #expect(dialogue.steps.isEmpty, "\(label)")
            } else {
                #expect(dialogue.greeting?.lines == greetingLines, "\(label)")
                #expect(dialogue.greeting?.code == 220, "\(label)")
            }
            let expected = Array(steps.dropFirst())
            #expect(dialogue.steps.count == expected.count, "\(label): \(dialogue.transcript)")
            for (index, (step, want)) in zip(dialogue.steps, expected).enumerated() {
                let where_ = "\(label) step \(index + 1) \(want["step"] ?? "")"
                let line = want["line"] as? String ?? ""
                let replyLines = want["reply"] as? [String] ?? []
                #expect(step.unobservable == nil, "\(where_)")
                switch want["kind"] as? String {
                case "body":
                    #expect(step.kind == .dataBody, "\(where_)")
                    #expect(step.line == line, "\(where_)")
                    #expect(step.clientBytes.count == want["bytes"] as? Int, "\(where_)")
                    #expect(step.clientBytes.suffix(3) == [0x2E, 0x0D, 0x0A] || step.clientBytes.suffix(2) == [0x2E, 0x0A], "\(where_)")
                case "cmd":
                    #expect(step.kind == .command || step.kind == .authResponse, "\(where_)")
                    let sent = String(decoding: SMTPTextForTests.stripTerminator(step.clientBytes), as: UTF8.self)
                    #expect(sent == line, "\(where_)")
                    if step.holdsCredentials {
                        // Credentials: compared above through the bytes, never in the printable form.
                        #expect(step.line.contains("redacted"), "\(where_)")
                        let secret = line.split(separator: " ").last.map(String.init) ?? line
                        #expect(!step.line.contains(secret), "\(where_)")
                    } else {
                        #expect(step.line == line, "\(where_)")
                        #expect(step.verb == line.split(separator: " ").first.map { $0.uppercased() }, "\(where_)")
                    }
                default:
                    Issue.record("\(where_): unexpected kind \(want["kind"] ?? "nil")")
                }
                if replyLines.isEmpty {
                    #expect(step.reply == nil, "\(where_)")
                } else {
                    #expect(step.reply?.lines == replyLines, "\(where_)")
                    #expect(step.reply?.isComplete == true, "\(where_)")
                }
                if let batch = want["batch"] as? Int {
                    #expect(step.batch == batch, "\(where_)")
                }
            }
        }
    }

    @Test func authCredentialsAreMarkedAndRedacted() throws {
        let result = try CaptureReader().readAll(files: [TestSupport.fixture("captures/qmail-auth/auth.pcap")])
        let first = result.dialogues[0]
        #expect(first.steps.map(\.kind) == [.command, .command, .authResponse, .authResponse, .command, .command, .command, .dataBody, .command])
        #expect(first.steps[2].line == "<auth response redacted>")
        #expect(Array(first.steps[2].clientBytes) == "dGVzdHVzZXI=\r\n".bytes)
        #expect(first.steps[2].verb == nil)
        // AUTH PLAIN with an initial response holds the credentials on the command line.
        let plain = result.dialogues[1].steps[1]
        #expect(plain.kind == .command && plain.verb == "AUTH" && plain.holdsCredentials)
        #expect(plain.line == "AUTH PLAIN <credentials redacted>")
    }

    @Test func endsAndDenials() throws {
        let result = try CaptureReader().readAll(files: [TestSupport.fixture("captures/qmail-relay/relay.pcap")])
        let ends = result.dialogues.map(\.end)
        #expect(ends[0] == .quit)
        #expect(ends[7] == .serverClosedSilently && ends[8] == .serverClosedSilently)
        #expect(ends[26] == .clientClosed)  // drop-without-quit
        #expect(ends[29] == .serverClosed)  // 451 for bare LF in DATA, then the server closed
        // The QUIT sent after the server had closed: no reply, and none could be seen.
        let quit = try #require(result.dialogues[29].steps.last)
        #expect(quit.verb == "QUIT" && quit.reply == nil && quit.unobservable == nil)
        #expect(result.summary.ends[.quit] == 31)
        // The loopback connection's frames have unfilled TCP checksums: still read.
        #expect(result.dialogues[4].client.ip == "127.0.0.1" && result.dialogues[4].isComplete)
    }

    @Test func pcapAndPcapngGiveTheSameDialogues() throws {
        let pcap = try CaptureReader().readAll(files: [TestSupport.fixture("captures/qmail-relay/relay.pcap")])
        let pcapng = try CaptureReader().readAll(files: [TestSupport.fixture("captures/qmail-relay/relay.pcapng")])
        #expect(pcap.dialogues.map(\.transcript) == pcapng.dialogues.map(\.transcript))
        #expect(pcap.dialogues.map(\.startTime) == pcapng.dialogues.map(\.startTime))
        #expect(pcap.summary.packets == 712 && pcapng.summary.packets == 712)
        #expect(pcap.summary.files.first?.linkType == "EN10MB")
    }

    @Test func sll2LinkType() throws {
        let result = try CaptureReader().readAll(files: [TestSupport.fixture("captures/qmail-relay/relay-sll2.pcap")])
        #expect(result.summary.files.first?.linkType == "LINUX_SLL2")
        #expect(result.summary.files.first?.linkTypeNumber == 276)
    }
}

/// Access to the small helpers tests need without exposing library internals.
enum SMTPTextForTests {
    static func stripTerminator(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = bytes.endIndex
        if end > bytes.startIndex && bytes[end - 1] == 0x0A {
            end -= 1
            if end > bytes.startIndex && bytes[end - 1] == 0x0D { end -= 1 }
        }
        return bytes[bytes.startIndex..<end]
    }
}

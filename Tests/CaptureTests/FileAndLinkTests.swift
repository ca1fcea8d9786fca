// Files and link layers: pcap variants, pcapng, every supported link type, unsupported link
// types, truncated files, several files as one stream, stdin and BPF filters.

import Capture
import Foundation
import Testing
import TestSupport

/// A small dialogue used across these tests.
let sampleConversation = Conversation.smtp([
    ("EHLO client.example\r\n", "250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
    ("MAIL FROM:<a@client.example>\r\n", "250 ok\r\n"),
    ("RCPT TO:<b@example.net>\r\n", "250 ok\r\n"),
])

let sampleTranscript = [
    "EHLO client.example -> 250-mx.example.net / 250-PIPELINING / 250 8BITMIME",
    "MAIL FROM:<a@client.example> -> 250 ok",
    "RCPT TO:<b@example.net> -> 250 ok",
    "QUIT -> 221 mx.example.net",
]

@Suite struct FileAndLinkTests {
    @Test(arguments: CaptureFormat.all)
    func everyFileFormat(format: CaptureFormat) throws {
        let result = try readCapture(sampleConversation.records(), format: format)
        try #require(result.dialogues.count == 1)
        let dialogue = result.dialogues[0]
        #expect(dialogue.transcript == sampleTranscript)
        #expect(dialogue.greeting?.lines == ["220 mx.example.net ESMTP"])
        #expect(dialogue.isComplete && dialogue.end == .quit)
        #expect(result.summary.packets == sampleConversation.segments.count)
        // Timestamps keep their resolution: microseconds, or nanoseconds when the file has them.
        let first = sampleConversation.segments[0].time
        #expect(abs(dialogue.startTime - first) < 2e-6)
        let ehlo = sampleConversation.segments.first { $0.payload.starts(with: "EHLO".bytes) }!
        #expect(abs(dialogue.steps[0].time - ehlo.time) < 2e-6)
    }

    @Test func nanosecondTimestamps() throws {
        var conversation = Conversation(time: 1_795_563_513.000_000_123)
        conversation.open()
        conversation.server("220 x\r\n")
        conversation.close()
        let result = try readCapture(conversation.records(), format: .pcap(nanoseconds: true, bigEndian: true))
        let start = try #require(result.dialogues.first?.startTime)
        #expect(abs(start - 1_795_563_513.001_000_123) < 1e-6)
        #expect(abs((start - 1_795_563_513) - 0.001_000_123) < 1e-7)
    }

    static let links: [Frames.Link] = [
        .ethernet(tags: []), .ethernet(tags: [0x8100]), .ethernet(tags: [0x88A8, 0x8100]),
        .ethernet(tags: [0x9100, 0x8100]), .linuxSLL, .linuxSLL2, .raw(linkType: 101), .raw(linkType: 12),
        .raw(linkType: 228), .null(bigEndianHost: false), .null(bigEndianHost: true), .loop,
    ]

    @Test(arguments: links)
    func everyLinkTypeIPv4(link: Frames.Link) throws {
        let dialogue = try #require(try readOne(sampleConversation, link: link))
        #expect(dialogue.transcript == sampleTranscript)
        #expect(dialogue.client == Endpoint(ip: "198.19.1.10", port: 40001))
        #expect(dialogue.server == Endpoint(ip: "192.0.2.25", port: 25))
    }

    @Test(arguments: [Frames.Link.ethernet(tags: [0x8100]), .linuxSLL, .linuxSLL2, .raw(linkType: 229), .raw(linkType: 101), .null(bigEndianHost: false), .loop])
    func everyLinkTypeIPv6(link: Frames.Link) throws {
        let conversation = Conversation.smtp(
            [("EHLO v6.example\r\n", "250 mx.example.net\r\n")],
            client: .v6("2001:db8::10"), server: .v6("2001:db8:0:0:1::25"))
        let dialogue = try #require(try readOne(conversation, link: link))
        #expect(dialogue.client.ip == "2001:db8::10")
        #expect(dialogue.server.ip == "2001:db8::1:0:0:25")
        #expect(dialogue.server.description == "[2001:db8::1:0:0:25]:25")
        #expect(dialogue.transcript == ["EHLO v6.example -> 250 mx.example.net", "QUIT -> 221 mx.example.net"])
    }

    @Test func unsupportedLinkTypeIsOneClearError() throws {
        let bytes = PcapWriter.file(sampleConversation.records(link: .raw(linkType: 0)), linkType: 9)
        let path = try TestSupport.temporaryDirectory("link") + "/ppp.pcap"
        try TestSupport.write(bytes, to: path)
        var delivered = 0
        #expect {
            _ = try CaptureReader().read(files: [path]) { _ in delivered += 1 }
        } throws: { error in
            guard let error = error as? CaptureError else { return false }
            return error.code == .unsupportedLinkType && error.file == path
                && error.description.contains("unsupported link type 9 (PPP")
                && error.description.hasPrefix(path + ": ")
        }
        #expect(delivered == 0)
    }

    @Test func unsupportedLinkTypeInALaterFileFailsBeforeAnyOutput() throws {
        let folder = try TestSupport.temporaryDirectory("link2")
        try TestSupport.write(PcapWriter.file(sampleConversation.records(), linkType: 1), to: folder + "/good.pcap")
        try TestSupport.write(PcapWriter.file([], linkType: 105), to: folder + "/wifi.pcap")
        var delivered = 0
        #expect(throws: CaptureError.self) {
            _ = try CaptureReader().read(files: [folder + "/good.pcap", folder + "/wifi.pcap"]) { _ in delivered += 1 }
        }
        #expect(delivered == 0)
    }

    @Test func notACaptureIsAnError() throws {
        let folder = try TestSupport.temporaryDirectory("bad")
        try TestSupport.write("hello, this is not a capture\n", to: folder + "/x.pcap")
        #expect {
            _ = try CaptureReader().readAll(files: [folder + "/x.pcap"])
        } throws: { error in
            (error as? CaptureError)?.code == .cannotOpen && (error as? CaptureError)?.file == folder + "/x.pcap"
        }
        #expect(throws: CaptureError.self) { _ = try CaptureReader().readAll(files: [folder + "/missing.pcap"]) }
    }

    @Test(arguments: [CaptureFormat.pcap(nanoseconds: false, bigEndian: false), .pcapng(bigEndian: false)])
    func truncatedFileIsReadUpToTheDamage(format: CaptureFormat) throws {
        // Two connections; the file is cut in the middle of the second one's last record.
        let second = Conversation.smtp([("HELO b\r\n", "250 mx\r\n")], clientPort: 40002)
        let records = sampleConversation.records() + second.records()
        var bytes = PcapWriter.file(records, linkType: 1, format: format)
        bytes.removeLast(7)
        let result = try CaptureReader().readAll(capture: bytes, name: "cut.pcap")
        let damage = try #require(result.summary.damage.first)
        #expect(damage.file == "cut.pcap")
        #expect(damage.packet == records.count)
        #expect(result.summary.packets == records.count - 1)
        #expect(damage.description.contains("cut.pcap: damaged at packet \(records.count)"))
        #expect(result.summary.files.first?.damage == damage)
        // The first connection is complete; the second lost only its last ACK.
        #expect(result.dialogues.count == 2)
        #expect(result.dialogues[0].transcript == sampleTranscript)
        #expect(result.dialogues[1].transcript == ["HELO b -> 250 mx", "QUIT -> 221 mx.example.net"])
    }

    @Test func truncatedFileOnDiskReportsItsOffsetAndTheNextFileIsRead() throws {
        let folder = try TestSupport.temporaryDirectory("trunc")
        let records = sampleConversation.records()
        var bytes = PcapWriter.file(records, linkType: 1, format: .pcap(nanoseconds: false, bigEndian: false))
        let fullLength = bytes.count
        bytes.removeLast(5)
        try TestSupport.write(bytes, to: folder + "/a.pcap")
        let other = Conversation.smtp([("HELO c\r\n", "250 mx\r\n")], clientPort: 40003)
        try TestSupport.write(PcapWriter.file(other.records(), linkType: 1), to: folder + "/b.pcap")
        let result = try CaptureReader().readAll(files: [folder + "/a.pcap", folder + "/b.pcap"])
        let damage = try #require(result.summary.damage.first)
        #expect(damage.file == folder + "/a.pcap")
        #expect(damage.packet == records.count)
        let offset = try #require(damage.offset)
        #expect(offset <= fullLength - 5 && offset > fullLength - records.last!.data.count - 40)
        #expect(result.dialogues.count == 2)
        #expect(result.summary.files.count == 2)
        #expect(result.summary.files[1].damage == nil)
    }

    @Test func severalFilesAreOneStream() throws {
        // One connection split across two files (as tcpdump -C/-G rotation does).
        let records = sampleConversation.records()
        let folder = try TestSupport.temporaryDirectory("split")
        try TestSupport.write(PcapWriter.file(Array(records.prefix(9)), linkType: 1), to: folder + "/1.pcap")
        try TestSupport.write(
            PcapWriter.file(Array(records.dropFirst(9)), linkType: 1, format: .pcapng(bigEndian: false)), to: folder + "/2.pcapng")
        let result = try CaptureReader().readAll(files: [folder + "/1.pcap", folder + "/2.pcapng"])
        #expect(result.dialogues.count == 1)
        #expect(result.dialogues.first?.transcript == sampleTranscript)
        #expect(result.dialogues.first?.source == folder + "/1.pcap#1")
        #expect(result.summary.files.map(\.packets) == [9, records.count - 9])
    }

    @Test func filterIsCompiledByLibpcap() throws {
        let submission = Conversation.smtp([("EHLO s\r\n", "250 mx\r\n")], clientPort: 40010, serverPort: 587)
        let records = sampleConversation.records() + submission.records()
        let all = try readCapture(records)
        #expect(all.dialogues.map(\.server.port) == [25, 587])
        let only587 = try readCapture(records, options: CaptureOptions(filter: "tcp port 587"))
        #expect(only587.dialogues.map(\.server.port) == [587])
        #expect(only587.summary.packets == submission.segments.count)
        #expect {
            _ = try readCapture(records, options: CaptureOptions(filter: "port twenty-five"))
        } throws: { error in
            (error as? CaptureError)?.code == .badFilter && "\(error)".contains("port twenty-five")
        }
    }

    @Test func smtpPortsAreConfigurable() throws {
        let odd = Conversation.smtp([("EHLO s\r\n", "250 mx\r\n")], clientPort: 40010, serverPort: 10025)
        let records = sampleConversation.records() + odd.records()
        #expect(try readCapture(records).dialogues.map(\.server.port) == [25])
        let custom = try readCapture(records, options: CaptureOptions(smtpPorts: [10025]))
        #expect(custom.dialogues.map(\.server.port) == [10025])
        #expect(custom.summary.otherPortPackets == sampleConversation.segments.count)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: TestSupport.packageRoot + "/.build/debug/CaptureBench"), "CaptureBench is not built (swift build)"))
    func stdinIsDash() throws {
        let bytes = PcapWriter.file(sampleConversation.records(), linkType: 1, format: .pcapng(bigEndian: true))
        let result = try TestSupport.run(TestSupport.packageRoot + "/.build/debug/CaptureBench", ["--dump", "-"], input: bytes)
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.contains("198.19.1.10:40001 -> 192.0.2.25:25 end=quit source=-#1"))
        #expect(result.stdoutText.contains("command: RCPT TO:<b@example.net> -> [\"250 ok\"]"))
    }
}

// The IP layer: IPv4 options and fragments, IPv6 extension headers and fragments, snaplen
// truncation, Ethernet padding, unverified checksums.

import Capture
import Testing

@Suite struct IPLayerTests {
    /// The conversation's records with the segment at `index` replaced by `replacement` frames.
    static func replacing(_ conversation: Conversation, at index: Int, with frames: [[UInt8]]) -> [Record] {
        var records = conversation.records()
        let time = records[index].time
        records.replaceSubrange(index...index, with: frames.map { Record(time: time, data: $0) })
        return records
    }

    @Test func ipv4Options() throws {
        var records: [Record] = []
        for segment in sampleConversation.segments {
            let tcp = Frames.tcp(
                sourcePort: segment.fromClient ? 40001 : 25, destinationPort: segment.fromClient ? 25 : 40001,
                seq: segment.seq, ack: segment.ack, flags: segment.flags, payload: segment.payload)
            // Record-route style options (12 bytes) on every packet.
            let ip = Frames.ipv4(
                source: segment.fromClient ? sampleConversation.client : sampleConversation.server,
                destination: segment.fromClient ? sampleConversation.server : sampleConversation.client,
                proto: 6, payload: tcp, options: [0x07, 11, 4] + [UInt8](repeating: 0, count: 8) + [0x01])
            records.append(Record(time: segment.time, data: Frames.frame(ip, link: .ethernet(tags: []))))
        }
        let result = try readCapture(records)
        #expect(result.dialogues.first?.transcript == sampleTranscript)
    }

    /// The IPv4 fragments of a TCP segment, each carrying `size` bytes (a multiple of 8).
    static func ipv4Fragments(_ conversation: Conversation, _ segment: Segment, size: Int, identification: Int) -> [[UInt8]] {
        let tcp = Frames.tcp(
            sourcePort: segment.fromClient ? conversation.clientPort : conversation.serverPort,
            destinationPort: segment.fromClient ? conversation.serverPort : conversation.clientPort,
            seq: segment.seq, ack: segment.ack, flags: segment.flags, payload: segment.payload)
        var frames: [[UInt8]] = []
        var offset = 0
        while offset < tcp.count {
            let piece = Array(tcp[offset..<min(tcp.count, offset + size)])
            let ip = Frames.ipv4(
                source: segment.fromClient ? conversation.client : conversation.server,
                destination: segment.fromClient ? conversation.server : conversation.client, proto: 6, payload: piece,
                identification: identification, fragmentOffset: offset, moreFragments: offset + size < tcp.count)
            frames.append(Frames.frame(ip, link: .ethernet(tags: [])))
            offset += size
        }
        return frames
    }

    @Test func ipv4FragmentsAreReassembledInAnyOrder() throws {
        let conversation = Conversation.smtp([
            ("EHLO client.example\r\n", "250 mx.example.net\r\n"),
            ("MAIL FROM:<a-rather-long-sender-address-to-fragment@client.example>\r\n", "250 ok\r\n"),
        ])
        let index = 6 + 2  // the MAIL segment
        #expect(String(decoding: conversation.segments[index].payload, as: UTF8.self).hasPrefix("MAIL"))
        var fragments = Self.ipv4Fragments(conversation, conversation.segments[index], size: 24, identification: 77)
        #expect(fragments.count == 4)
        fragments.swapAt(0, 3)
        fragments.swapAt(1, 2)
        let result = try readCapture(Self.replacing(conversation, at: index, with: fragments))
        #expect(result.summary.reassembledDatagrams == 1)
        #expect(result.dialogues.first?.transcript == [
            "EHLO client.example -> 250 mx.example.net",
            "MAIL FROM:<a-rather-long-sender-address-to-fragment@client.example> -> 250 ok",
            "QUIT -> 221 mx.example.net",
        ])
        #expect(result.dialogues.first?.isComplete == true)
    }

    @Test func missingFragmentLeavesAGap() throws {
        let conversation = Conversation.smtp([
            ("EHLO client.example\r\n", "250 mx.example.net\r\n"),
            ("MAIL FROM:<a-rather-long-sender-address-to-fragment@client.example>\r\n", "250 ok\r\n"),
        ])
        var fragments = Self.ipv4Fragments(conversation, conversation.segments[8], size: 24, identification: 78)
        fragments.remove(at: 2)
        let result = try readCapture(Self.replacing(conversation, at: 8, with: fragments))
        #expect(result.summary.droppedFragments == 3)
        let dialogue = try #require(result.dialogues.first)
        #expect(!dialogue.isComplete)
        #expect(dialogue.steps[1].unobservableReason != nil)
        #expect(dialogue.problems.contains { $0.kind == .lostSegment })
    }

    @Test func ipv6ExtensionHeadersAndFragments() throws {
        let conversation = Conversation.smtp(
            [("EHLO v6.example\r\n", "250-mx.example.net\r\n250 PIPELINING\r\n"), ("MAIL FROM:<someone-with-a-long-address@v6.example>\r\n", "250 ok\r\n")],
            client: .v6("2001:db8:1::10"), server: .v6("2001:db8::25"))
        var records: [Record] = []
        for (index, segment) in conversation.segments.enumerated() {
            let tcp = Frames.tcp(
                sourcePort: segment.fromClient ? 40001 : 25, destinationPort: segment.fromClient ? 25 : 40001,
                seq: segment.seq, ack: segment.ack, flags: segment.flags, payload: segment.payload)
            let source = segment.fromClient ? conversation.client : conversation.server
            let destination = segment.fromClient ? conversation.server : conversation.client
            // Hop-by-hop options, a routing header and destination options on every packet.
            let extensions: [(type: UInt8, body: [UInt8])] = [
                (0, [1, 4, 0, 0, 0, 0]), (43, [0, 0, 0, 0, 0, 0]), (60, [1, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ]
            if index == 8 {
                // The MAIL segment as two IPv6 fragments (fragment header after the others).
                let split = 32
                for (offset, piece) in [(0, Array(tcp[..<split])), (split, Array(tcp[split...]))] {
                    var fragmentField: [UInt8] = []
                    fragmentField.be16(offset | (offset == 0 ? 1 : 0))
                    fragmentField.be32(0xCAFE)
                    let ip = Frames.ipv6(
                        source: source, destination: destination, proto: 6, payload: piece,
                        extensions: extensions + [(44, fragmentField)])
                    records.append(Record(time: segment.time, data: Frames.frame(ip, link: .ethernet(tags: [0x8100]))))
                }
                continue
            }
            let ip = Frames.ipv6(source: source, destination: destination, proto: 6, payload: tcp, extensions: extensions)
            records.append(Record(time: segment.time, data: Frames.frame(ip, link: .ethernet(tags: [0x8100]))))
        }
        records.swapAt(8, 9)  // the fragments out of order
        let result = try readCapture(records)
        #expect(result.summary.reassembledDatagrams == 1)
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.client.ip == "2001:db8:1::10")
        #expect(dialogue.transcript == [
            "EHLO v6.example -> 250-mx.example.net / 250 PIPELINING",
            "MAIL FROM:<someone-with-a-long-address@v6.example> -> 250 ok",
            "QUIT -> 221 mx.example.net",
        ])
    }

    @Test func snaplenTruncationLeavesAGap() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx.example.net ESMTP\r\n")
        conversation.client("EHLO client.example\r\n")
        conversation.server("250 mx.example.net\r\n")
        conversation.client("MAIL FROM:<a@client.example>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("RCPT TO:<b@example.net>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx.example.net\r\n")
        conversation.close()
        // The capture cut the MAIL packet after 10 bytes of payload.
        let index = conversation.segments.firstIndex { $0.payload.starts(with: "MAIL".bytes) }!
        let full = conversation.segments[index].payload
        conversation.segments[index].payload = Array(full.prefix(10))
        conversation.segments[index].cutBytes = full.count - 10
        let result = try readCapture(conversation.records())
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.problems.contains { $0.kind == .snaplen })
        let mail = dialogue.steps[1]
        #expect(Array(mail.clientBytes) == Array(full.prefix(10)))
        #expect(mail.lostBytes == full.count - 10)
        #expect(mail.unobservableReason == .clientDataLost(bytes: full.count - 10))
        // The text after the gap starts with a verb: a new command starts there. The next
        // lock-step exchange re-anchors the pairing, and since the server sent as many replies as
        // the capture shows commands in between, the cut command keeps its reply.
        #expect(mail.reply?.lines == ["250 ok"])
        #expect(dialogue.unpairedReplies.isEmpty)
        #expect(dialogue.steps[2].line == "RCPT TO:<b@example.net>")
        #expect(dialogue.steps[2].reply?.lines == ["250 ok"])
        #expect(dialogue.steps[2].unobservable == nil)
        #expect(dialogue.steps[3].reply?.lines == ["221 mx.example.net"])
    }

    @Test func checksumsAreNotVerifiedAndPaddingIsIgnored() throws {
        // Every frame the builders make has zero checksums; small frames are padded to 60
        // bytes, and the IP length (not the frame length) says where the payload ends.
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 x\r\n")
        conversation.client("NOOP\r\n")
        conversation.server("250 ok\r\n")
        conversation.close()
        let records = conversation.records()
        #expect(records.allSatisfy { $0.data.count >= 60 })
        let dialogue = try #require(try readCapture(records).dialogues.first)
        #expect(dialogue.greeting.map { Array($0.bytes) } == "220 x\r\n".bytes)
        #expect(Array(dialogue.steps[0].clientBytes) == "NOOP\r\n".bytes)
        #expect(dialogue.clientStream == "NOOP\r\n".bytes)
    }
}

// TCP: retransmissions, duplicates, out-of-order and overlapping segments, sequence
// wrap-around, zero-window probes, keep-alives, mid-stream captures, port reuse, lost
// segments, one direction only, packets out of time order, connections never closed.

import Capture
import Testing
import TestSupport

/// A longer dialogue with several client segments, used to damage in many ways.
func richConversation(clientISN: UInt32 = 1000, serverISN: UInt32 = 500_000, clientPort: Int = 40001) -> Conversation {
    var conversation = Conversation(clientPort: clientPort, clientISN: clientISN, serverISN: serverISN)
    conversation.open()
    conversation.server("220 mx.example.net ESMTP\r\n")
    conversation.client("EHLO client.example\r\n")
    conversation.server("250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    conversation.client("MAIL FROM:<a@client.example>\r\n")
    conversation.server("250 ok\r\n")
    conversation.client("RCPT TO:<b@example.net>\r\n")
    conversation.server("250 ok\r\n")
    conversation.client("DATA\r\n")
    conversation.server("354 go ahead\r\n")
    conversation.client("Subject: test\r\n\r\nline one\r\n")
    conversation.client("line two\r\n.\r\n")
    conversation.server("250 ok 1795563513 qp 1\r\n")
    conversation.client("QUIT\r\n")
    conversation.server("221 mx.example.net\r\n")
    conversation.close()
    return conversation
}

let richTranscript = [
    "EHLO client.example -> 250-mx.example.net / 250-PIPELINING / 250 8BITMIME",
    "MAIL FROM:<a@client.example> -> 250 ok",
    "RCPT TO:<b@example.net> -> 250 ok",
    "DATA -> 354 go ahead",
    "<message: 4 lines, 37 bytes on the wire> -> 250 ok 1795563513 qp 1",
    "QUIT -> 221 mx.example.net",
]

extension Conversation {
    /// The index of the segment whose payload starts with `prefix`.
    func index(of prefix: String) -> Int {
        segments.firstIndex { $0.payload.starts(with: prefix.bytes) }!
    }
}

@Suite struct TCPReassemblyTests {
    @Test func baseline() throws {
        let dialogue = try #require(try readOne(richConversation()))
        #expect(dialogue.transcript == richTranscript)
        #expect(dialogue.isComplete && dialogue.end == .quit && !dialogue.midstream)
    }

    @Test func retransmissionsAndDuplicates() throws {
        var conversation = richConversation()
        // Every data segment twice, some three times, the SYN and the FINs too.
        var segments: [Segment] = []
        for (index, segment) in conversation.segments.enumerated() {
            segments.append(segment)
            if !segment.payload.isEmpty || segment.flags & (Flag.syn | Flag.fin) != 0 { segments.append(segment) }
            if index % 3 == 0 { segments.append(segment) }
        }
        conversation.segments = segments
        let result = try readCapture(conversation.records())
        #expect(result.dialogues.count == 1)
        #expect(result.dialogues.first?.transcript == richTranscript)
        #expect(result.dialogues.first?.isComplete == true)
        #expect(result.summary.retransmittedSegments > 10)
    }

    @Test func outOfOrderSegments() throws {
        var conversation = richConversation()
        let body1 = conversation.index(of: "Subject")
        let body2 = conversation.index(of: "line two")
        conversation.segments.swapAt(body1, body2)
        let mail = conversation.index(of: "MAIL")
        let rcpt = conversation.index(of: "RCPT")
        // The RCPT before the MAIL (its reply comes later anyway).
        conversation.segments.insert(conversation.segments.remove(at: rcpt), at: mail)
        let result = try readCapture(conversation.records())
        #expect(result.dialogues.first?.transcript == richTranscript)
        #expect(result.summary.outOfOrderSegments == 2)
    }

    @Test func overlappingSegmentsFirstCopyWins() throws {
        var conversation = richConversation()
        let index = conversation.index(of: "MAIL")
        let segment = conversation.segments[index]
        // A retransmission that overlaps the MAIL segment and carries the start of RCPT, and a
        // later copy of the MAIL bytes with different content (the first copy wins).
        let rcpt = conversation.segments[conversation.index(of: "RCPT")]
        var overlap = segment
        overlap.seq = segment.seq &+ 10
        overlap.payload = Array(segment.payload.dropFirst(10)) + Array(rcpt.payload.prefix(5))
        var forged = segment
        forged.payload = Array("MAIL FROM:<evil@forged.example>\r\n".utf8.prefix(segment.payload.count))
        conversation.segments.insert(contentsOf: [overlap, forged], at: index + 1)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == richTranscript)
    }

    @Test(arguments: [UInt32.max - 30, UInt32.max, UInt32.max - 3])
    func sequenceWrapAround(isn: UInt32) throws {
        let conversation = richConversation(clientISN: isn, serverISN: isn &- 7)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == richTranscript)
        #expect(dialogue.isComplete)
    }

    @Test func zeroWindowProbeAndKeepAlives() throws {
        var conversation = richConversation()
        let index = conversation.index(of: "RCPT")
        let rcpt = conversation.segments[index]
        // A zero-window probe: the first byte alone, then the whole segment again.
        var probe = rcpt
        probe.payload = [rcpt.payload[0]]
        // Keep-alives: sequence number one below the next byte, with one garbage byte or none.
        var keepAlive = rcpt
        keepAlive.seq = rcpt.seq &- 1
        keepAlive.payload = [0x00]
        var emptyKeepAlive = keepAlive
        emptyKeepAlive.payload = []
        emptyKeepAlive.flags = Flag.ack
        conversation.segments.replaceSubrange(index...index, with: [keepAlive, emptyKeepAlive, probe, keepAlive, rcpt])
        // A server keep-alive too, before its reply to RCPT.
        let reply = index + 5
        #expect(conversation.segments[reply].payload == "250 ok\r\n".bytes)
        var serverKeepAlive = conversation.segments[reply]
        serverKeepAlive.seq = serverKeepAlive.seq &- 1
        serverKeepAlive.payload = [0x41]
        conversation.segments.insert(serverKeepAlive, at: reply)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == richTranscript)
        #expect(dialogue.isComplete)
    }

    @Test func midstreamRolesFromWellKnownPort() throws {
        let conversation = richConversation()
        // The capture starts at the MAIL command.
        var late = conversation
        late.segments = Array(conversation.segments[conversation.index(of: "MAIL")...])
        let dialogue = try #require(try readOne(late))
        #expect(dialogue.midstream)
        #expect(dialogue.client == Endpoint(ip: "198.19.1.10", port: 40001))
        #expect(dialogue.greeting == nil)
        #expect(dialogue.problems.contains { $0.kind == .midstream })
        // The first reply seen might answer a command sent before the capture started: MAIL
        // stays unobservable; RCPT is the first provable lock-step exchange, pairing starts there.
        #expect(dialogue.steps[0].line == "MAIL FROM:<a@client.example>")
        #expect(dialogue.steps[0].reply == nil && dialogue.steps[0].unobservableReason == .unaligned)
        #expect(dialogue.unpairedReplies.map(\.lines) == [["250 ok"]])
        #expect(Array(dialogue.transcript.dropFirst()) == Array(richTranscript.dropFirst(2)))
        #expect(dialogue.steps.dropFirst().allSatisfy { $0.unobservable == nil })
    }

    @Test func midstreamStartingInsideABodySkipsToTheNextCommand() throws {
        var late = richConversation()
        late.segments = Array(late.segments[late.index(of: "line two")...])
        let dialogue = try #require(try readOne(late))
        #expect(dialogue.midstream)
        #expect(dialogue.transcript == ["QUIT -> 221 mx.example.net"])
        #expect(dialogue.unpairedReplies.map(\.lines) == [["250 ok 1795563513 qp 1"]])
        #expect(dialogue.problems.contains { $0.kind == .midstream && $0.message.contains("skipped") })
    }

    @Test func midstreamWithBothPortsSMTPUsesTheReplyShape() throws {
        // Both ports are SMTP ports; no SYN: the side sending "220 " is the server.
        var conversation = Conversation(clientPort: 2525, serverPort: 25)
        conversation.open()
        conversation.server("220 mx.example.net ESMTP\r\n")
        conversation.client("HELO relay.example\r\n")
        conversation.server("250 mx.example.net\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx.example.net\r\n")
        conversation.close()
        var late = conversation
        late.segments = Array(conversation.segments.dropFirst(3))
        let dialogue = try #require(try readOne(late))
        #expect(dialogue.server.port == 25 && dialogue.client.port == 2525)
        #expect(dialogue.midstream)
        // The capture saw the greeting (acknowledging no client byte): a full dialogue.
        #expect(dialogue.greeting?.lines == ["220 mx.example.net ESMTP"])
        #expect(dialogue.transcript == ["HELO relay.example -> 250 mx.example.net", "QUIT -> 221 mx.example.net"])
        // Swapped port numbers: the server has the higher port this time.
        var swapped = Conversation(clientPort: 25, serverPort: 2525)
        swapped.open()
        swapped.server("220 mx ESMTP\r\n")
        swapped.client("NOOP\r\n")
        swapped.server("250 ok\r\n")
        swapped.close()
        swapped.segments.removeFirst(2)
        let other = try #require(try readOne(swapped))
        #expect(other.server.port == 2525)
        #expect(other.transcript == ["NOOP -> 250 ok"])
    }

    @Test func portReuseStartsNewConnections() throws {
        // The same addresses and ports, five times: after FIN, after RST, and a new SYN while
        // the old connection never closed.
        var records: [Record] = []
        var time = 1_795_563_513.0
        for round in 0..<5 {
            var conversation = Conversation(clientISN: 1000 + UInt32(round) * 77_777, serverISN: 9000 + UInt32(round) * 1234, time: time)
            conversation.open()
            conversation.server("220 mx.example.net ESMTP\r\n")
            conversation.client("HELO round\(round)\r\n")
            conversation.server("250 mx.example.net\r\n")
            switch round {
            case 1: conversation.reset(fromClient: true)
            case 3: break  // never closed: the next SYN supersedes it
            default:
                conversation.client("QUIT\r\n")
                conversation.server("221 mx.example.net\r\n")
                conversation.close()
            }
            time = conversation.time + 1
            records += conversation.records()
            // A late retransmission of the final ACK and of the greeting after the close.
            if round == 0 {
                records.append(conversation.record(conversation.segments.last!))
                records.append(conversation.record(conversation.segments[3]))
            }
        }
        let result = try readCapture(records)
        #expect(result.dialogues.count == 5)
        #expect(result.dialogues.map { $0.steps.first?.line } == (0..<5).map { "HELO round\($0)" })
        #expect(result.dialogues.map(\.end) == [.quit, .clientReset, .quit, .superseded, .quit])
        #expect(result.dialogues.allSatisfy { !$0.midstream })
    }

    @Test func lostClientSegmentGapAndResync() throws {
        var conversation = richConversation()
        conversation.segments.remove(at: conversation.index(of: "RCPT"))
        let result = try readCapture(conversation.records())
        let dialogue = try #require(result.dialogues.first)
        #expect(!dialogue.isComplete)
        #expect(dialogue.problems.contains { $0.kind == .lostSegment })
        // A placeholder step for the lost bytes, then the text after the gap resynchronises; the
        // replies pair again (as many replies as steps between two sure points).
        #expect(dialogue.steps.count == 6)
        let lost = dialogue.steps[2]
        #expect(lost.clientBytes.isEmpty && lost.lostBytes == "RCPT TO:<b@example.net>\r\n".utf8.count)
        #expect(lost.unobservableReason == .clientDataLost(bytes: lost.lostBytes))
        #expect(lost.reply?.lines == ["250 ok"])
        #expect(Array(dialogue.transcript.dropFirst(3)) == Array(richTranscript.dropFirst(3)))
        #expect(dialogue.steps.filter { $0.unobservable != nil }.count == 1)
        #expect(result.summary.gaps == 1 && result.summary.lostBytes == lost.lostBytes)
    }

    @Test func lostPipelinedCommandsStayUnobservable() throws {
        // Two pipelined commands in a lost segment: the capture shows one gap, the server sent
        // two replies, so the count differs and nothing in the gap is paired.
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("EHLO c\r\n")
        conversation.server("250-mx\r\n250 PIPELINING\r\n")
        conversation.client("MAIL FROM:<a@c>\r\nRCPT TO:<b@d>\r\n")
        conversation.server("250 ok\r\n250 ok\r\n")
        conversation.client("DATA\r\n")
        conversation.server("354 go ahead\r\n")
        conversation.client("hello\r\n.\r\n")
        conversation.server("250 ok 1 qp 2\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx\r\n")
        conversation.close()
        conversation.segments.remove(at: conversation.index(of: "MAIL"))
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == [
            "EHLO c -> 250-mx / 250 PIPELINING", " -> -", "DATA -> 354 go ahead",
            "<message: 1 lines, 7 bytes on the wire> -> 250 ok 1 qp 2", "QUIT -> 221 mx",
        ])
        #expect(dialogue.steps[1].unobservableReason == .clientDataLost(bytes: 32))
        #expect(dialogue.unpairedReplies.map(\.lines) == [["250 ok"], ["250 ok"]])
    }

    @Test func lostServerSegment() throws {
        var conversation = richConversation()
        conversation.segments.remove(at: conversation.segments.firstIndex { $0.payload == "250 ok\r\n".bytes }!)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.problems.contains { $0.kind == .lostSegment && $0.message.contains("server 8 bytes") })
        // The reply to MAIL was lost. Which of the replies after the gap answers RCPT cannot be
        // proven (the lost bytes might have held any number of replies), so both are
        // unobservable; pairing comes back at the next lock-step exchange (DATA).
        for index in [1, 2] {
            #expect(dialogue.steps[index].reply == nil)
            #expect(dialogue.steps[index].unobservableReason == .unaligned)
        }
        #expect(dialogue.unpairedReplies.map(\.lines) == [["250 ok"]])
        #expect(Array(dialogue.transcript.dropFirst(3)) == Array(richTranscript.dropFirst(3)))
    }

    @Test func lostTailDetectedFromAcknowledgements() throws {
        // The server's last reply was never captured, but the client acknowledged it.
        var conversation = richConversation()
        conversation.segments.remove(at: conversation.segments.firstIndex { $0.payload == "221 mx.example.net\r\n".bytes }!)
        let dialogue = try #require(try readOne(conversation))
        let quit = try #require(dialogue.steps.last)
        #expect(quit.reply == nil)
        #expect(quit.unobservableReason == .replyLost(bytes: 20))
    }

    @Test func clientOnlyCapture() throws {
        var conversation = richConversation()
        conversation.segments.removeAll { !$0.fromClient }
        let result = try readCapture(conversation.records())
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.problems.contains { $0.kind == .oneDirection })
        #expect(dialogue.greeting == nil)
        // The structure is still read from the client's bytes (DATA is followed by a body).
        #expect(dialogue.steps.map(\.line) == richTranscript.map { String($0.prefix { $0 != "-" }.dropLast()) })
        #expect(dialogue.steps.allSatisfy { $0.reply == nil && $0.unobservableReason == .oneDirection })
        #expect(result.summary.unobservableSteps == 6)
    }

    @Test func serverOnlyCapture() throws {
        var conversation = richConversation()
        conversation.segments.removeAll { $0.fromClient }
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.problems.contains { $0.kind == .oneDirection })
        #expect(dialogue.steps.isEmpty)
        #expect(dialogue.greeting?.lines == ["220 mx.example.net ESMTP"])
        #expect(dialogue.unpairedReplies.count == 6)
        #expect(dialogue.client.port == 40001 && dialogue.server.port == 25)
    }

    @Test func packetsOutOfTimeOrder() throws {
        // Data before its SYN, replies before their commands, shuffled in the file.
        var conversation = richConversation()
        var rng = SplitMix64(seed: 7)
        for _ in 0..<12 {
            let a = Int(rng.next() % UInt64(conversation.segments.count))
            let b = min(conversation.segments.count - 1, a + 1 + Int(rng.next() % 2))
            conversation.segments.swapAt(a, b)
        }
        conversation.segments.swapAt(0, 5)  // the SYN after the EHLO
        let result = try readCapture(conversation.records())
        #expect(result.dialogues.count == 1)
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.transcript == richTranscript)
        #expect(dialogue.startTime == conversation.segments.map(\.time).min())
        #expect(dialogue.endTime >= conversation.segments.filter { !$0.payload.isEmpty }.map(\.time).max()!)
    }

    @Test func connectionsNeverClosedAreFlushedAtTheEnd() throws {
        var records: [Record] = []
        for port in 0..<3 {
            var conversation = Conversation(clientPort: 41000 + port)
            conversation.open()
            conversation.server("220 mx ESMTP\r\n")
            conversation.client("HELO x\r\n")
            if port != 1 { conversation.server("250 mx\r\n") }
            records += conversation.records()
        }
        let result = try readCapture(records)
        #expect(result.dialogues.map(\.client.port) == [41000, 41001, 41002])
        #expect(result.dialogues.map(\.end) == [.captureEnded, .captureEnded, .captureEnded])
        #expect(result.dialogues[0].steps[0].reply?.lines == ["250 mx"])
        #expect(result.dialogues[1].steps[0].reply == nil)
        #expect(result.dialogues[1].steps[0].unobservableReason == .captureEnded)
        #expect(result.summary.ends[.captureEnded] == 3)
    }
}


// Every limit, exceeded: the affected connection is marked (problem, unobservable steps),
// the summary counts it, nothing aborts and no connection is lost.

import Capture
import Testing

@Suite struct LimitTests {
    /// Checks the accounting every run must satisfy.
    static func expectAccounting(_ result: CaptureResult) {
        let summary = result.summary
        #expect(summary.connections == result.dialogues.count)
        #expect(summary.connections == summary.completeConnections + summary.incompleteConnections)
        #expect(summary.ends.values.reduce(0, +) == summary.connections)
        #expect(summary.steps == result.dialogues.reduce(0) { $0 + $1.steps.count })
    }

    @Test func liveConnectionsNeverClosed() throws {
        // 3000 connections that never close, at most 100 tracked at once.
        var records: [Record] = []
        for index in 0..<3000 {
            var conversation = Conversation(clientPort: 10000 + index, time: 1_795_563_513 + Double(index) * 0.01)
            conversation.open()
            conversation.server("220 mx ESMTP\r\n")
            conversation.client("HELO c\(index)\r\n")
            conversation.server("250 mx\r\n")
            records += conversation.records()
        }
        let options = CaptureOptions(limits: CaptureLimits(maxLiveConnections: 100))
        let result = try readCapture(records, options: options)
        Self.expectAccounting(result)
        #expect(result.dialogues.count == 3000)
        #expect(result.dialogues.map(\.index) == Array(0..<3000))
        let evicted = result.dialogues.filter { $0.end == .evicted }
        #expect(evicted.count >= 2900)
        #expect(result.summary.limitsHit[.liveConnections] == evicted.count)
        #expect(result.summary.peakLiveConnections == 100)
        #expect(evicted.allSatisfy { $0.problems.contains { $0.limit == .liveConnections } })
        // The flushed dialogues are still whole: the limit only ended tracking early.
        #expect(evicted.allSatisfy { $0.steps.first?.reply?.lines == ["250 mx"] })
    }

    @Test func idleConnectionsAreFlushed() throws {
        var first = Conversation(clientPort: 40001, time: 1_795_563_513)
        first.open()
        first.server("220 mx ESMTP\r\n")
        first.client("HELO idle\r\n")
        var second = Conversation(clientPort: 40002, time: 1_795_563_513 + 100)
        second.open()
        second.server("220 mx ESMTP\r\n")
        second.close()
        let options = CaptureOptions(idleTimeout: 60)
        let result = try readCapture(first.records() + second.records(), options: options)
        Self.expectAccounting(result)
        #expect(result.dialogues.map(\.end) == [.evicted, .clientClosed])
        #expect(result.dialogues[0].steps.first?.unobservableReason == .captureEnded)
    }

    @Test func outOfOrderBytes() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("MAIL FROM:<a@b>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("RCPT TO:<c@d>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("DATA\r\n")
        conversation.server("354 go ahead\r\n")
        for line in 0..<20 { conversation.client("body line \(line) " + String(repeating: "x", count: 80) + "\r\n") }
        conversation.client(".\r\n")
        conversation.server("250 ok 1 qp 2\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx\r\n")
        conversation.close()
        // The first body segment arrives only at the very end: everything after it waits.
        let index = conversation.index(of: "body line 0 ")
        let late = conversation.segments.remove(at: index)
        conversation.segments.append(late)
        let generous = try #require(try readOne(conversation))
        #expect(generous.isComplete)
        #expect(generous.steps[3].kind == .dataBody && generous.steps[3].unobservable == nil)

        let options = CaptureOptions(limits: CaptureLimits(maxOutOfOrderBytes: 500))
        let result = try readCapture(conversation.records(), options: options)
        Self.expectAccounting(result)
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.problems.contains { $0.kind == .limit && $0.limit == .outOfOrderBytes })
        #expect(result.summary.limitsHit[.outOfOrderBytes] == 1)
        let body = dialogue.steps[3]
        #expect(body.kind == .dataBody)
        #expect(body.unobservableReason == .limit(.outOfOrderBytes))
        #expect(body.lostBytes == late.payload.count)
        // The commands after the body are paired again.
        #expect(dialogue.steps.last?.line == "QUIT" && dialogue.steps.last?.reply?.lines == ["221 mx"])
    }

    @Test func bytesPerConnection() throws {
        let conversation = Conversation.smtp([
            ("EHLO c\r\n", "250 mx\r\n"), ("MAIL FROM:<a@b>\r\n", "250 ok\r\n"),
            ("RCPT TO:<" + String(repeating: "r", count: 300) + "@d>\r\n", "250 ok\r\n"), ("NOOP\r\n", "250 ok\r\n"),
        ])
        let options = CaptureOptions(limits: CaptureLimits(maxBytesPerConnection: 120))
        let result = try readCapture(conversation.records(), options: options)
        Self.expectAccounting(result)
        let dialogue = try #require(result.dialogues.first)
        #expect(dialogue.clientStream.count + dialogue.serverStream.count <= 120)
        #expect(dialogue.problems.contains { $0.limit == .connectionBytes })
        #expect(dialogue.steps[0].reply?.lines == ["250 mx"])
        #expect(dialogue.steps[1].reply?.lines == ["250 ok"])
        #expect(dialogue.steps[2].unobservableReason == .limit(.connectionBytes))
        #expect(result.summary.limitsHit[.connectionBytes] == 1)
        #expect(result.summary.unobservableSteps >= 1)
    }

    @Test func lineLength() throws {
        let longRecipient = "RCPT TO:<" + String(repeating: "y", count: 5000) + "@example.net>\r\n"
        let conversation = Conversation.smtp([
            ("MAIL FROM:<a@b>\r\n", "250 ok\r\n"), (longRecipient, "250 ok\r\n"), ("RCPT TO:<z@example.net>\r\n", "553 no\r\n"),
        ])
        let options = CaptureOptions(limits: CaptureLimits(maxLineLength: 100))
        let result = try readCapture(conversation.records(), options: options)
        Self.expectAccounting(result)
        let dialogue = try #require(result.dialogues.first)
        let cut = dialogue.steps[1]
        #expect(cut.clientBytes.count == 101)  // 100 bytes kept, then the line feed
        #expect(cut.clientBytes.last == 0x0A)
        #expect(cut.lostBytes == longRecipient.utf8.count - 101)
        #expect(cut.unobservableReason == .limit(.lineLength))
        #expect(cut.reply?.lines == ["250 ok"])  // the cut drops no line end: pairing goes on
        #expect(dialogue.steps[2].reply?.lines == ["553 no"] && dialogue.steps[2].unobservable == nil)
        #expect(result.summary.limitsHit[.lineLength] == 1)
    }

    @Test func fragmentBytes() throws {
        // Fragments whose datagrams never complete, more than the buffer allows.
        var records: [Record] = []
        for identification in 0..<40 {
            let piece = [UInt8](repeating: 0x41, count: 800)
            let ip = Frames.ipv4(
                source: .v4("198.51.100.7"), destination: .v4("192.0.2.25"), proto: 6, payload: piece,
                identification: identification, fragmentOffset: 0, moreFragments: true)
            records.append(Record(time: 1_795_563_513 + Double(identification) * 0.001, data: Frames.frame(ip, link: .ethernet(tags: []))))
        }
        let options = CaptureOptions(limits: CaptureLimits(maxFragmentBytes: 4000))
        let result = try readCapture(records + sampleConversation.records(), options: options)
        Self.expectAccounting(result)
        #expect(result.summary.limitsHit[.fragmentBytes] ?? 0 >= 35)
        #expect(result.summary.droppedFragments == 40)
        #expect(result.dialogues.first?.transcript == sampleTranscript)
    }
}

@Suite struct ReconstructionThreadTests {
    /// Everything observable about a run, for comparing runs.
    static func fingerprint(_ result: CaptureResult) -> [String] {
        result.dialogues.map { dialogue in
            "\(dialogue.index) \(dialogue.client) \(dialogue.end) \(dialogue.problems.map(\.kind)) "
                + dialogue.transcript.joined(separator: "|")
                + " \(dialogue.steps.map { $0.batch.map(String.init) ?? "-" })"
        }
    }

    @Test(arguments: [1, 2, 3])
    func threadsGiveTheSameDialoguesInTheSameOrder(threads: Int) throws {
        // Many connections (more than a batch), some damaged, interleaved.
        var records: [Record] = []
        for index in 0..<300 {
            var conversation = richConversation(clientPort: 20000 + index)
            if index % 7 == 0 { conversation.segments.remove(at: conversation.index(of: "RCPT")) }
            if index % 11 == 0 { conversation.segments.removeLast(3) }
            records += conversation.records().map { var record = $0; record.time += Double(index) * 0.003; return record }
        }
        records.sort { $0.time < $1.time }
        let bytes = PcapWriter.file(records, linkType: 1)
        let single = try CaptureReader(options: CaptureOptions()).readAll(capture: bytes)
        var streamed: [Int] = []
        let options = CaptureOptions(reconstructionThreads: threads)
        let summary = try CaptureReader(options: options).read(capture: bytes) { streamed.append($0.index) }
        let parallel = try CaptureReader(options: options).readAll(capture: bytes)
        #expect(Self.fingerprint(parallel) == Self.fingerprint(single))
        #expect(summary.connections == 300 && summary.incompleteConnections == single.summary.incompleteConnections)
        #expect(summary.gaps == single.summary.gaps && summary.ends == single.summary.ends)
        // The streaming order is the same as without threads.
        var singleOrder: [Int] = []
        _ = try CaptureReader().read(capture: bytes) { singleOrder.append($0.index) }
        #expect(streamed == singleOrder)
    }
}

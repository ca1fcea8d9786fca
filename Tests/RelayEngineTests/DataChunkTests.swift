import RelayEngine
import TestSupport
import Testing

/// The message reader scans for line ends in whole chunks (memchr) instead of stepping through
/// every byte: these tests hold it to a byte-by-byte model of qmail-smtpd's `blast` (the spec's
/// §11 state machine, with the header checks that count hops) on random messages full of dots,
/// CRs, LFs and hop headers, fed in random chunks.
@Suite struct DataChunkTests {
    /// What `blast` does with a message, one byte at a time, as netqmail-1.06 writes it.
    struct Blast {
        enum End: Equatable {
            /// The final `.` line: consumed bytes, the message as stored, its length, the hops.
            case message(consumed: Int, body: [UInt8], count: Int, hops: Int)
            /// A LF without a CR before it (451, hang-up): consumed bytes.
            case strayNewline(consumed: Int)
            /// The input ran out first.
            case unfinished
        }

        static func run(_ input: [UInt8]) -> End {
            var body: [UInt8] = []
            var state = 1
            var inHeader = true
            var position = 0
            var maybeReceived = true, maybeBlank = true, maybeDelivered = true
            var hops = 0
            let received = Array("received".utf8), receivedUpper = Array("RECEIVED".utf8)
            let delivered = Array("delivered".utf8), deliveredUpper = Array("DELIVERED".utf8)
            let crlf = Array("\r\n".utf8)
            for (offset, ch) in input.enumerated() {
                if inHeader {
                    if position < 9 {
                        if ch != delivered[position], ch != deliveredUpper[position] { maybeDelivered = false }
                        if maybeDelivered, position == 8 { hops += 1 }
                        if position < 8, ch != received[position], ch != receivedUpper[position] { maybeReceived = false }
                        if maybeReceived, position == 7 { hops += 1 }
                        if position < 2, ch != crlf[position] { maybeBlank = false }
                        if maybeBlank, position == 1 { inHeader = false }
                        position += 1
                    }
                    if ch == 10 {
                        position = 0
                        maybeReceived = true
                        maybeBlank = true
                        maybeDelivered = true
                    }
                }
                switch state {
                case 0:
                    if ch == 10 { return .strayNewline(consumed: offset + 1) }
                    if ch == 13 {
                        state = 4
                        continue
                    }
                case 1:
                    if ch == 10 { return .strayNewline(consumed: offset + 1) }
                    if ch == 46 {
                        state = 2
                        continue
                    }
                    if ch == 13 {
                        state = 4
                        continue
                    }
                    state = 0
                case 2:
                    if ch == 10 { return .strayNewline(consumed: offset + 1) }
                    if ch == 13 {
                        state = 3
                        continue
                    }
                    state = 0
                case 3:
                    if ch == 10 { return .message(consumed: offset + 1, body: body, count: body.count, hops: hops) }
                    body += [46, 13]
                    if ch == 13 {
                        state = 4
                        continue
                    }
                    state = 0
                default:
                    if ch == 10 {
                        state = 1
                    } else if ch != 13 {
                        body.append(13)
                        state = 0
                    }
                }
                body.append(ch)
            }
            return .unfinished
        }
    }

    /// A random message: header and body lines built from pieces that exercise every state.
    static func randomMessage(_ random: inout SplitMix64) -> [UInt8] {
        let pieces: [String] = [
            "x", "abc", "Subject: hi", ".", "..", ".x", "\r", "\r\r", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n.", "\r\n..",
            "Received: by", "RECEIVED", "received", "Delivered-To: a", "DELIVERED", "deliver", "Receive", " ", "\u{0}",
            "\r\n\r\n", String(repeating: "y", count: 100),
        ]
        var text = ""
        if random.next() % 3 == 0 {
            // Close to the hop limit.
            let name = random.next() % 2 == 0 ? "Received: x\r\n" : "Delivered-To: y\r\n"
            text += String(repeating: name, count: 95 + Int(random.next() % 10))
        }
        for _ in 0..<Int(random.next() % 300) {
            text += pieces[Int(random.next() % UInt64(pieces.count))]
        }
        if random.next() % 8 == 0 { text += "\n" }  // a bare LF somewhere near the end
        text += "\r\n.\r\n"
        return Array(text.utf8)
    }

    /// Splits `bytes` at random points (sometimes one byte at a time).
    static func randomChunks(_ bytes: [UInt8], _ random: inout SplitMix64) -> [ArraySlice<UInt8>] {
        var chunks: [ArraySlice<UInt8>] = []
        var start = 0
        let small = random.next() % 4 == 0
        while start < bytes.count {
            let length = 1 + Int(random.next() % (small ? 3 : 200))
            let end = min(bytes.count, start + length)
            chunks.append(bytes[start..<end])
            start = end
        }
        return chunks
    }

    @Test func chunkedReadingMatchesTheByteByByteModel() {
        var random = SplitMix64(seed: 0x5eed_da7a)
        let config = Harness.configuration()
        let prefix = Array("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n".utf8)
        let quit = Array("QUIT\r\n".utf8)
        var outcomes: [String: Int] = [:]
        for round in 0..<600 {
            var message = Self.randomMessage(&random)
            let expected = Blast.run(message)
            // The message ends where qmail-smtpd says (a final dot or a bare LF may come early).
            switch expected {
            case .message(let consumed, _, _, _), .strayNewline(let consumed): message.removeSubrange(consumed...)
            case .unfinished: break
            }
            // Sometimes a databytes limit right around the message's length.
            var environment = Harness.environment()
            var limit: Int? = nil
            if case .message(_, _, let count, _) = expected, random.next() % 3 == 0 {
                limit = max(1, count + Int(random.next() % 3) - 1)
                environment["DATABYTES"] = String(limit!)
            }
            var session = RelaySession(configuration: config, childEnvironment: environment)
            var output = session.start()
            let greeting = output.count
            for chunk in Self.randomChunks(prefix + message + quit, &random) { output += session.receive(chunk) }
            let replies = String(decoding: output[greeting...], as: UTF8.self)
            let head = "250 ok\r\n250 ok\r\n354 go ahead\r\n"
            switch expected {
            case .strayNewline:
                outcomes["451", default: 0] += 1
                #expect(replies == head + "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n", "round \(round)")
                #expect(session.exchanges.last?.kind == .messageBody, "round \(round)")
                #expect(session.isClosed)
            case .message(let consumed, let body, let count, let hops):
                let bodyExchange = session.exchanges.first { $0.kind == .messageBody }
                #expect(bodyExchange?.clientBytes == message, "round \(round)")
                #expect(consumed == message.count)
                if hops >= 100 {
                    outcomes["554", default: 0] += 1
                    #expect(replies == head + "554 too many hops, this message is looping (#5.4.6)\r\n221 mx.example.net\r\n", "round \(round)")
                    #expect(bodyExchange?.decision?.reasons.first?.kind == .tooManyHops(count: hops), "round \(round)")
                } else if let limit, count > limit {
                    outcomes["552", default: 0] += 1
                    #expect(replies == head + "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n221 mx.example.net\r\n", "round \(round)")
                    #expect(bodyExchange?.decision?.reasons.first?.kind == .messageTooLarge(bytes: count, limit: UInt32(limit)), "round \(round)")
                } else {
                    outcomes["250", default: 0] += 1
                    #expect(replies == head + "250 ok 1795561493 qp 14399\r\n221 mx.example.net\r\n", "round \(round)")
                    #expect(session.envelopes.first?.body == body, "round \(round)")
                    #expect(session.envelopes.first?.bodyBytes == count, "round \(round)")
                }
            case .unfinished:
                Issue.record("round \(round): every random message ends with a final dot")
            }
        }
        // Every outcome occurs (the generator is not stuck on one case).
        #expect(outcomes.count == 4, "\(outcomes)")
    }

    /// With a small message limit the stored copy is the model's message cut at the limit,
    /// wherever the cut falls (inside a line, right before a LF, in the header or the body), and
    /// the count still sees every byte.
    @Test func chunkedReadingCutsAtAnyLimitLikeTheModel() {
        var random = SplitMix64(seed: 0x11_3175)
        let prefix = Array("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n".utf8)
        var compared = 0
        for round in 0..<300 {
            var message = Array("Subject: s\r\n\r\n".utf8) + Self.randomMessage(&random)
            guard case .message(let consumed, let body, let count, let hops) = Blast.run(message), hops < 100 else { continue }
            message.removeSubrange(consumed...)
            let limit = 1 + Int(random.next() % UInt64(max(1, count + 2)))
            var config = Harness.configuration()
            config.limits = RelayLimits(maxMessageBytes: limit)
            var session = RelaySession(configuration: config, childEnvironment: Harness.environment())
            _ = session.start()
            for chunk in Self.randomChunks(prefix + message, &random) { _ = session.receive(chunk) }
            let queued = session.envelopes.first
            #expect(queued?.body == Array(body.prefix(limit)), "round \(round), limit \(limit)")
            #expect(queued?.bodyBytes == count, "round \(round)")
            compared += 1
        }
        #expect(compared > 100)
    }

    /// The message limit cuts the stored copy in the middle of a chunk; the count still sees
    /// every byte.
    @Test func chunkedReadingKeepsTheMessageLimit() {
        var config = Harness.configuration()
        config.limits = RelayLimits(maxMessageBytes: 10)
        let message = Array("0123456789abcdef\r\n..x\r\n.\r\n".utf8)
        var session = RelaySession(configuration: config, childEnvironment: Harness.environment())
        _ = session.start()
        _ = session.receive(Array("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n".utf8) + message)
        let queued = try! #require(session.envelopes.first)
        #expect(queued.body == Array("0123456789".utf8))
        #expect(queued.bodyBytes == 20)  // "0123456789abcdef\n.x\n"
    }
}

/// The Received line is built when it is read: a queued message that holds its parts equals one
/// that holds the built line.
@Suite struct ReceivedLineTests {
    @Test func builtOnReadingAndEqualToTheBytes() {
        let environment = Harness.environment(["TCPREMOTEHOST": "client.example", "TCPREMOTEINFO": "id ent"])
        let run = Harness.run(
            Harness.configuration(), environment: environment,
            "HELO other.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nx\r\n.\r\n")
        let queued = try! #require(run.session.envelopes.first)
        let line = "Received: from client.example (HELO other.example) (id?ent@192.0.2.9)\n  by mx.example.net with SMTP; 24 Nov 2026 23:04:53 -0000\n"
        #expect(queued.receivedLine == Array(line.utf8))
        var copy = QueuedMessage(
            sender: queued.sender, recipients: queued.recipients, receivedLine: Array(line.utf8), body: queued.body,
            bodyBytes: queued.bodyBytes, qp: queued.qp, acceptedAt: queued.acceptedAt)
        #expect(copy == queued)
        #expect(copy.hashValue == queued.hashValue)
        copy.receivedLine.removeLast()
        #expect(copy != queued)
    }
}

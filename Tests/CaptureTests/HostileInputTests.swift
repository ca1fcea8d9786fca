// Hostile input, seeded: random frames on every link type, mangled real conversations and
// random SMTP-ish byte streams must never crash, hang or lose a connection, and the dialogues
// must stay consistent (steps in stream order, counts adding up).

import Capture
import Testing
import TestSupport

@Suite struct HostileInputTests {
    static func checkConsistency(_ result: CaptureResult) {
        LimitTests.expectAccounting(result)
        for dialogue in result.dialogues {
            checkConsistency(dialogue)
        }
    }

    static func checkConsistency(_ dialogue: Dialogue) {
        var position = 0
        for step in dialogue.steps {
            #expect(step.clientBytes.startIndex >= position)
            #expect(step.clientBytes.endIndex <= dialogue.clientStream.count)
            position = step.clientBytes.endIndex
            if let reply = step.reply {
                #expect(reply.bytes.endIndex <= dialogue.serverStream.count)
            }
            _ = step.line
            _ = step.verb
            _ = step.unobservable
        }
        for reply in dialogue.unpairedReplies + [dialogue.greeting].compactMap({ $0 }) {
            _ = reply.lines
        }
    }

    @Test(arguments: [1, 113, 276, 101, 0, 108, 228, 229])
    func randomFrames(linkType: Int) throws {
        var rng = SplitMix64(seed: UInt64(linkType) &* 7919)
        var records: [Record] = []
        for index in 0..<1500 {
            let length = Int.random(in: 0...120, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Often a plausible IPv4/TCP start, so deeper layers are reached.
            if index % 2 == 0 && length > 40 {
                let ip = Frames.ipv4(
                    source: .v4("10.0.0.\(index % 7)"), destination: .v4("10.0.0.9"), proto: 6,
                    payload: Frames.tcp(
                        sourcePort: 40000 + index % 5, destinationPort: 25, seq: UInt32.random(in: 0...UInt32.max, using: &rng),
                        ack: UInt32.random(in: 0...UInt32.max, using: &rng), flags: UInt8.random(in: 0...63, using: &rng),
                        payload: Array(bytes.prefix(Int.random(in: 0...length, using: &rng)))))
                bytes = Frames.frame(ip, link: linkType == 1 ? .ethernet(tags: []) : linkType == 113 ? .linuxSLL : linkType == 276 ? .linuxSLL2 : .raw(linkType: 101))
                if Bool.random(using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 0xFF }
                if Bool.random(using: &rng) { bytes.removeLast(Int.random(in: 0...min(30, bytes.count), using: &rng)) }
            }
            records.append(Record(time: 1_795_563_513 + Double(index) * 0.01, data: bytes, wireLength: bytes.count + Int.random(in: 0...3, using: &rng)))
        }
        let result = try readCapture(records, linkType: linkType)
        #expect(result.summary.packets == records.count)
        Self.checkConsistency(result)
    }

    @Test(arguments: Array(UInt64(1)...UInt64(16)))
    func mangledConversations(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var records: [Record] = []
        for index in 0..<20 {
            var conversation = richConversation(
                clientISN: UInt32.random(in: 0...UInt32.max, using: &rng), serverISN: UInt32.random(in: 0...UInt32.max, using: &rng),
                clientPort: 30000 + index % 6)
            // Drop, duplicate, reorder and cut segments; flip payload bytes.
            var segments: [Segment] = []
            for var segment in conversation.segments {
                switch Int.random(in: 0..<12, using: &rng) {
                case 0: continue
                case 1: segments.append(segment)
                case 2:
                    if !segment.payload.isEmpty {
                        let keep = Int.random(in: 0..<segment.payload.count, using: &rng)
                        segment.cutBytes = segment.payload.count - keep
                        segment.payload = Array(segment.payload.prefix(keep))
                    }
                case 3:
                    if !segment.payload.isEmpty {
                        segment.payload[Int.random(in: 0..<segment.payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                case 4: segment.seq &+= UInt32.random(in: 0...3000, using: &rng)
                default: break
                }
                segments.append(segment)
            }
            for _ in 0..<3 where segments.count > 2 {
                let a = Int.random(in: 0..<segments.count, using: &rng)
                let b = Int.random(in: 0..<segments.count, using: &rng)
                segments.swapAt(a, b)
            }
            conversation.segments = segments
            records += conversation.records()
        }
        for limits in [CaptureLimits(), CaptureLimits(maxLiveConnections: 3, maxOutOfOrderBytes: 64, maxBytesPerConnection: 300, maxLineLength: 20)] {
            let result = try readCapture(records, options: CaptureOptions(limits: limits))
            Self.checkConsistency(result)
        }
    }

    @Test(arguments: Array(UInt64(1)...UInt64(60)))
    func randomSMTPStreams(seed: UInt64) {
        let clientTokens = [
            "EHLO x\r\n", "HELO y\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n", ".\r\n", "\r\n.\n",
            "AUTH LOGIN\r\n", "AUTH PLAIN abc\r\n", "*\r\n", "STARTTLS\r\n", "BDAT 5\r\n", "BDAT 0 LAST\r\n", "12345",
            "QUIT\r\n", "\u{16}\u{03}\u{01}", "\n", "\r", ".", "x", "\0",
        ]
        let serverTokens = [
            "220 mx\r\n", "250 ok\r\n", "250-a\r\n", "250 b\r\n", "354 go\r\n", "334 \r\n", "235 ok\r\n", "220 tls\r\n",
            "503 no\r\n", "\u{16}\u{03}\u{03}", "5", "\n", "250-CHUNKING\r\n", "garbage\r\n",
        ]
        var rng = SplitMix64(seed: seed)
        var reconstructor = DialogueReconstructor(
            limits: CaptureLimits(maxBytesPerConnection: Int.random(in: 50...5000, using: &rng), maxLineLength: Int.random(in: 3...200, using: &rng)),
            midstream: seed % 5 == 0)
        for _ in 0..<Int.random(in: 0...200, using: &rng) {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: reconstructor.clientLost(Int.random(in: 1...40, using: &rng))
            case 1: reconstructor.serverLost(Int.random(in: 1...40, using: &rng))
            case 2...5: reconstructor.clientSent(Array(clientTokens.randomElement(using: &rng)!.utf8))
            default: reconstructor.serverSent(Array(serverTokens.randomElement(using: &rng)!.utf8))
            }
        }
        let dialogue = reconstructor.finish(end: [.quit, .clientClosed, .captureEnded].randomElement(using: &rng)!)
        Self.checkConsistency(dialogue)
    }
}

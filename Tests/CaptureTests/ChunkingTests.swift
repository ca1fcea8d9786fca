// The line splitter and reply parser give the same dialogue however the bytes are cut:
// every chunk size, one byte at a time, and everything at once (as ByteToMessageDecoderVerifier
// does for NIO decoders); through the reconstructor and through TCP segments.

import Capture
import Testing

/// A dialogue exercising every parser state: multi-line replies, pipelining, a body with a
/// dot-stuffed line and a CRLF split in every way, AUTH, BDAT, bare LF, an unterminated end.
let chunkingScript: [(fromClient: Bool, text: String)] = [
    (false, "220 mx.example.net ESMTP\r\n"),
    (true, "EHLO c.example\r\n"),
    (false, "250-mx.example.net\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH LOGIN PLAIN\r\n"),
    (true, "AUTH LOGIN\r\n"),
    (false, "334 VXNlcm5hbWU6\r\n"),
    (true, "dGVzdHVzZXI=\r\n"),
    (false, "334 UGFzc3dvcmQ6\r\n"),
    (true, "dGVzdHBhc3M=\r\n"),
    (false, "235 ok, go ahead (#2.0.0)\r\n"),
    (true, "MAIL FROM:<a@c.example>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n"),
    (false, "250 ok\r\n250 ok\r\n354 go ahead\r\n"),
    (true, "Subject: chunks\r\n\r\n..dot\r\nnot the end: .\r\n.x\r\n\r\n.\r\n"),
    (false, "250 ok 1795563513 qp 9\r\n"),
    (true, "MAIL FROM:<b@c.example>\nRCPT TO:<y@example.net>\nBDAT 12 LAST\nhello\r\nworld"),
    (false, "250 ok\r\n250 ok\r\n250 ok 1795563514 qp 10\r\n"),
    (true, "NOOP\r\nQUI"),
]

let chunkingTranscript = [
    "EHLO c.example -> 250-mx.example.net / 250-PIPELINING / 250-CHUNKING / 250 AUTH LOGIN PLAIN",
    "AUTH LOGIN -> 334 VXNlcm5hbWU6",
    "<auth response redacted> -> 334 UGFzc3dvcmQ6",
    "<auth response redacted> -> 235 ok, go ahead (#2.0.0)",
    "MAIL FROM:<a@c.example> -> 250 ok",
    "RCPT TO:<x@example.net> -> 250 ok",
    "DATA -> 354 go ahead",
    "<message: 6 lines, 48 bytes on the wire> -> 250 ok 1795563513 qp 9",
    "MAIL FROM:<b@c.example> -> 250 ok",
    "RCPT TO:<y@example.net> -> 250 ok",
    "BDAT 12 LAST <chunk: 12 bytes> -> 250 ok 1795563514 qp 10",
    "NOOP -> -",
    "QUI -> -",
]

@Suite struct ChunkingTests {
    static func reconstruct(chunk size: Int?) -> Dialogue {
        var reconstructor = DialogueReconstructor()
        for (fromClient, text) in chunkingScript {
            let bytes = text.bytes
            let step = size ?? bytes.count
            for start in stride(from: 0, to: bytes.count, by: step) {
                let piece = Array(bytes[start..<min(bytes.count, start + step)])
                if fromClient { reconstructor.clientSent(piece) } else { reconstructor.serverSent(piece) }
            }
        }
        return reconstructor.finish(end: .clientClosed)
    }

    @Test func wholeMessages() {
        let dialogue = Self.reconstruct(chunk: nil)
        #expect(dialogue.transcript == chunkingTranscript)
        #expect(dialogue.steps.map(\.kind) == [
            .command, .command, .authResponse, .authResponse, .command, .command, .command, .dataBody,
            .command, .command, .bdatChunk, .command, .command,
        ])
        #expect(dialogue.steps.last?.unobservableReason == .unterminated)
        #expect(dialogue.steps[11].unobservable == nil)  // NOOP: the server closed without replying
        #expect(dialogue.steps.map(\.batch) == [nil, nil, nil, nil, 1, 1, 1, nil, 2, 2, 2, nil, nil])
    }

    @Test(arguments: Array(1...48))
    func everyChunkSize(size: Int) {
        let whole = Self.reconstruct(chunk: nil)
        let chunked = Self.reconstruct(chunk: size)
        #expect(chunked.transcript == whole.transcript)
        #expect(chunked.steps.map(\.kind) == whole.steps.map(\.kind))
        #expect(chunked.steps.map { Array($0.clientBytes) } == whole.steps.map { Array($0.clientBytes) })
        #expect(chunked.steps.map(\.batch) == whole.steps.map(\.batch))
        #expect(chunked.steps.map(\.unobservableReason) == whole.steps.map(\.unobservableReason))
        #expect(chunked.greeting == whole.greeting)
        #expect(chunked.clientStream == whole.clientStream && chunked.serverStream == whole.serverStream)
    }

    @Test(arguments: [1, 2, 3, 5, 7, 13, 64, 1448])
    func throughTCPSegments(size: Int) throws {
        var conversation = Conversation()
        conversation.open()
        for (fromClient, text) in chunkingScript {
            let bytes = text.bytes
            for start in stride(from: 0, to: bytes.count, by: size) {
                let piece = Array(bytes[start..<min(bytes.count, start + size)])
                if fromClient { conversation.clientBytes(piece) } else { conversation.serverBytes(piece, ackAfter: false) }
            }
        }
        conversation.close(clientFirst: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == chunkingTranscript)
        #expect(dialogue.steps.map(\.batch) == Self.reconstruct(chunk: nil).steps.map(\.batch))
    }

    @Test func randomSplitsAndInterleavings() {
        // Random cuts (not only fixed sizes) over many seeds.
        let whole = Self.reconstruct(chunk: nil)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var reconstructor = DialogueReconstructor()
            for (fromClient, text) in chunkingScript {
                var bytes = text.bytes[...]
                while !bytes.isEmpty {
                    let take = Int.random(in: 1...max(1, bytes.count), using: &generator)
                    let piece = Array(bytes.prefix(take))
                    bytes = bytes.dropFirst(take)
                    if fromClient { reconstructor.clientSent(piece) } else { reconstructor.serverSent(piece) }
                }
            }
            let dialogue = reconstructor.finish(end: .clientClosed)
            #expect(dialogue.transcript == whole.transcript)
        }
    }
}

/// A message body longer than the eager-parse threshold is read while it still arrives: the
/// search for its final "." line stops and resumes many times. Cut at every offset around its
/// end (and fed a byte at a time from there), it must end exactly where it does read at once.
@Suite struct LongBodyTests {
    /// Client and server lines around a body of about 70 kB whose last lines are `tail`.
    static func script(tail: String) -> [(fromClient: Bool, text: String)] {
        var body = ""
        var line = 0
        while body.utf8.count < 70_000 {
            line += 1
            // Dots inside lines, and dot-stuffed lines, none of which ends the body.
            body += line % 7 == 0 ? "..stuffed \(line).\r\n" : "line \(line) of the message. more text.\r\n"
        }
        return [
            (false, "220 mx.example.net ESMTP\r\n"),
            (true, "HELO c.example\r\n"),
            (false, "250 mx.example.net\r\n"),
            (true, "MAIL FROM:<a@c.example>\r\n"),
            (false, "250 ok\r\n"),
            (true, "RCPT TO:<x@example.net>\r\n"),
            (false, "250 ok\r\n"),
            (true, "DATA\r\n"),
            (false, "354 go ahead\r\n"),
            (true, body + tail + "QUIT\r\n"),
            (false, "250 ok 1795563513 qp 9\r\n221 bye\r\n"),
        ]
    }

    /// The dialogue with the body sent in three pieces: up to `cut`, then `single` bytes one at a
    /// time, then the rest.
    static func reconstruct(tail: String, cut: Int?, single: Int = 0) -> Dialogue {
        var reconstructor = DialogueReconstructor()
        for (fromClient, text) in script(tail: tail) {
            let bytes = text.bytes
            guard fromClient, let cut, bytes.count > 1000 else {
                if fromClient { reconstructor.clientSent(bytes) } else { reconstructor.serverSent(bytes) }
                continue
            }
            reconstructor.clientSent(Array(bytes[..<cut]))
            var position = cut
            while position < min(bytes.count, cut + single) {
                reconstructor.clientSent([bytes[position]])
                position += 1
            }
            if position < bytes.count { reconstructor.clientSent(Array(bytes[position...])) }
        }
        return reconstructor.finish(end: .clientClosed)
    }

    @Test(arguments: ["\r\n.\r\n", "\n.\n", "\r\n.x\r\n.\r\n", "\r\n.\r\r\n.\n", "\r\n..\r\n.\r\n"])
    func cutAtEveryOffsetNearTheEnd(tail: String) {
        let whole = Self.reconstruct(tail: tail, cut: nil)
        #expect(whole.steps.map(\.kind) == [.command, .command, .command, .command, .dataBody, .command])
        #expect(whole.steps[4].clientBytes.count > 70_000)
        #expect(whole.steps[4].clientBytes.suffix(tail.utf8.count).elementsEqual(tail.utf8))
        #expect(whole.steps[5].line == "QUIT")
        let bodyEnd = Self.script(tail: tail)[9].text.utf8.count - "QUIT\r\n".utf8.count
        for cut in (bodyEnd - tail.utf8.count - 8)...bodyEnd {
            for single in [0, 12] {
                let chunked = Self.reconstruct(tail: tail, cut: cut, single: single)
                #expect(chunked.transcript == whole.transcript, "cut at \(cut), \(single) single bytes")
                #expect(chunked.steps.map { Array($0.clientBytes) } == whole.steps.map { Array($0.clientBytes) })
            }
        }
    }
}

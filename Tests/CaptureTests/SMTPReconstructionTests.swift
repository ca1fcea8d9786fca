// SMTP: multi-line replies, PIPELINING batches, DATA bodies (and DATA refused: the lines are
// commands), BDAT, AUTH, STARTTLS, early talkers, tcpserver deny, bare LF, 8-bit, NUL and
// very long lines, how connections end.

import Capture
import Testing

@Suite struct SMTPReconstructionTests {
    @Test func pipelinedBatchesPairByOrder() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx.example.net ESMTP\r\n")
        conversation.client("EHLO c.example\r\n")
        conversation.server("250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        // One flight: MAIL, three RCPTs and DATA; the replies come back in one segment.
        conversation.client("MAIL FROM:<a@c.example>\r\nRCPT TO:<x@example.net>\r\nRCPT TO:<y@elsewhere.example>\r\nRCPT TO:<z@example.net>\r\nDATA\r\n")
        conversation.server("250 ok\r\n250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n250 ok\r\n354 go ahead\r\n")
        conversation.client("Subject: hi\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@c.example>\r\nRCPT TO:<w@example.net>\r\n")
        conversation.server("250 ok 1 qp 2\r\n250 ok\r\n250 ok\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx.example.net\r\n")
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == [
            "EHLO c.example -> 250-mx.example.net / 250-PIPELINING / 250 8BITMIME",
            "MAIL FROM:<a@c.example> -> 250 ok",
            "RCPT TO:<x@example.net> -> 250 ok",
            "RCPT TO:<y@elsewhere.example> -> 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
            "RCPT TO:<z@example.net> -> 250 ok",
            "DATA -> 354 go ahead",
            "<message: 3 lines, 21 bytes on the wire> -> 250 ok 1 qp 2",
            "MAIL FROM:<b@c.example> -> 250 ok",
            "RCPT TO:<w@example.net> -> 250 ok",
            "QUIT -> 221 mx.example.net",
        ])
        #expect(dialogue.steps.map(\.batch) == [nil, 1, 1, 1, 1, 1, 2, 2, 2, nil])
        // Every step's exact bytes, and its reply's exact bytes.
        #expect(Array(dialogue.steps[3].clientBytes) == "RCPT TO:<y@elsewhere.example>\r\n".bytes)
        #expect(Array(dialogue.steps[0].reply!.bytes) == "250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n".bytes)
        #expect(dialogue.steps[0].reply?.code == 250)
        #expect(dialogue.steps[6].kind == .dataBody)
        #expect(Array(dialogue.steps[6].clientBytes) == "Subject: hi\r\n\r\nbody\r\n.\r\n".bytes)
        #expect(dialogue.steps.map(\.verb) == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", nil, "MAIL", "RCPT", "QUIT"])
    }

    @Test func dataRefusedMeansTheLinesAreCommands() throws {
        // A spam bot sends its "body" regardless of the 451/503: qmail reads those lines as
        // commands, and so must the reconstruction.
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 rblsmtpd.local\r\n")
        conversation.client("HELO [172.20.5.10]\r\n")
        conversation.server("250 rblsmtpd.local\r\n")
        conversation.client("MAIL FROM:<win@lottery.example>\r\n")
        conversation.server("250 rblsmtpd.local\r\n")
        conversation.client("RCPT TO:<alice@example.net>\r\n")
        conversation.server("451 No reverse DNS for your IP address; try again later\r\n")
        conversation.client("DATA\r\nSubject: win\r\n\r\nclick\r\n.\r\nQUIT\r\n")
        conversation.server("451 No reverse DNS for your IP address; try again later\r\n502 unimplemented (#5.5.1)\r\n")
        conversation.server("502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n221 rblsmtpd.local\r\n")
        conversation.close(clientFirst: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.map(\.kind) == [.command, .command, .command, .command, .command, .command, .command, .command, .command])
        #expect(dialogue.transcript.suffix(6) == [
            "DATA -> 451 No reverse DNS for your IP address; try again later",
            "Subject: win -> 502 unimplemented (#5.5.1)",
            " -> 502 unimplemented (#5.5.1)",
            "click -> 502 unimplemented (#5.5.1)",
            ". -> 502 unimplemented (#5.5.1)",
            "QUIT -> 221 rblsmtpd.local",
        ])
        #expect(dialogue.end == .quit)
    }

    @Test func emptyBodyAndDotStuffing() throws {
        let conversation = Conversation.smtp([
            ("MAIL FROM:<>\r\n", "250 ok\r\n"), ("RCPT TO:<a@b>\r\n", "250 ok\r\n"), ("DATA\r\n", "354 go ahead\r\n"),
            (".\r\n", "554 empty\r\n"), ("DATA\r\n", "354 go ahead\r\n"), ("..leading dot\r\n.\r\n", "250 ok\r\n"),
        ])
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.map(\.kind) == [.command, .command, .command, .dataBody, .command, .dataBody, .command])
        #expect(dialogue.steps[3].line == "<message: 0 lines, 0 bytes on the wire>")
        #expect(Array(dialogue.steps[5].clientBytes) == "..leading dot\r\n.\r\n".bytes)
    }

    @Test func bdatWithChunking() throws {
        let chunk = "Subject: x\r\n\r\nline\r\nBDAT-looking line\r\n"
        let conversation = Conversation.smtp([
            ("EHLO c\r\n", "250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n"),
            ("MAIL FROM:<a@c>\r\n", "250 ok\r\n"), ("RCPT TO:<b@d>\r\n", "250 ok\r\n"),
            ("BDAT 10\r\n" + String(chunk.prefix(10)) + "BDAT \(chunk.utf8.count - 10) LAST\r\n" + String(chunk.dropFirst(10)), "250 10 bytes\r\n250 ok queued\r\n"),
        ])
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.map(\.kind) == [.command, .command, .command, .bdatChunk, .bdatChunk, .command])
        #expect(dialogue.steps[3].line == "BDAT 10 <chunk: 10 bytes>")
        #expect(Array(dialogue.steps[3].clientBytes) == ("BDAT 10\r\n" + String(chunk.prefix(10))).bytes)
        #expect(dialogue.steps[4].line == "BDAT \(chunk.utf8.count - 10) LAST <chunk: \(chunk.utf8.count - 10) bytes>")
        #expect(dialogue.steps[4].reply?.lines == ["250 ok queued"])
        #expect(dialogue.steps.map(\.verb) == ["EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "QUIT"])
        #expect(dialogue.steps[3].batch == 1 && dialogue.steps[4].batch == 1)
    }

    @Test func bdatWithoutChunkingIsACommand() throws {
        // qmail does not offer CHUNKING: it answers BDAT with 502 and reads what follows as commands.
        let conversation = Conversation.smtp([
            ("EHLO c\r\n", "250-mx\r\n250 PIPELINING\r\n"),
            ("BDAT 6 LAST\r\nNOOP\r\n", "502 unimplemented (#5.5.1)\r\n250 ok\r\n"),
        ])
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == ["EHLO c -> 250-mx / 250 PIPELINING", "BDAT 6 LAST -> 502 unimplemented (#5.5.1)", "NOOP -> 250 ok", "QUIT -> 221 mx.example.net"])
    }

    @Test func authExchanges() throws {
        let conversation = Conversation.smtp([
            ("EHLO c\r\n", "250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n"),
            ("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"), ("dGVzdHVzZXI=\r\n", "334 UGFzc3dvcmQ6\r\n"),
            ("c2VjcmV0\r\n", "535 authentication failed (#5.7.1)\r\n"),
            ("AUTH PLAIN\r\n", "334 \r\n"), ("AHRlc3R1c2VyAHRlc3RwYXNz\r\n", "235 ok, go ahead (#2.0.0)\r\n"),
            ("AUTH LOGIN dGVzdHVzZXI=\r\n", "334 UGFzc3dvcmQ6\r\n"), ("*\r\n", "501 auth exchange canceled (#5.0.0)\r\n"),
            ("AUTH CRAM-MD5\r\n", "334 PDEyMzQ1QGV4YW1wbGU+\r\n"), ("dGVzdHVzZXIgZGlnZXN0\r\n", "503 you're already authenticated (#5.5.0)\r\n"),
        ])
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.map(\.kind) == [
            .command, .command, .authResponse, .authResponse, .command, .authResponse, .command, .authResponse,
            .command, .authResponse, .command,
        ])
        let printed = dialogue.steps.map(\.line).joined(separator: "\n")
        for secret in ["dGVzdHVzZXI=", "c2VjcmV0", "AHRlc3R1c2VyAHRlc3RwYXNz", "dGVzdHVzZXIgZGlnZXN0"] {
            #expect(!printed.contains(secret))
        }
        #expect(dialogue.steps[2].line == "<auth response redacted>")
        #expect(dialogue.steps[6].line == "AUTH LOGIN <credentials redacted>")
        #expect(dialogue.steps[6].holdsCredentials && dialogue.steps[2].holdsCredentials && !dialogue.steps[1].holdsCredentials)
        // The bytes stay available for the replay.
        #expect(Array(dialogue.steps[3].clientBytes) == "c2VjcmV0\r\n".bytes)
        #expect(dialogue.steps[7].reply?.code == 501)
    }

    @Test func starttlsMakesTheRestUnobservable() throws {
        var conversation = Conversation(serverPort: 587)
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("EHLO c\r\n")
        conversation.server("250-mx\r\n250 STARTTLS\r\n")
        conversation.client("STARTTLS\r\n")
        conversation.server("220 ready to start TLS\r\n")
        conversation.clientBytes([0x16, 0x03, 0x01, 0x00, 0x10] + [UInt8](repeating: 0x0A, count: 16))  // ClientHello (with LF bytes)
        conversation.serverBytes([0x16, 0x03, 0x03, 0x00, 0x08] + [UInt8](repeating: 0x0A, count: 8))
        conversation.clientBytes([0x17, 0x03, 0x03, 0x00, 0x05, 0x0A, 0x0D, 0x0A, 0x41, 0x0A])
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == ["EHLO c -> 250-mx / 250 STARTTLS", "STARTTLS -> 220 ready to start TLS"])
        #expect(dialogue.encrypted)
        #expect(dialogue.unpairedReplies.isEmpty)
        let problem = try #require(dialogue.problems.first { $0.kind == .encrypted })
        #expect(problem.message.contains("unobservable (TLS)"))
        #expect(problem.message.contains("31 client and 13 server bytes"))
    }

    @Test func starttlsRefusedContinuesInClear() throws {
        let conversation = Conversation.smtp([("STARTTLS\r\n", "502 unimplemented (#5.5.1)\r\n"), ("NOOP\r\n", "250 ok\r\n")])
        let dialogue = try #require(try readOne(conversation))
        #expect(!dialogue.encrypted)
        #expect(dialogue.transcript == ["STARTTLS -> 502 unimplemented (#5.5.1)", "NOOP -> 250 ok", "QUIT -> 221 mx.example.net"])
    }

    @Test func earlyTalker() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.client("EHLO hasty.example\r\n")
        conversation.server("220 mx.example.net ESMTP\r\n")
        conversation.server("250 mx.example.net\r\n")
        conversation.client("QUIT\r\n")
        conversation.server("221 mx.example.net\r\n")
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.earlyTalker)
        #expect(dialogue.greeting?.lines == ["220 mx.example.net ESMTP"])
        #expect(dialogue.transcript == ["EHLO hasty.example -> 250 mx.example.net", "QUIT -> 221 mx.example.net"])
        #expect(try readOne(sampleConversation)?.earlyTalker == false)
    }

    @Test func tcpserverDenyIsASilentClose() throws {
        var conversation = Conversation(client: .v4("203.0.113.5"))
        conversation.open()
        conversation.close(clientFirst: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.end == .serverClosedSilently)
        #expect(dialogue.greeting == nil && dialogue.steps.isEmpty && dialogue.isComplete)
        // An early-talking spam bot against a deny: its line gets no reply (and none was missed).
        var bot = Conversation(client: .v4("203.0.113.6"))
        bot.open()
        bot.client("HELO bot\r\n")
        bot.finFrom(client: false)
        bot.reset(fromClient: false)
        let denied = try #require(try readOne(bot))
        #expect(denied.end == .serverClosedSilently)
        #expect(denied.earlyTalker)
        #expect(denied.steps.first?.reply == nil && denied.steps.first?.unobservable == nil)
    }

    @Test func bareLineFeeds() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("EHLO lf.example\n")
        conversation.server("250 mx\r\n")
        conversation.client("DATA\n")
        conversation.server("354 go ahead\r\n")
        conversation.client("Subject: lf\n\nbody\n.\nQUIT\n")
        conversation.server("451 See http://pobox.com/~djb/docs/smtplf.html.\r\n")
        conversation.close(clientFirst: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == [
            "EHLO lf.example -> 250 mx", "DATA -> 354 go ahead",
            "<message: 3 lines, 18 bytes on the wire> -> 451 See http://pobox.com/~djb/docs/smtplf.html.",
            "QUIT -> -",
        ])
        #expect(Array(dialogue.steps[0].clientBytes) == "EHLO lf.example\n".bytes)
        #expect(Array(dialogue.steps[2].clientBytes) == "Subject: lf\n\nbody\n.\n".bytes)
        #expect(dialogue.end == .serverClosed)
        // A server using bare LF too.
        let lfServer = Conversation.smtp([("NOOP\r\n", "250 ok\n")], greeting: "220-mx\n220 ESMTP\n")
        let other = try #require(try readOne(lfServer))
        #expect(other.greeting?.lines == ["220-mx", "220 ESMTP"])
        #expect(other.transcript.first == "NOOP -> 250 ok")
    }

    @Test func eightBitNULAndLongLines() throws {
        let long = "RCPT TO:<" + String(repeating: "x", count: 100_000) + "@example.net>\r\n"
        let raw: [UInt8] = [0x48, 0x45, 0x4C, 0x4F, 0x20, 0xE9, 0x00, 0x41, 0x0D, 0x0A]  // "HELO \xE9\0A"
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("MAIL FROM:<j\u{00F6}rg@example.de>\r\n")
        conversation.server("250 ok\r\n")
        conversation.clientBytes(raw)
        conversation.server("250 mx\r\n")
        // The long line in MTU-sized segments.
        let bytes = long.bytes
        for start in stride(from: 0, to: bytes.count, by: 1448) {
            conversation.clientBytes(Array(bytes[start..<min(bytes.count, start + 1448)]))
        }
        conversation.server("250 ok\r\n")
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps[0].line == "MAIL FROM:<j\u{00F6}rg@example.de>")
        #expect(dialogue.steps[1].line == "HELO \\xE9\\x00A")
        #expect(Array(dialogue.steps[1].clientBytes) == raw)
        #expect(dialogue.steps[1].verb == "HELO")
        let longStep = dialogue.steps[2]
        #expect(longStep.clientBytes.count == bytes.count)
        #expect(longStep.reply?.lines == ["250 ok"])
        #expect(longStep.line.hasSuffix("… (\(bytes.count - 2) bytes)"))
        let complete = dialogue.isComplete
        #expect(complete)
    }

    @Test func largeMessageIsReadAsItArrives() throws {
        // More than the eager-parse threshold (64 KiB) of body, in MTU-sized segments, then
        // a second transaction.
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("MAIL FROM:<a@b>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("RCPT TO:<c@d>\r\n")
        conversation.server("250 ok\r\n")
        conversation.client("DATA\r\n")
        conversation.server("354 go ahead\r\n")
        let line = String(repeating: "z", count: 998) + "\r\n"
        let body = (String(repeating: line, count: 300) + ".\r\n").bytes
        for start in stride(from: 0, to: body.count, by: 1448) {
            conversation.clientBytes(Array(body[start..<min(body.count, start + 1448)]))
        }
        conversation.server("250 ok 1 qp 2\r\n")
        conversation.client("MAIL FROM:<e@f>\r\n")
        conversation.server("250 ok\r\n")
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.transcript == [
            "MAIL FROM:<a@b> -> 250 ok", "RCPT TO:<c@d> -> 250 ok", "DATA -> 354 go ahead",
            "<message: 300 lines, 300000 bytes on the wire> -> 250 ok 1 qp 2", "MAIL FROM:<e@f> -> 250 ok",
        ])
        #expect(dialogue.steps[3].clientBytes.count == body.count)
    }

    @Test func endings() throws {
        func end(_ build: (inout Conversation) -> Void) throws -> DialogueEnd? {
            var conversation = Conversation()
            conversation.open()
            conversation.server("220 mx ESMTP\r\n")
            conversation.client("NOOP\r\n")
            conversation.server("250 ok\r\n")
            build(&conversation)
            return try readOne(conversation)?.end
        }
        #expect(try end { $0.client("QUIT\r\n"); $0.server("221 mx\r\n"); $0.close(clientFirst: false) } == .quit)
        #expect(try end { $0.close(clientFirst: true) } == .clientClosed)
        #expect(try end { $0.close(clientFirst: false) } == .serverClosed)
        #expect(try end { $0.reset(fromClient: true) } == .clientReset)
        #expect(try end { $0.reset(fromClient: false) } == .serverReset)
        #expect(try end { _ in } == .captureEnded)
        // QUIT refused is not a quit.
        #expect(try end { $0.client("QUIT\r\n"); $0.server("500 no\r\n"); $0.close(clientFirst: true) } == .clientClosed)
    }

    @Test func clientLineAfterTheServerClosedHasNoReply() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.finFrom(client: false)
        conversation.client("HELO late\r\n")
        conversation.reset(fromClient: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.end == .serverClosed)
        #expect(dialogue.steps.first?.reply == nil)
        #expect(dialogue.steps.first?.unobservable == nil)
    }

    @Test func unterminatedLastLine() throws {
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("QUI")
        conversation.close()
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.first?.line == "QUI")
        #expect(dialogue.steps.first?.unobservableReason == .unterminated)
        #expect(dialogue.problems.contains { $0.kind == .unterminated })
    }

    @Test(arguments: ["250 ok", "250", "250-first line\r\n250 last lin", "250-first line"])
    func unterminatedLastReply(last: String) throws {
        // The server's last reply ends without its line terminator: it is kept, paired and
        // marked incomplete; the step it answers is unobservable (unterminated).
        var conversation = Conversation()
        conversation.open()
        conversation.server("220 mx ESMTP\r\n")
        conversation.client("HELO c\r\n")
        conversation.server("250 mx\r\n")
        conversation.client("NOOP\r\n")
        conversation.server(last)
        conversation.close(clientFirst: false)
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps.map(\.line) == ["HELO c", "NOOP"])
        #expect(dialogue.steps[0].reply?.isComplete == true && dialogue.steps[0].unobservable == nil)
        let reply = try #require(dialogue.steps[1].reply)
        #expect(Array(reply.bytes) == Array(last.utf8) && reply.code == 250 && !reply.isComplete)
        #expect(dialogue.steps[1].unobservableReason == .unterminated)
        #expect(dialogue.problems.map(\.kind) == [.unterminated])
    }

    @Test func multiLineRepliesWithOddLines() throws {
        // Continuation lines, a final line without text, and a reply line without a code.
        let conversation = Conversation.smtp([
            ("EHLO c\r\n", "250-mx.example.net\r\n250-SIZE 10240\r\n250\r\n"),
            ("HELP\r\n", "214-qmail home page: http://pobox.com/~djb/qmail.html\r\n214 send comments to qmail@list.cr.yp.to\r\n"),
            ("XYZZY\r\n", "nothing happens\r\n"),
        ])
        let dialogue = try #require(try readOne(conversation))
        #expect(dialogue.steps[0].reply?.lines == ["250-mx.example.net", "250-SIZE 10240", "250"])
        #expect(dialogue.steps[1].reply?.code == 214)
        #expect(dialogue.steps[2].reply?.code == nil && dialogue.steps[2].reply?.lines == ["nothing happens"])
        #expect(dialogue.steps[3].reply?.lines == ["221 mx.example.net"])
    }
}

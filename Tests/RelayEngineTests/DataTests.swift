import RelayEngine
import Testing

/// Spec §11 (DATA, databytes, hops, Received line, envelope, timeouts), §13 (exit status) and
/// the qmail-queue exit codes of §1.
@Suite struct DataTests {
    let config = Harness.configuration()
    let start = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"

    func message(_ body: String, config: RelayConfiguration? = nil, environment: [String: String]? = nil) -> Harness.Run {
        Harness.run(config ?? self.config, environment: environment, input: Array((start + body).utf8))
    }

    @Test func bodyConversion() {
        let run = message("Subject: x\r\n\r\n..dot\r\n...two\r\n.single\r\nlone\rCR\r\nx\r\r\n.\r\nQUIT\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok 1795561493 qp 14399\r\n221 mx.example.net\r\n")
        let queued = try! #require(run.session.envelopes.first)
        #expect(String(decoding: queued.body, as: UTF8.self) == "Subject: x\n\n.dot\n..two\nsingle\nlone\rCR\nx\r\n")
        #expect(run.session.exchanges[4].kind == .messageBody)
        #expect(run.session.exchanges[4].clientBytes == Array("Subject: x\r\n\r\n..dot\r\n...two\r\n.single\r\nlone\rCR\r\nx\r\r\n.\r\n".utf8))
    }

    @Test func emptyMessageAndDotVariants() {
        #expect(message(".\r\n").session.envelopes.first?.body == [])
        #expect(String(decoding: message(".\rx\r\n.\r\n").session.envelopes.first?.body ?? [], as: UTF8.self) == ".\rx\n")
        #expect(String(decoding: message(".\r\r\n.\r\n").session.envelopes.first?.body ?? [], as: UTF8.self) == ".\r\n")
    }

    @Test(arguments: ["bare\nline\r\n.\r\n", "ok\r\n.\n", "x\r\n\n.\r\n", "\n", ".\n", "..\n"])
    func bareLineFeedInData(body: String) {
        let run = message(body + "QUIT\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n")
        #expect(run.session.isClosed)
        #expect(run.session.exitStatus == 1)
        #expect(run.session.ending == .hangUp)
        #expect(run.session.envelopes.isEmpty)
        #expect(run.session.exchanges.last?.decision?.reasons.first?.kind == .bareLineFeed)
    }

    @Test func bareLineFeedAfterBareLineFeedData() {
        let run = Harness.run(config, "MAIL FROM:<a@b>\nRCPT TO:<c@example.com>\nDATA\nSubject: x\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n")
    }

    @Test func databytes() {
        var files = Harness.standardFiles
        files["databytes"] = "8\n"
        let eight = Harness.configuration(files)
        #expect(message("1234567\r\n.\r\n", config: eight).session.envelopes.count == 1)
        let over = message("12345678\r\n.\r\n", config: eight)
        #expect(over.session.envelopes.isEmpty)
        #expect(over.session.exchanges.last?.reply == Array("552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n".utf8))
        #expect(over.session.exchanges.last?.decision?.reasons.first?.kind == .messageTooLarge(bytes: 9, limit: 8))
        // The explanation names control/databytes as the source of the limit.
        let source = over.session.exchanges.last?.decision?.reasons.first?.source
        #expect(source?.file.hasSuffix("databytes") == true && source?.line == 1, "\(String(describing: source))")
        // Counted after unstuffing: "..x\r\n" is 3 bytes stored.
        #expect(message("......\r\n.\r\n", config: eight).session.envelopes.count == 1)
        // DATABYTES from the environment wins; junk and 0 mean unlimited.
        #expect(message("12345678\r\n.\r\n", config: eight, environment: Harness.environment(["DATABYTES": "100"])).session.envelopes.count == 1)
        #expect(message("12345678\r\n.\r\n", config: eight, environment: Harness.environment(["DATABYTES": "junk"])).session.envelopes.count == 1)
        #expect(message("12345678\r\n.\r\n", config: eight, environment: Harness.environment(["DATABYTES": "0"])).session.envelopes.count == 1)
        #expect(message("12345678\r\n.\r\n", config: self.config, environment: Harness.environment(["DATABYTES": "4"])).session.envelopes.isEmpty)
        files["databytes"] = "junk\n"
        let junk = Harness.configuration(files)
        #expect(junk.control.databytes == 0)
        #expect(junk.control.warnings.contains { $0.kind == .notANumber })
    }

    @Test func sizeIsOnlyJudgedAfterTheWholeBody() {
        var files = Harness.standardFiles
        files["databytes"] = "4\n"
        let run = Harness.run(
            Harness.configuration(files), start + "0123456789\r\nmore\r\n.\r\nNOOP\r\n")
        #expect(run.session.exchanges.map(\.reply).suffix(2) == [
            Array("552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n".utf8), Array("250 ok\r\n".utf8),
        ])
    }

    @Test func hopCounting() {
        func headers(_ count: Int, _ name: String = "Received: x") -> String {
            String(repeating: name + "\r\n", count: count)
        }
        #expect(message(headers(99) + "\r\nbody\r\n.\r\n").session.envelopes.count == 1)
        let looping = message(headers(100) + "\r\n.\r\n")
        #expect(looping.session.exchanges.last?.reply == Array("554 too many hops, this message is looping (#5.4.6)\r\n".utf8))
        #expect(looping.session.exchanges.last?.decision?.reasons.first?.kind == .tooManyHops(count: 100))
        #expect(message(headers(50) + headers(50, "Delivered-To: y") + "\r\n.\r\n").session.envelopes.isEmpty)
        #expect(message(headers(100, "rEcEiVeDfoo 1") + "\r\n.\r\n").session.envelopes.isEmpty)
        #expect(message(headers(100, "DELIVEREDx") + "\r\n.\r\n").session.envelopes.isEmpty)
        #expect(message(headers(100, "Receive: x") + "\r\n.\r\n").session.envelopes.count == 1)
        #expect(message(headers(100, "Deliver: x") + "\r\n.\r\n").session.envelopes.count == 1)
        // Body lines never count.
        #expect(message("Subject: x\r\n\r\n" + headers(150) + ".\r\n").session.envelopes.count == 1)
        // Hops are judged before size.
        var files = Harness.standardFiles
        files["databytes"] = "10\n"
        #expect(
            message(headers(100) + "\r\n.\r\n", config: Harness.configuration(files)).session.exchanges.last?.reply
                == Array("554 too many hops, this message is looping (#5.4.6)\r\n".utf8))
    }

    @Test func receivedLine() {
        let plain = message("x\r\n.\r\n", environment: Harness.environment(["TCPREMOTEHOST": "client.example"]))
        #expect(
            plain.session.envelopes.first?.receivedText
                == "Received: from client.example (192.0.2.9)\n  by mx.example.net with SMTP; 24 Nov 2026 23:04:53 -0000")
        let helo = Harness.run(
            config, environment: Harness.environment(["TCPREMOTEHOST": "client.example", "TCPREMOTEINFO": "id ent"]),
            "HELO other.example\r\n" + start + "x\r\n.\r\n")
        #expect(
            helo.session.envelopes.first?.receivedText
                == "Received: from client.example (HELO other.example) (id?ent@192.0.2.9)\n  by mx.example.net with SMTP; 24 Nov 2026 23:04:53 -0000")
        let same = Harness.run(
            config, environment: Harness.environment(["TCPREMOTEHOST": "client.example"]), "HELO CLIENT.Example\r\n" + start + "x\r\n.\r\n")
        #expect(same.session.envelopes.first?.receivedText.hasPrefix("Received: from client.example (192.0.2.9)") == true)
        let unknown = Harness.run(config, "HELO unknown\r\n" + start + "x\r\n.\r\n")
        #expect(unknown.session.envelopes.first?.receivedText.hasPrefix("Received: from unknown (192.0.2.9)") == true)
        let emptyHelo = Harness.run(config, "HELO\r\n" + start + "x\r\n.\r\n")
        #expect(emptyHelo.session.envelopes.first?.receivedText.hasPrefix("Received: from unknown (HELO ) (192.0.2.9)") == true)
        let eightBit = Harness.run(
            config, environment: Harness.environment(["TCPLOCALHOST": "h\u{e9}llo\u{1}"]), input: Array((start + "x\r\n.\r\n").utf8))
        #expect(eightBit.session.envelopes.first?.receivedText.contains("  by h??llo? with SMTP") == true)
        var noLocalHost = Harness.environment()
        noLocalHost["TCPLOCALHOST"] = nil
        #expect(message("x\r\n.\r\n", environment: noLocalHost).session.envelopes.first?.receivedText.contains("by 192.0.2.25 with") == true)
        noLocalHost["TCPLOCALIP"] = nil
        noLocalHost["TCPREMOTEIP"] = nil
        #expect(message("x\r\n.\r\n", environment: noLocalHost).session.envelopes.first?.receivedText == "Received: from unknown (unknown)\n  by unknown with SMTP; 24 Nov 2026 23:04:53 -0000")
    }

    @Test func envelopeAndMessage() {
        let run = message("Subject: t\r\n\r\nhi\r\n.\r\n")
        let queued = try! #require(run.session.envelopes.first)
        #expect(queued.envelope == Array("Fa@b.example\0Tc@example.com\0\0".utf8))
        #expect(queued.message == queued.receivedLine + Array("Subject: t\n\nhi\n".utf8))
        #expect(queued.qp == 14399)
    }

    @Test func clockAndQueueNumbering() {
        var config = self.config
        config.clock = 1_000_000_000
        config.processIDs = ProcessNumbering(smtpd: 500, firstQueue: 700, queueStep: 3)
        var session = RelaySession(configuration: config, childEnvironment: Harness.environment())
        _ = session.start()
        var out = session.receive(Array((start + ".\r\n").utf8))
        out += session.idle(seconds: 61.5)
        out += session.receive(Array((start + "x\r\n.\r\n").utf8))
        #expect(
            String(decoding: out, as: UTF8.self)
                == "250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok 1000000000 qp 700\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok 1000000061 qp 703\r\n")
        #expect(session.envelopes.map { $0.receivedText.hasSuffix("with SMTP; 9 Sep 2001 01:46:40 -0000") } == [true, false])
        #expect(session.envelopes.last?.receivedText.hasSuffix("with SMTP; 9 Sep 2001 01:47:41 -0000") == true)
    }

    @Test func timeouts() {
        var session = RelaySession(configuration: config, childEnvironment: Harness.environment())
        _ = session.start()
        #expect(session.idle(seconds: 1199).isEmpty)
        _ = session.receive(Array("NO".utf8))
        #expect(session.idle(seconds: 1199).isEmpty)
        #expect(String(decoding: session.idle(seconds: 1), as: UTF8.self) == "451 timeout (#4.4.2)\r\n")
        #expect(session.isClosed)
        #expect(session.exitStatus == 1)
        #expect(session.ending == .timeout)
        #expect(session.receive(Array("OP\r\n".utf8)).isEmpty)
        // Inside DATA, and with control/timeoutsmtpd.
        var files = Harness.standardFiles
        files["timeoutsmtpd"] = "30\n"
        var inData = RelaySession(configuration: Harness.configuration(files), childEnvironment: Harness.environment())
        _ = inData.receive(Array((start + "partial").utf8))
        #expect(String(decoding: inData.idle(seconds: 30), as: UTF8.self) == "451 timeout (#4.4.2)\r\n")
        #expect(inData.envelopes.isEmpty)
        files["timeoutsmtpd"] = "0\n"
        #expect(Harness.configuration(files).control.timeout == 1)
    }

    @Test(arguments: [
        (11, "554 envelope address too long for qq (#5.1.3)"),
        (31, "554 mail server permanently rejected message (#5.3.0)"),
        (71, "451 mail server temporarily rejected message (#4.3.0)"),
        (99, "451 qq temporary problem (#4.3.0)"),
        (120, "451 unable to exec qq (#4.3.0)"),
        (51, "451 qq out of memory (#4.3.0)"),
        (20, "554 qq permanent problem (#5.3.0)"),
        (74, "451 communication with mail server failed (#4.4.2)"),
    ])
    func queueExitCodes(code: Int, reply: String) {
        var config = self.config
        config.queue = .exitCode(code)
        let run = message("x\r\n.\r\n", config: config)
        #expect(run.session.exchanges.last?.reply == Array((reply + "\r\n").utf8))
        #expect(run.session.envelopes.isEmpty)
    }

    @Test func queueCannotStart() {
        var config = self.config
        config.queue = .cannotStart
        let run = message("Subject: x\r\n.\r\n", config: config)
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n451 qqt failure (#4.3.0)\r\n502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n")
        config.queue = .crash
        #expect(message("x\r\n.\r\n", config: config).session.exchanges.last?.reply == Array("451 qq crashed (#4.3.0)\r\n".utf8))
    }

    @Test func eofInsideData() {
        let run = message("Subject: x\r\n\r\nunfinished")
        #expect(run.session.envelopes.isEmpty)
        #expect(run.session.exitStatus == 1)
    }
}

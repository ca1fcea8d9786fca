import RelayEngine
import Testing

/// Spec §1 (reply catalogue), §2 (greeting), §3 (framing), §4 (HELO/EHLO), §12–§14.
@Suite struct CommandTests {
    let config = Harness.configuration()

    @Test func catalogue() {
        let run = Harness.run(
            config,
            "HELO x\r\nEHLO y\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nRSET\r\nNOOP\r\nVRFY x\r\nHELP\r\nFOO\r\nQUIT\r\n")
        #expect(
            run.text
                == "220 mx.example.net ESMTP\r\n" + "250 mx.example.net\r\n"
                + "250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n" + "250 ok\r\n" + "250 ok\r\n"
                + "250 flushed\r\n" + "250 ok\r\n" + "252 send some mail, i'll try my best\r\n"
                + "214 netqmail home page: http://qmail.org/netqmail\r\n" + "502 unimplemented (#5.5.1)\r\n"
                + "221 mx.example.net\r\n")
        #expect(run.session.isClosed)
        #expect(run.session.exitStatus == 0)
        #expect(run.session.ending == .quit)
    }

    /// An exchange's verb is the command's first word as sent, upper-cased (a-z only), in any
    /// case mix, for the usual verbs and for any other word.
    @Test func verbsAreUpperCased() {
        let lines = [
            "helo x", "eHlO y", "Mail FROM:<a@b.example>", "rcpt TO:<c@example.com>", "Rset", "noop", "AuTh", "vrfy x",
            "data", "DATA", "help", "HELO", "mail", "RCP", "RCPTX", "h\u{E9}lo", "M@IL", "`ata", "5ELO", "QUITE", "quiT",
        ]
        let run = Harness.run(config, lines.joined(separator: "\r\n") + "\r\n")
        var verbs: [String] = []
        for exchange in run.session.exchanges {
            if case .command(let verb) = exchange.kind { verbs.append(verb) }
        }
        let expected = lines.map { line -> String in
            let word = line.split(separator: " ", omittingEmptySubsequences: false)[0]
            return String(decoding: word.utf8.map { $0 &- 97 < 26 ? $0 - 32 : $0 }, as: UTF8.self)
        }
        #expect(verbs == expected)
        #expect(run.session.ending == .quit)
    }

    @Test func sequenceErrors() {
        #expect(Harness.reply(config, "RCPT TO:<a@example.com>") == "503 MAIL first (#5.5.1)")
        #expect(Harness.reply(config, "DATA") == "503 MAIL first (#5.5.1)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "DATA") == "503 RCPT first (#5.5.1)")
        #expect(
            Harness.reply(config, after: ["MAIL FROM:<a@b>", "RCPT TO:<x@elsewhere.example>"], "DATA")
                == "503 RCPT first (#5.5.1)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>", "HELO x"], "RCPT TO:<a@example.com>") == "503 MAIL first (#5.5.1)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>", "EHLO x"], "RCPT TO:<a@example.com>") == "503 MAIL first (#5.5.1)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>", "RSET"], "RCPT TO:<a@example.com>") == "503 MAIL first (#5.5.1)")
    }

    @Test func afterCompletedDataTheTransactionIsOver() {
        let lines = ["MAIL FROM:<a@b>", "RCPT TO:<a@example.com>", "DATA", "x", ".", "RCPT TO:<a@example.com>", "DATA"]
        let replies = Harness.replies(config, lines)
        #expect(replies[2] == "354 go ahead\r\n")
        #expect(replies[3] == "250 ok 1795561493 qp 14399\r\n")
        #expect(replies[4] == "503 MAIL first (#5.5.1)\r\n")
        #expect(replies[5] == "503 MAIL first (#5.5.1)\r\n")
        let refused = Harness.replies(
            Harness.configuration(Harness.standardFiles.merging(["databytes": "1\n"]) { $1 }),
            lines)
        #expect(refused[3] == "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n")
        #expect(refused[4] == "503 MAIL first (#5.5.1)\r\n")
    }

    @Test func unimplementedCommands() {
        for verb in ["EXPN x", "TURN", "ETRN x", "AUTH LOGIN", "STARTTLS", "BDAT 10", "SEND FROM:<a@b>", "SAML", "SOML"] {
            #expect(Harness.reply(config, verb) == "502 unimplemented (#5.5.1)", "\(verb)")
        }
    }

    // MARK: §2 greeting

    @Test func greetingFromSmtpgreeting() {
        var files = Harness.standardFiles
        files["smtpgreeting"] = "Welcome to  the   mail server \t \nsecond line\n"
        let run = Harness.run(Harness.configuration(files), "HELO x\r\nEHLO x\r\nQUIT\r\n")
        #expect(
            run.text
                == "220 Welcome to  the   mail server ESMTP\r\n250 Welcome to  the   mail server\r\n"
                + "250-Welcome to  the   mail server\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                + "221 Welcome to  the   mail server\r\n")
    }

    @Test func carriageReturnAndEightBitKept() {
        let control = Harness.control(bytes: [
            "me": Array("h\u{e9}llo".utf8.prefix(1)) + [0xE9] + Array("llo".utf8) + [0x01] + Array("ctl\r\n".utf8),
            "rcpthosts": Array("example.com\n".utf8),
        ])
        let run = Harness.run(RelayConfiguration(control: control), "QUIT\r\n")
        #expect(run.output == Array("220 h".utf8) + [0xE9] + Array("llo".utf8) + [0x01] + Array("ctl\r ESMTP\r\n221 h".utf8) + [0xE9] + Array("llo".utf8) + [0x01] + Array("ctl\r\r\n".utf8))
        #expect(control.warnings.contains { $0.kind == .carriageReturn })
    }

    @Test func emptyGreetingAndLeadingSpaces() {
        var files = Harness.standardFiles
        files["me"] = "\n"
        #expect(Harness.run(Harness.configuration(files), "QUIT\r\n").text == "220  ESMTP\r\n221 \r\n")
        files["me"] = ""
        #expect(Harness.run(Harness.configuration(files), "QUIT\r\n").text == "220  ESMTP\r\n221 \r\n")
        files["me"] = "mx.example.net\n"
        files["smtpgreeting"] = "\nignored second line\n"
        #expect(Harness.run(Harness.configuration(files), "QUIT\r\n").text == "220  ESMTP\r\n221 \r\n")
        files["smtpgreeting"] = nil
        files["me"] = "  host.with.spaces\n"
        #expect(Harness.run(Harness.configuration(files), "QUIT\r\n").text == "220   host.with.spaces ESMTP\r\n221   host.with.spaces\r\n")
    }

    @Test func noControlsGives421() {
        let run = Harness.run(Harness.configuration(["rcpthosts": "example.com\n"]), "HELO x\r\n")
        #expect(run.text == "421 unable to read controls (#4.3.0)\r\n")
        #expect(run.session.exitStatus == 1)
        #expect(run.session.exchanges.count == 1)
        #expect(run.session.connectionDecision.smtpd?.outcome == .tempfail)
        let alone = Harness.run(Harness.configuration(["smtpgreeting": "hello there\n"]), "QUIT\r\n")
        #expect(alone.text == "220 hello there ESMTP\r\n221 hello there\r\n")
    }

    @Test func quitUsesGreetingNotMe() {
        var files = Harness.standardFiles
        files["smtpgreeting"] = "greeting.example\n"
        #expect(Harness.run(Harness.configuration(files), "QUIT\r\n").text == "220 greeting.example ESMTP\r\n221 greeting.example\r\n")
    }

    // MARK: §3 framing

    @Test func framing() {
        #expect(Harness.run(config, "NOOP\n").afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, "NOOP \r\n").afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, "NOOP\r\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "NOOP\ttab\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "MAIL\tFROM:<a@b>\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, " NOOP\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "noop\r\n").afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, "NoOp\r\n").afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, "NOOPS\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "QUIT now please\r\n").afterGreeting == "221 mx.example.net\r\n")
        #expect(Harness.run(config, "HELP me\r\n").afterGreeting == "214 netqmail home page: http://qmail.org/netqmail\r\n")
        #expect(Harness.run(config, "RSET everything\r\n").afterGreeting == "250 flushed\r\n")
    }

    @Test func longLinesAndNulBytes() {
        let long = String(repeating: "x", count: 10000)
        #expect(Harness.run(config, long + "\r\n").afterGreeting == "502 unimplemented (#5.5.1)\r\n")
        #expect(Harness.run(config, "NOOP " + long + "\r\n").afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, input: Array("NOOP".utf8) + [0] + Array("garbage\r\n".utf8)).afterGreeting == "250 ok\r\n")
        #expect(Harness.run(config, input: Array("NO".utf8) + [0] + Array("OP\r\n".utf8)).afterGreeting == "502 unimplemented (#5.5.1)\r\n")
    }

    @Test func eofWithoutQuit() {
        let run = Harness.run(config, "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a@example.com>\r\nNOOP")
        #expect(run.afterGreeting == "250 mx.example.net\r\n250 ok\r\n250 ok\r\n")
        #expect(run.session.exitStatus == 1)
        #expect(run.session.ending == .clientClosed)
        #expect(run.session.envelopes.isEmpty)
    }

    @Test func linesAfterQuitAreNeverRead() {
        let run = Harness.run(config, "QUIT\r\nNOOP\r\nHELO x\r\n")
        #expect(run.afterGreeting == "221 mx.example.net\r\n")
        #expect(run.session.exchanges.count == 2)
    }

    // MARK: §4 HELO/EHLO

    @Test func heloForms() {
        #expect(Harness.reply(config, "HELO") == "250 mx.example.net")
        #expect(Harness.reply(config, "HELO some.name") == "250 mx.example.net")
        let ehlo = Harness.replies(config, ["EHLO"])
        #expect(ehlo == ["250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n"])
    }

    @Test func refusedDataTurnsTheBodyIntoCommands() {
        let run = Harness.run(
            config, "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\nSubject: p\r\n\r\n.\r\nQUIT\r\n")
        #expect(
            run.afterGreeting
                == "250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
                + "503 RCPT first (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n"
                + "502 unimplemented (#5.5.1)\r\n221 mx.example.net\r\n")
    }

    // MARK: §14 notqmail

    @Test func notqmailStrings() {
        let notqmail = Harness.configuration(variant: .notqmail)
        #expect(Harness.reply(notqmail, "HELP") == "214 notqmail home page: https://notqmail.org")
        let run = Harness.run(notqmail, "MAIL FROM:<a@b>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nbare\nline\r\n.\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n354 go ahead\r\n451 See https://cr.yp.to/docs/smtplf.html.\r\n")
        // Everything else is identical.
        let lines = ["EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<a@example.com>", "RCPT TO:<b@x.example>", "VRFY x", "QUIT"]
        var expected = Harness.replies(config, lines)
        var got = Harness.replies(notqmail, lines)
        expected.removeLast()
        got.removeLast()
        #expect(expected == got)
    }
}

import Foundation
import RelayEngine
import TestSupport
import Testing

/// Spec §17: rblsmtpd, and a differential test against the real Debian rblsmtpd.
@Suite struct RBLSMTPDTests {
    func config(_ options: RBLSMTPDOptions = RBLSMTPDOptions()) -> RelayConfiguration {
        var config = Harness.configuration()
        config.rblsmtpd = options
        return config
    }

    func env(_ value: String?) -> [String: String] {
        var env = Harness.environment()
        env["RBLSMTPD"] = value
        return env
    }

    @Test func passesWhenUnsetOrEmpty() {
        #expect(Harness.run(config(), environment: env(nil), "QUIT\r\n").text == "220 mx.example.net ESMTP\r\n221 mx.example.net\r\n")
        let empty = Harness.run(config(), environment: env(""), "QUIT\r\n")
        #expect(empty.text == "220 mx.example.net ESMTP\r\n221 mx.example.net\r\n")
        #expect(empty.session.connectionDecision.blocklist?.outcome == .accept)
    }

    @Test func blockingDialogue() {
        let run = Harness.run(
            config(), environment: env("-Your network is listed"),
            "EHLO x\r\nHELO y\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nRSET\r\nNOOP\r\nDATA\r\nVRFY x\r\nHELP\r\nSTARTTLS\r\nfoo\r\nQUIT\r\nNOOP\r\n")
        let refusal = "553 Your network is listed\r\n"
        #expect(
            run.text
                == "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n" + refusal
                + "250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n" + refusal + refusal + refusal + refusal + refusal
                + "221 rblsmtpd.local\r\n")
        #expect(run.session.exitStatus == 0)
        #expect(run.session.connectionDecision.blocklist?.outcome == .refuse)
        #expect(run.session.exchanges[3].decision?.subject == .mail)
        #expect(run.session.exchanges[3].decision?.address == "a@b")
        #expect(run.session.exchanges[4].decision?.outcome == .refuse)
        #expect(run.session.exchanges[4].decision?.address == "c@example.com")
        #expect(run.session.connectionDecision.finalStage == .rblsmtpd)
        #expect(run.session.exchanges.allSatisfy { $0.stage == .rblsmtpd })
    }

    @Test func temporaryAndBareHyphen() {
        #expect(Harness.reply(config(), environment: env("busy, try later"), "RCPT TO:<a@b>") == "451 busy, try later")
        #expect(Harness.reply(config(), environment: env("-"), "RCPT TO:<a@b>") == "553 ")
    }

    @Test func cutAndQuestionMarks() {
        let long = String(repeating: "a", count: 250)
        #expect(Harness.reply(config(), environment: env("-" + long), "DATA") == "553 " + String(repeating: "a", count: 200))
        #expect(Harness.reply(config(), environment: env("-caf\u{e9}\ttab"), "DATA") == "553 caf???tab")
        // The cut is in bytes, before the replacement: a two-byte character split at 200 leaves one '?'.
        let split = String(repeating: "b", count: 199) + "\u{e9}"
        #expect(Harness.reply(config(), environment: env("-" + split), "DATA") == "553 " + String(repeating: "b", count: 199) + "?")
    }

    @Test func nulInsideTheVerbMatchesNothing() {
        let run = Harness.run(config(), environment: env("-z"), input: Array("HELO\0x\r\nHELO x\0\r\nNO\0OP\r\n".utf8))
        #expect(run.text == "220 rblsmtpd.local\r\n553 z\r\n250 rblsmtpd.local\r\n553 z\r\n")
    }

    @Test func eofIsQuiet() {
        let run = Harness.run(config(), environment: env("x"), "HELO x\r\nNOOP")
        #expect(run.text == "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n")
        #expect(run.session.exitStatus == 0)
    }

    @Test func timeLimit() throws {
        var session = RelaySession(configuration: config(), childEnvironment: env("x"))
        _ = session.start()
        _ = session.receive(Array("HELO x\r\n".utf8))
        #expect(session.idle(seconds: 59).isEmpty)
        #expect(!session.isClosed)
        _ = session.receive(Array("NOOP\r\n".utf8))
        #expect(session.idle(seconds: 1).isEmpty)
        #expect(session.isClosed)
        #expect(session.ending == .timeout)
        #expect(session.exitStatus == 0)
        let short = config(try RBLSMTPDOptions(arguments: ["-t", "5"]))
        var five = RelaySession(configuration: short, childEnvironment: env("x"))
        _ = five.start()
        _ = five.idle(seconds: 5)
        #expect(five.isClosed)
        let zero = Harness.run(config(try RBLSMTPDOptions(arguments: ["-t0"])), environment: env("-go away"), "HELO x\r\n")
        #expect(zero.text == "553 go away\r\n")
        #expect(zero.session.exchanges.count == 1)
        #expect(zero.session.isClosed)
    }

    @Test func optionParsing() throws {
        let options = try RBLSMTPDOptions(arguments: ["-bc", "-t30", "-r", "zen.example", "-azone.example", "-B", "-C", "--"])
        #expect(options.options == [.bounce(true), .failClosed(true), .timeout(30), .rbl("zen.example"), .antiRBL("zone.example"), .bounce(false), .failClosed(false)])
        #expect(options.timeout == 30)
        #expect(throws: RBLSMTPDOptionsError.self) { try RBLSMTPDOptions(arguments: ["-R"]) }
        #expect(throws: RBLSMTPDOptionsError.self) { try RBLSMTPDOptions(arguments: ["-r"]) }
        #expect(try RBLSMTPDOptions(arguments: ["-t", "junk"]).timeout == 0)
    }

    @Test func blocklistZones() throws {
        var fixture = BlocklistFixture()
        fixture.list("192.0.2.9", in: "zen.example", text: "Listed by zen")
        fixture.allow("192.0.2.9", in: "white.example")
        fixture.fail(zone: "broken.example")
        func reply(_ arguments: [String]) throws -> String {
            Harness.reply(config(try RBLSMTPDOptions(arguments: arguments, fixture: fixture)), environment: env(nil), "RCPT TO:<a@example.com>")
        }
        #expect(try reply(["-r", "zen.example"]) == "451 Listed by zen")
        #expect(try reply(["-b", "-r", "zen.example"]) == "553 Listed by zen")
        // Options apply in order: -b after -r is too late.
        #expect(try reply(["-r", "zen.example", "-b"]) == "451 Listed by zen")
        let passed = "503 MAIL first (#5.5.1)"  // qmail-smtpd answered
        #expect(try reply(["-a", "white.example", "-r", "zen.example"]) == passed)
        #expect(try reply(["-r", "other.example"]) == passed)
        // A failed lookup: fail-open by default, 451 even with -b once a lookup failed.
        #expect(try reply(["-r", "broken.example"]) == passed)
        #expect(try reply(["-c", "-r", "broken.example"]) == "451 temporary RBL lookup error")
        #expect(try reply(["-b", "-r", "broken.example", "-r", "zen.example"]) == "451 Listed by zen")
        #expect(try reply(["-a", "broken.example", "-r", "zen.example"]) == passed)
        #expect(try reply(["-c", "-a", "broken.example", "-b", "-r", "zen.example"]) == "451 Listed by zen")
        // RBLSMTPD wins over zones.
        #expect(Harness.reply(config(try RBLSMTPDOptions(arguments: ["-r", "zen.example"], fixture: fixture)), environment: env(""), "RCPT TO:<a@example.com>") == passed)
        let run = Harness.run(config(try RBLSMTPDOptions(arguments: ["-r", "zen.example"], fixture: fixture)), environment: env(nil), "QUIT\r\n")
        #expect(run.session.connectionDecision.blocklist?.reasons.first?.kind == .listed(zone: "zen.example", text: "Listed by zen"))
    }

    @Test func fixtureFile() throws {
        let fixture = try BlocklistFixture.parse(
            "# zone address type text\nzen.example 192.0.2.9 TXT Listed; see https://zen.example/\nZEN.example 192.0.2.9 txt  second\nwhite.example 10.0.0.1 A\nbroken.example * FAIL\r\n",
            path: "rbl.txt")
        #expect(fixture.records["9.2.0.192.zen.example"]?.txt == ["Listed; see https://zen.example/", "second"])
        #expect(fixture.records["1.0.0.10.white.example"]?.hasAddress == true)
        #expect(fixture.failingZones == ["broken.example"])
        #expect(throws: BlocklistFixtureError.self) { try BlocklistFixture.parse("zen.example 1.2.3.4 MX x\n") }
        do {
            _ = try BlocklistFixture.parse("ok 1.2.3.4 A\nbad\n", path: "f")
        } catch {
            #expect("\(error)" == "f:2: expected: zone address TXT|A|FAIL [text]")
        }
        // TXT strings are concatenated, control bytes become '?'.
        let options = try RBLSMTPDOptions(arguments: ["-r", "zen.example"], fixture: fixture)
        #expect(Harness.reply(config(options), environment: env(nil), "DATA") == "451 Listed; see https://zen.example/second")
    }

    // MARK: - The real rblsmtpd

    @Test(.enabled(if: TestSupport.has("rblsmtpd"), "rblsmtpd (ucspi-tcp) is not installed"))
    func differentialAgainstRealRblsmtpd() throws {
        // rblsmtpd -t0 exits without reading its input: writing it must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let values: [String?] = [
            "-Your network is listed; see http://block.example/lookup", "Too many connections", "-", "x",
            "-" + String(repeating: "long ", count: 60), "-caf\u{e9}\tx\u{1}", "", nil,
        ]
        let vocabulary = [
            "HELO x", "EHLO y", "ehlo", "MAIL FROM:<a@b>", "mail", "RCPT TO:<c@d>", "DATA", "RSET", "NOOP", "NOOP\r",
            " noop", "VRFY x", "QUIT now", "", "junk line", "HELO\u{0}x", "NO\u{0}OP", "rset\tx", "Subject: hi", ".",
        ]
        var random = SplitMix64(seed: 17)
        for round in 0..<24 {
            let value = values[round % values.count]
            var input: [UInt8] = []
            for _ in 0..<(Int(random.next() % 8) + 1) {
                let line = vocabulary[Int(random.next() % UInt64(vocabulary.count))]
                input += Array(line.utf8) + (random.next() % 3 == 0 ? [10] : [13, 10])
            }
            if random.next() % 2 == 0 { input += Array("QUIT\r\nNOOP\r\n".utf8) }
            var environment = ["TCPREMOTEIP": "192.0.2.9"]
            environment["RBLSMTPD"] = value
            let arguments = round % 5 == 4 ? ["-t0"] : []
            let real = try TestSupport.run(
                "rblsmtpd", arguments + ["/bin/echo", "PASSED"], input: input, environment: environment)
            var config = Harness.configuration()
            config.rblsmtpd = try RBLSMTPDOptions(arguments: arguments)
            var session = RelaySession(configuration: config, childEnvironment: environment)
            var output = session.start()
            output += session.receive(input)
            session.clientClosed()
            if real.stdout == Array("PASSED\n".utf8) {
                #expect(session.connectionDecision.blocklist?.outcome == .accept, "round \(round)")
            } else {
                #expect(output == real.stdout, "round \(round): \(input)")
                #expect(real.status == 0)
                // The log line rblsmtpd prints on stderr carries the same refusal text.
                let logged = real.stderrText.split(separator: ":", maxSplits: 2).last.map { String($0.dropFirst()) } ?? ""
                let refusal = Exchange.lines(session.exchanges.first { !$0.reply.isEmpty && ($0.reply.starts(with: Array("553".utf8)) || $0.reply.starts(with: Array("451".utf8))) }?.reply ?? []).first
                if let refusal { #expect(logged.trimmingCharacters(in: .newlines) == refusal, "round \(round)") }
            }
        }
    }
}

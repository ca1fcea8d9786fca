import RelayEngine
import Testing

/// Spec §5 (MAIL parsing), §6 (RCPT), §7 (rcpthosts/morercpthosts), §8 (badmailfrom),
/// §9 (RELAYCLIENT), §10 (domain literals).
@Suite struct AddressTests {
    let config = Harness.configuration()

    // MARK: §5 MAIL

    @Test(arguments: [
        ("FROM:<a@b.example>", "a@b.example"),
        ("FROM:a@b.example", "a@b.example"),
        ("FROM: <a@b.example>", "a@b.example"),
        ("FROM:<a@b.example", "a@b.example"),
        ("FROM:a@b.example SIZE=100", "a@b.example"),
        ("TO:<a@b.example>", "a@b.example"),
        ("FROM:<>", ""),
        ("FROM:", ""),
        ("", ""),
        ("FROM:<@only.route>", ""),
        ("FROM:<@x.example,@y.example:a@b.example>", "a@b.example"),
        ("FROM:<\"quoted local\"@b.example>", "quoted local@b.example"),
        ("FROM:<a\\>b@b.example>", "a>b@b.example"),
        ("FROM:<\"a>b\"@b.example>", "a>b@b.example"),
        ("FROM:<a b@b.example>", "a b@b.example"),
        ("FROM:<<a@b.example>>", "<a@b.example"),
        ("FROM:<a@b.example>x@y.example>", "a@b.example"),
        ("FROM:\"<x>\"<a@b.example>", "x"),
        ("FROM:<A@B.Example>", "A@B.Example"),
    ])
    func mailArgument(argument: String, stored: String) {
        let line = argument.isEmpty ? "MAIL" : "MAIL " + argument
        let run = Harness.run(config, "\(line)\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.exchanges[1].reply == Array("250 ok\r\n".utf8))
        #expect(run.session.envelopes.first?.senderText == stored)
    }

    @Test func mailNulBytes() {
        let run = Harness.run(
            config,
            input: Array("MAIL FROM:<a@b.example".utf8) + [0] + Array("junk>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\n".utf8))
        #expect(run.session.envelopes.first?.senderText == "a@b.example")
        let quoted = Harness.run(
            config, input: Array("MAIL FROM:<\"a".utf8) + [0] + Array("b\"@c>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\n".utf8))
        #expect(quoted.session.envelopes.first?.senderText == "a")
    }

    @Test func addressLength899And900() {
        let local899 = String(repeating: "a", count: 899 - "@example.com".count) + "@example.com"
        let local900 = "a" + local899
        #expect(Harness.reply(config, "MAIL FROM:<\(local899)>") == "250 ok")
        #expect(Harness.reply(config, "MAIL FROM:<\(local900)>") == "555 syntax error (#5.5.4)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<\(local899)>") == "250 ok")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<\(local900)>") == "555 syntax error (#5.5.4)")
        // A refused MAIL leaves the previous transaction as it was.
        let replies = Harness.replies(config, ["MAIL FROM:<first@b>", "MAIL FROM:<\(local900)>", "RCPT TO:<a@example.com>"])
        #expect(replies == ["250 ok\r\n", "555 syntax error (#5.5.4)\r\n", "250 ok\r\n"])
    }

    @Test func secondMailReplacesSenderAndClearsRecipients() {
        let run = Harness.run(
            config,
            "MAIL FROM:<one@b>\r\nRCPT TO:<x@example.com>\r\nMAIL FROM:<Two@B>\r\nDATA\r\nRCPT TO:<y@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.exchanges[4].reply == Array("503 RCPT first (#5.5.1)\r\n".utf8))
        #expect(run.session.envelopes.first?.senderText == "Two@B")
        #expect(run.session.envelopes.first?.recipientTexts == ["y@example.com"])
    }

    @Test func sizeAboveDatabytesIsAcceptedAtMail() {
        var files = Harness.standardFiles
        files["databytes"] = "10\n"
        let replies = Harness.replies(
            Harness.configuration(files),
            ["MAIL FROM:<a@b> SIZE=100000", "RCPT TO:<a@example.com>", "DATA", "0123456789ABC", "."])
        #expect(replies[0] == "250 ok\r\n")
        #expect(replies[3] == "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n")
    }

    // MARK: §6 RCPT

    @Test(arguments: [
        ("<a@example.com>", "a@example.com"),
        ("<A@EXAMPLE.COM>", "A@EXAMPLE.COM"),
        ("<a@Example.Com>", "a@Example.Com"),
        ("<a@x.sub.example.org>", "a@x.sub.example.org"),
        ("<a@y.x.sub.example.org>", "a@y.x.sub.example.org"),
        ("<postmaster>", "postmaster"),
        ("<Postmaster>", "Postmaster"),
        ("<>", ""),
        ("", ""),
        ("<@example.com>", ""),
        ("<@other.example:a@example.com>", "a@example.com"),
        ("<a@other.example@example.com>", "a@other.example@example.com"),
        ("<\"a@other.example\"@example.com>", "a@other.example@example.com"),
        ("<a%other.example@example.com>", "a%other.example@example.com"),
        ("<a!b@example.com>", "a!b@example.com"),
        ("a@example.com", "a@example.com"),
        (" a@example.com", "a@example.com"),
        ("<a@example.com> NOTIFY=NEVER", "a@example.com"),
        ("<a@example.com", "a@example.com"),
    ])
    func acceptedRecipients(argument: String, stored: String) {
        let run = Harness.run(config, "MAIL FROM:<s@b>\r\nRCPT TO:\(argument)\r\nDATA\r\n.\r\n")
        #expect(run.session.exchanges[2].reply == Array("250 ok\r\n".utf8), "\(argument)")
        #expect(run.session.envelopes.first?.recipientTexts == [stored])
    }

    @Test func verbFormsForRcpt() {
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT <a@example.com>") == "250 ok")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "rcpt to:<a@example.com>") == "250 ok")
    }

    @Test(arguments: [
        "<a@example.com.>", "<a@www.example.com>", "<a@notexample.com>", "<a@SUB.Example.ORG.>",
        "<a@sub.example.org>", "<a@>", "<@example.com:a@other.example>", "<a@example.com@other.example>",
    ])
    func refusedRecipients(argument: String) {
        #expect(
            Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:\(argument)")
                == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
    }

    @Test func refusalExplainsItself() {
        let run = Harness.run(config, "MAIL FROM:<a@b>\r\nRCPT TO:<x@Mail.Elsewhere.example>\r\n")
        let decision = try! #require(run.session.exchanges[2].decision)
        #expect(decision.outcome == .refuse)
        #expect(decision.address == "x@Mail.Elsewhere.example")
        #expect(decision.reasons.map(\.kind) == [.notInRcpthosts(domain: "mail.elsewhere.example")])
        #expect(Fact.rcpthostsKeys(for: "mail.elsewhere.example") == ["mail.elsewhere.example", ".elsewhere.example", ".example"])
        #expect(decision.reasons[0].text.hasSuffix("(looked up \"mail.elsewhere.example\", \".elsewhere.example\", \".example\")"))
    }

    @Test func acceptanceNamesTheEntry() {
        let run = Harness.run(config, "MAIL FROM:<a@b>\r\nRCPT TO:<x@host.SUB.example.org>\r\nRCPT TO:<postmaster>\r\n")
        let decision = try! #require(run.session.exchanges[2].decision)
        #expect(decision.outcome == .accept)
        #expect(decision.reasons.first?.kind == .rcpthostsEntry(entry: ".sub.example.org"))
        #expect(decision.reasons.first?.source == SourceLocation(file: "control/rcpthosts", line: 2))
        #expect(run.session.exchanges[3].decision?.reasons.first?.kind == .noDomain)
    }

    // MARK: §7 rcpthosts / morercpthosts.cdb

    @Test func morercpthostsCDB() {
        let withCDB = Harness.configuration(cdb: ["hosted-a.example", ".hosted-b.example", "m1.example"])
        #expect(Harness.reply(withCDB, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@hosted-a.example>") == "250 ok")
        #expect(Harness.reply(withCDB, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@HOSTED-A.example>") == "250 ok")
        #expect(Harness.reply(withCDB, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@x.hosted-b.example>") == "250 ok")
        #expect(
            Harness.reply(withCDB, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@hosted-b.example>")
                == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
        let run = Harness.run(withCDB, "MAIL FROM:<a@b>\r\nRCPT TO:<a@M1.EXAMPLE>\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.first?.kind == .morercpthostsKey(key: "m1.example"))
    }

    @Test func missingRcpthostsIsAnOpenRelayAndIgnoresTheCDB() {
        let open = Harness.configuration(["me": "mx.example.net\n"], cdb: ["m1.example"])
        let run = Harness.run(open, "MAIL FROM:<a@b>\r\nRCPT TO:<a@other.example>\r\nRCPT TO:<postmaster>\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n250 ok\r\n")
        let decision = try! #require(run.session.exchanges[2].decision)
        #expect(decision.outcome == .relay)
        #expect(decision.reasons.map(\.kind) == [.rcpthostsMissing])
        #expect(open.control.warnings.contains { $0.kind == .rcpthostsMissing })
        #expect(open.control.warnings.contains { $0.kind == .morercpthostsIgnored })
    }

    @Test func emptyRcpthostsAllowsOnlyTheCDB() {
        let empty = Harness.configuration(["me": "mx.example.net\n", "rcpthosts": ""], cdb: ["m1.example"])
        #expect(Harness.reply(empty, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@M1.EXAMPLE>") == "250 ok")
        #expect(
            Harness.reply(empty, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@example.com>")
                == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
        #expect(Harness.reply(empty, after: ["MAIL FROM:<a@b>"], "RCPT TO:<postmaster>") == "250 ok")
    }

    @Test func morercpthostsTextAloneHasNoEffect() {
        var files = Harness.standardFiles
        files["morercpthosts"] = "hosted-a.example\n"
        let config = Harness.configuration(files)
        #expect(
            Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@hosted-a.example>")
                == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
        #expect(config.control.warnings.contains { $0.kind == .morercpthostsWithoutCDB })
        let stale = Harness.configuration(files.merging(["morercpthosts": "hosted-a.example\nnew.example\n"]) { $1 }, cdb: ["hosted-a.example"])
        #expect(stale.control.warnings.contains { $0.kind == .morercpthostsOutOfDate && $0.message.contains("new.example") })
    }

    @Test func fileSyntax() {
        let config = Harness.configuration([
            "me": "mx.example.net\n",
            "rcpthosts": "# comment.example\n\nExample.COM \t \n #notacomment.example\n*\n.\nlast.example",
        ])
        func reply(_ rcpt: String) -> String { Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:\(rcpt)") }
        #expect(reply("<a@example.com>") == "250 ok")
        #expect(reply("<a@last.example>") == "250 ok")
        #expect(reply("<a@comment.example>").hasPrefix("553"))
        #expect(reply("<a@ #notacomment.example>") == "250 ok")
        #expect(reply("<a@anything.example>").hasPrefix("553"))
        #expect(config.control.rcpthosts?.map(\.text) == ["Example.COM", " #notacomment.example", "*", ".", "last.example"])
        #expect(config.control.rcpthosts?.map { $0.location.line ?? 0 } == [3, 4, 5, 6, 7])
        #expect(config.control.warnings.filter { $0.kind == .wildcardEntry }.count == 2)
        // The entry with a leading blank is real (the RCPT above matched it): the warning says so.
        let blank = config.control.warnings.first { $0.kind == .whitespaceInEntry }
        #expect(blank?.message.contains("matches only an address with the same blank") == true)
        #expect(blank?.message.contains("never") == false)
    }

    @Test func aStarAnywhereIsNotAWildcard() {
        let config = Harness.configuration(["me": "mx.example.net\n", "rcpthosts": "mail.*.example\nexample.*\nexample.org\n"])
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@mail.x.example>").hasPrefix("553"))
        #expect(config.control.warnings.filter { $0.kind == .wildcardEntry }.map { $0.source?.line } == [1, 2])
    }

    @Test func crInControlFilesIsKept() {
        let config = Harness.configuration(["me": "mx.example.net\r\n", "rcpthosts": "example.com\r\nexample.net\n"])
        #expect(
            Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@example.com>")
                == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@example.net>") == "250 ok")
        #expect(config.control.warnings.contains { $0.kind == .carriageReturn && $0.source?.line == 1 })
    }

    // MARK: §8 badmailfrom

    @Test func badmailfrom() {
        var files = Harness.standardFiles
        files["badmailfrom"] = "spammer@bulk.example\n@bad2.example\nnodomain\n\n"
        let config = Harness.configuration(files)
        let refused = "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)"
        func rcpt(from sender: String, to recipient: String = "<a@example.com>") -> [String] {
            Harness.replies(config, ["MAIL FROM:\(sender)", "RCPT TO:\(recipient)"])
        }
        #expect(rcpt(from: "<spammer@bulk.example>") == ["250 ok\r\n", refused + "\r\n"])
        #expect(rcpt(from: "<SPAMMER@Bulk.Example>")[1] == refused + "\r\n")
        #expect(rcpt(from: "<anyone@bad2.example>")[1] == refused + "\r\n")
        #expect(rcpt(from: "<x@y@bad2.example>")[1] == refused + "\r\n")
        #expect(rcpt(from: "<anyone@sub.bad2.example>")[1] == "250 ok\r\n")
        #expect(rcpt(from: "<nodomain>")[1] == refused + "\r\n")
        #expect(rcpt(from: "<nodomain@x.example>")[1] == "250 ok\r\n")
        #expect(rcpt(from: "<>")[1] == "250 ok\r\n")
        #expect(rcpt(from: "<@bad2.example>")[1] == "250 ok\r\n")
        #expect(rcpt(from: "<spammer@bulk.example>", to: "<postmaster>")[1] == refused + "\r\n")
        // Even with RELAYCLIENT.
        let relay = Harness.replies(
            config, environment: Harness.environment(["RELAYCLIENT": ""]),
            ["MAIL FROM:<anyone@bad2.example>", "RCPT TO:<a@elsewhere.example>"])
        #expect(relay[1] == refused + "\r\n")
        let run = Harness.run(config, "MAIL FROM:<anyone@bad2.example>\r\nRCPT TO:<a@example.com>\r\n")
        let decision = try! #require(run.session.exchanges[2].decision)
        #expect(decision.reasons.first == Fact(.badmailfrom(entry: "@bad2.example"), source: SourceLocation(file: "control/badmailfrom", line: 2)))
    }

    // MARK: §9 RELAYCLIENT

    @Test func relayClient() {
        let empty = Harness.environment(["RELAYCLIENT": ""])
        let run = Harness.run(
            config, environment: empty,
            "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\nRCPT TO:<y@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.exchanges[2].reply == Array("250 ok\r\n".utf8))
        #expect(run.session.exchanges[2].decision?.outcome == .relay)
        #expect(run.session.exchanges[3].decision?.outcome == .accept)
        #expect(run.session.envelopes.first?.recipientTexts == ["x@elsewhere.example", "y@example.com"])
        // Even with rcpthosts missing or empty.
        for files in [["me": "mx.example.net\n"], ["me": "mx.example.net\n", "rcpthosts": ""]] {
            #expect(
                Harness.reply(Harness.configuration(files), environment: empty, after: ["MAIL FROM:<a@b>"], "RCPT TO:<x@elsewhere.example>")
                    == "250 ok")
        }
    }

    @Test func relayClientSuffixIsAppended() {
        let suffix = Harness.environment(["RELAYCLIENT": "@fixme.example"])
        let stored = Harness.stored(config, environment: suffix, ["<a@example.com>", "<postmaster>", "<>"])
        #expect(stored?.recipients == ["a@example.com@fixme.example", "postmaster@fixme.example", "@fixme.example"])
        let dot = Harness.stored(config, environment: Harness.environment(["RELAYCLIENT": ".relay"]), ["<a@example.com>"])
        #expect(dot?.recipients == ["a@example.com.relay"])
        let run = Harness.run(config, environment: suffix, "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\nQUIT\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n221 mx.example.net\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.contains { $0.kind == .relayClientAppended(suffix: "@fixme.example", stored: "x@elsewhere.example@fixme.example") } == true)
    }

    // MARK: §10 domain literals

    @Test func domainLiterals() {
        let config = Harness.configuration(
            ["me": "mx.example.net\n", "localiphost": "example.com\n", "rcpthosts": "example.com\n"],
            ipme: ["127.0.0.1", "10.1.1.1"])
        for literal in ["[10.1.1.1]", "[127.0.0.1]", "[0.0.0.0]", "[010.001.001.001]", "[266.1.1.1]"] {
            let stored = Harness.stored(config, ["<a@\(literal)>"])
            #expect(stored?.recipients == ["a@example.com"], "\(literal)")
        }
        for literal in ["[10.1.1.2]", "[10.1.1.1].", "[10.1.1.1", "10.1.1.1", "[10.1.1]", "[10.1.1.1.1]"] {
            #expect(
                Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@\(literal)>")
                    == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "\(literal)")
        }
        let literalEntry = Harness.configuration(
            ["me": "mx.example.net\n", "localiphost": "example.com\n", "rcpthosts": "example.com\n[10.1.1.2]\n"],
            ipme: ["10.1.1.1"])
        #expect(Harness.reply(literalEntry, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@[10.1.1.2]>") == "250 ok")
        // The sender is rewritten too (addrparse is shared).
        #expect(Harness.stored(config, sender: "<s@[10.1.1.1]>", ["<a@example.com>"])?.sender == "s@example.com")
        let run = Harness.run(config, "MAIL FROM:<a@b>\r\nRCPT TO:<a@[266.1.1.1]>\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.first?.kind == .domainLiteral(literal: "[266.1.1.1]", replacement: "example.com"))
    }

    @Test func localiphostDefaultsToMe() {
        let config = Harness.configuration(["me": "example.com\n", "rcpthosts": "example.com\n"], ipme: ["10.1.1.1"])
        #expect(Harness.stored(config, ["<a@[10.1.1.1]>"])?.recipients == ["a@example.com"])
        // Without me (greeting from smtpgreeting) there is no localiphost: no rewriting.
        let noMe = Harness.configuration(["smtpgreeting": "x\n", "rcpthosts": "example.com\n"], ipme: ["10.1.1.1"])
        #expect(Harness.reply(noMe, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@[10.1.1.1]>").hasPrefix("553"))
    }
}

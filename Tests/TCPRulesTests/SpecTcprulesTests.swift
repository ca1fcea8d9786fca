// One test per statement of qmail-behaviour.md §18 (tcprules / tcprulescheck).

import CDB
import TCPRules
import Testing

@Suite("§18 lookup order")
struct SpecLookupOrderTests {
    @Test func keysAreTriedInTcpserversOrder() throws {
        let found = try match("", RuleClient(ip: "1.2.3.4", host: "mail.example.com", info: "joe"))
        #expect(
            found.keysTried == [
                "joe@1.2.3.4", "joe@=mail.example.com", "1.2.3.4", "=mail.example.com", "1.2.3.", "1.2.", "1.",
                "=.example.com", "=.com", "=", "",
            ])
        #expect(found.key == nil)
    }

    @Test func firstPresentKeyWinsAndAtMostOneRuleApplies() throws {
        let rules = "1.2.:allow,A=\"prefix\"\n=mail.example.com:allow,B=\"host\"\n"
        let found = try match(rules, RuleClient(ip: "1.2.3.4", host: "mail.example.com"))
        #expect(found.key == "=mail.example.com")
        #expect(found.variables == [RuleVariable(name: "B", value: "host")])
    }

    @Test func anyHostKeyIsTriedOnlyWhenHostIsSet() throws {
        let rules = "=:deny\n"
        #expect(try check(rules, RuleClient(ip: "1.2.3.4")) == "default:\nallow connection\n")
        #expect(try check(rules, RuleClient(ip: "1.2.3.4", host: "x.org")) == "rule =:\ndeny connection\n")
        #expect(!(try match(rules, RuleClient(ip: "1.2.3.4")).keysTried.contains("=")))
    }

    @Test func emptyHostBuildsTheAnyHostKeyBeforeThePrefixes() throws {
        let found = try match("1.2.3.:deny\n=:allow\n", RuleClient(ip: "1.2.3.4", host: ""))
        #expect(found.keysTried == ["1.2.3.4", "=", ])
        #expect(found.key == "=")
        #expect(found.action == .allow)
    }

    @Test func exactHostBeatsIPPrefixWhichBeatsHostSuffix() throws {
        let rules = "=.example.com:allow,R=\"suffix\"\n1.2.3.:allow,R=\"prefix\"\n=host.example.com:allow,R=\"host\"\n"
        #expect(try match(rules, RuleClient(ip: "1.2.3.4", host: "host.example.com")).key == "=host.example.com")
        #expect(try match(rules, RuleClient(ip: "1.2.3.4", host: "other.example.com")).key == "1.2.3.")
        #expect(try match(rules, RuleClient(ip: "9.9.9.9", host: "other.example.com")).key == "=.example.com")
    }

    @Test func infoFormsExistOnlyForTheExactIPAndHost() throws {
        let rules = "joe@1.2.3.:deny\njoe@=.example.com:deny\n"
        let found = try match(rules, RuleClient(ip: "1.2.3.4", host: "a.example.com", info: "joe"))
        #expect(found.key == nil)
        #expect(try match("joe@1.2.3.4:deny\n", RuleClient(ip: "1.2.3.4", info: "joe")).action == .deny)
        #expect(try match("joe@=a.example.com:deny\n", RuleClient(ip: "1.2.3.4", host: "a.example.com", info: "joe")).action == .deny)
    }

    @Test func emptyInfoStillBuildsAtIP() throws {
        let found = try match("@1.2.3.4:deny\n", RuleClient(ip: "1.2.3.4", info: ""))
        #expect(found.keysTried.first == "@1.2.3.4")
        #expect(found.action == .deny)
    }

    @Test func noRulePrintsDefaultAndAllows() throws {
        #expect(try check("9.:deny\n", RuleClient(ip: "1.2.3.4")) == "default:\nallow connection\n")
        let found = try match("9.:deny\n", RuleClient(ip: "1.2.3.4"))
        #expect(found.isDefault && found.action == .allow && found.variables.isEmpty)
        #expect(found.summary == "default: allow")
    }

    @Test func missingTCPREMOTEIPCountsAsZeros() throws {
        // tcprulescheck uses 0.0.0.0; relaylab's CLI does the same (see RulesCLITests).
        #expect(try check("0.:deny\n", RuleClient(ip: "0.0.0.0")) == "rule 0.:\ndeny connection\n")
    }

    @Test(arguments: ["001.002.003.004:deny\n", "1.2.3:deny\n", "1.2.3.4 :deny\n", "=Host.Example.COM:deny\n"])
    func keysAreExactByteStrings(rules: String) throws {
        let client = RuleClient(ip: "1.2.3.4", host: TCPServer.escapeHostName("Host.Example.COM"))
        #expect(try match(rules, client).key == nil)
    }

    @Test func duplicateKeysFirstRuleInTheFileWins() throws {
        let rules = "1.2.3.4:allow,A=\"first\"\n1.2.3.4:deny\n1.2.3.4:allow,A=\"third\"\n"
        #expect(try check(rules, RuleClient(ip: "1.2.3.4")) == "rule 1.2.3.4:\nset environment variable A=first\nallow connection\n")
        #expect(try records(rules).count == 3, "tcprules keeps every duplicate record")
        let found = try match(rules, RuleClient(ip: "1.2.3.4"))
        #expect(found.line == 1)
    }
}

@Suite("§18 syntax")
struct SpecSyntaxTests {
    @Test func quoteIsWhateverFollowsTheEqualsSign() throws {
        let source = try parse("a:allow,D=xvaluex,C=/slashes/,S='single \"quoted\"'\n")
        #expect(
            source.rules[0].variables == [
                RuleVariable(name: "D", value: "value"), RuleVariable(name: "C", value: "slashes"),
                RuleVariable(name: "S", value: "single \"quoted\""),
            ])
    }

    @Test func valuesMayContainCommaColonEqualsAndHash() throws {
        let source = try parse("1.2.3.4:allow,X=\"a:b,c=d#e\"\n")
        #expect(source.rules[0].variables == [RuleVariable(name: "X", value: "a:b,c=d#e")])
        #expect(try records("1.2.3.4:allow,X=\"a:b,c=d#e\"\n") == [["1.2.3.4", "+X=a:b,c=d#e\0"]])
    }

    @Test func laterDuplicateNamesAreAllStoredAndTheLastWins() throws {
        #expect(try records("a:allow,X=\"1\",X=\"2\"\n") == [["a", "+X=1\0+X=2\0"]])
        let found = try match("a:allow,X=\"1\",X=\"2\"\n", RuleClient(ip: "a"))
        #expect(found.variables.map(\.value) == ["1", "2"])
        #expect(found.environment == ["X": "2"])
        #expect(try check("a:allow,X=\"1\",X=\"2\"\n", RuleClient(ip: "a")).contains("X=1\nset environment variable X=2\n"))
    }

    @Test func emptyNameIsStored() throws {
        #expect(try records("a:allow,=\"v\"\n") == [["a", "+=v\0"]])
        #expect(try match("a:allow,=\"v\"\n", RuleClient(ip: "a")).variables == [RuleVariable(name: "", value: "v")])
    }

    @Test func commentsEmptyBlankAndColonlessLinesAreIgnored() throws {
        let source = try parse("# comment: 1.2.3.4:deny\n\n   \n\t\nno colon here\n1.2.3.4 allow\n1:allow\n")
        #expect(source.rules.map(\.address) == ["1"])
        #expect(source.skippedLines.map(\.kind) == [.comment, .empty, .blank, .blank, .noColon, .noColon])
    }

    @Test func indentedHashIsNotAComment() throws {
        #expect(try parse("  #x:allow\n").rules.map(\.address) == ["  #x"])
        #expect(syntaxError(" # indented: comment?\n") != nil)
    }

    @Test func trailingBlanksTabsAndNewlineAreStripped() throws {
        #expect(try records("1.2.3.4 :allow \t \n") == [["1.2.3.4 ", ""]])
        #expect(try records("1:allow,X=\"y\"   ") == [["1", "+X=y\0"]])
    }

    @Test func carriageReturnIsNotStrippedSoCRLFFilesFail() throws {
        // Comments and empty CRLF lines pass (an empty "\r" line has no ':'); the first rule fails.
        let error = try #require(syntaxError("#x\r\n\r\n1.2.3.4:allow\r\n"))
        #expect(error.line == 3)
        #expect(error.reason == .carriageReturn)
        #expect(error.tcprulesOutput == Array("tcprules: fatal: unable to parse this line: 1.2.3.4:allow\r\n".utf8))
        #expect(error.description.hasPrefix("tcp.smtp:3: the line ends in a carriage return"))
    }
}

@Suite("§18 ranges")
struct SpecRangeTests {
    @Test func rangesExpandToSeparateKeys() throws {
        #expect(try records("10.0.1.4-7:allow\n").map { $0[0] } == ["10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7"])
        #expect(try records("10.0.2-3.:deny\n") == [["10.0.2.", "D\0"], ["10.0.3.", "D\0"]])
        #expect(try records("10-11.:allow\n").map { $0[0] } == ["10.", "11."])
    }

    @Test func upperBoundIsCappedAt255() throws {
        #expect(try records("1.2.3.250-300:allow\n").map { $0[0] } == (250...255).map { "1.2.3.\($0)" })
    }

    @Test func reversedRangeOrEmptyUpperBoundCreatesNothing() throws {
        #expect(try records("1.2.3.7-4:allow\n").isEmpty)
        #expect(try records("1.2.3.4-:allow\n").isEmpty)
        #expect(try parse("1.2.3.7-4:allow\n").rules[0].range?.keyCount == 0)
    }

    @Test func emptyLowerBoundCountsAsZero() throws {
        #expect(try records("1.2.3.-2:allow\n").map { $0[0] } == ["1.2.3.0", "1.2.3.1", "1.2.3.2"])
    }

    @Test func nonNumericBoundIsAParseError() throws {
        for line in ["a-b.c.d:allow", "1.2.3.x-7:allow", "1.2.3.4-7x:allow"] {
            let error = try #require(syntaxError(line + "\n"), "\(line)")
            if case .badRangeBound = error.reason {} else { Issue.record("\(line): \(error.reason)") }
        }
    }

    @Test func addressesWithAtOrEqualsAreStoredLiterally() throws {
        #expect(try records("joe@10.0.6.1-2:allow\n").map { $0[0] } == ["joe@10.0.6.1-2"])
        #expect(try records("=a-b.example.com:allow\n").map { $0[0] } == ["=a-b.example.com"])
    }

    @Test func boundsWrapLikeCUnsignedLongAndDropLeadingZeros() throws {
        #expect(try records("1.2.3.0-18446744073709551617:allow\n").map { $0[0] } == ["1.2.3.0", "1.2.3.1"])
        #expect(try records("1.2.3.99999999999999999999-3:allow\n").isEmpty)
        #expect(try records("010-012.:allow\n").map { $0[0] } == ["10.", "11.", "12."])
        #expect(try records("1-2.3-4.:allow\n").map { $0[0] } == ["1.3-4.", "2.3-4."])
    }
}

@Suite("§18 errors")
struct SpecErrorTests {
    static let rejected = [
        ":Allow", ": allow", ":allowed", ":allow,", ":allow,X", ":allow,X=", ":allow,X=\"y", ":allow X=\"y\"",
        ":allow,X=\"y\" ,Z=\"w\"", ":denyfoo", "1.2.3.4:", "a-b.c.d:allow", "1.2.3.x-7", "1.2.3.4-7x",
        " # indented: comment?",
    ]

    @Test(arguments: rejected)
    func lineIsRejectedWithTcprulesMessage(line: String) throws {
        // The spec lists "1.2.3.x-7" and "1.2.3.4-7x" as addresses; give them an action.
        let text = line.hasSuffix("x-7") || line.hasSuffix("7x") ? line + ":allow" : line
        let error = try #require(syntaxError("# first\n" + text + "  \n"))
        #expect(error.line == 2)
        #expect(error.tcprulesOutput == Array("tcprules: fatal: unable to parse this line: \(text)\n".utf8))
        #expect(error.description.hasPrefix("tcp.smtp:2: "))
        #expect(error.diagnostic.contains("\n    \(text)\n"))
    }

    @Test func messagesNameTheCause() throws {
        #expect(syntaxError(":Allow\n")!.message.contains("case-sensitive"))
        #expect(syntaxError(": allow\n")!.message.contains("blank"))
        #expect(syntaxError(":allowed\n")!.message.contains("found 'e'"))
        #expect(syntaxError(":allow,X=\"y\n")!.message.contains("not closed"))
        #expect(syntaxError("1.2.3.4:\n")!.message.contains("end of the line"))
        #expect(syntaxError("1.2.3.x-7:allow\n")!.message.contains("'x'"))
        #expect(syntaxError("2001:db8::1:allow\n")!.message.contains("ucspi-tcp-ipv6"))
    }

    @Test func caretPointsAtTheProblem() throws {
        let error = try #require(syntaxError("10.0.0.1:allowed\n"))
        #expect(error.column == 15)
        #expect(error.diagnostic.hasSuffix("    10.0.0.1:allowed\n                  ^"))
    }

    @Test func unreadableFileIsWordedLikeTcprulescheck() throws {
        #expect(throws: RulesError.unreadable(path: "/nonexistent/rules.cdb", .doesNotExist)) {
            try RulesDatabase.load(path: "/nonexistent/rules.cdb")
        }
        #expect(
            RulesError.unreadable(path: "/nonexistent/rules.cdb", .doesNotExist).description
                == "unable to read /nonexistent/rules.cdb: file does not exist")
    }
}

@Suite("§18 cdb format and tcprulescheck output")
struct SpecFormatTests {
    @Test func dataIsNulTerminatedItems() throws {
        #expect(try records("1.2.3.4:deny\n") == [["1.2.3.4", "D\0"]])
        #expect(try records("10.0.0.5:deny,G=\"x\"\n") == [["10.0.0.5", "D\0+G=x\0"]])
        #expect(try records("127.:allow,RELAYCLIENT=\"\"\n") == [["127.", "+RELAYCLIENT=\0"]])
        #expect(try records("1.2.3.4:allow\n") == [["1.2.3.4", ""]])
    }

    @Test func checkOutputListsVariablesThenTheDecision() throws {
        #expect(
            try check("127.:allow,RELAYCLIENT=\"\",RBLSMTPD=\"-no\"\n", RuleClient(ip: "127.0.0.1"))
                == "rule 127.:\nset environment variable RELAYCLIENT=\nset environment variable RBLSMTPD=-no\nallow connection\n")
    }

    @Test func denyStopsAtTheDItemSoNoVariablesArePrinted() throws {
        #expect(try check("10.0.0.5:deny,G=\"x\"\n", RuleClient(ip: "10.0.0.5")) == "rule 10.0.0.5:\ndeny connection\n")
    }

    @Test func foreignDataIsReadItemByItem() {
        // Items not starting with D or +, and a last item without NUL, are skipped; D anywhere denies.
        let data = Array("+A=1\0?junk\0+B\0D\0+C=3\0+D=4".utf8)
        #expect(
            RulesDatabase.tcprulescheckOutput(key: Array("k".utf8), data: data)
                == Array("rule k:\nset environment variable A=1\nset environment variable B\ndeny connection\n".utf8))
        let match = RulesDatabase.interpret(key: Array("k".utf8), data: data)
        #expect(match.action == .deny)
        #expect(match.variables == [RuleVariable(name: "A", value: "1"), RuleVariable(name: "C", value: "3")])
    }
}

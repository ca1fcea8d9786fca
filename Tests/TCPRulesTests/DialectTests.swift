// Where Debian's ucspi-tcp-ipv6 differs from stock ucspi-tcp (learned by running both).

import CDB
import TCPRules
import Testing

@Suite("ucspi-tcp-ipv6 dialect")
struct DialectTests {
    @Test func stockTakesTheFirstColonIPv6TakesTheFirstColonBeforeAnAction() throws {
        #expect(syntaxError("x:y:allow\n") != nil)
        #expect(try records("x:y:allow\n", dialect: .ucspiTCPIPv6) == [["x:y", ""]])
        #expect(try records("::1:allow\n", dialect: .ucspiTCPIPv6) == [["::1", ""]])
        #expect(try records("x:yallow:allow,A=\"b:deny\"\n", dialect: .ucspiTCPIPv6) == [["x:yallow", "+A=b:deny\0"]])
        // The colon before "allow" ends the address, so "2001:db8::allow" is the key "2001:db8:".
        #expect(try records("2001:db8::allow\n", dialect: .ucspiTCPIPv6) == [["2001:db8:", ""]])
        #expect(try records("2001:db8:::allow\n", dialect: .ucspiTCPIPv6) == [["2001:db8::", ""]])
    }

    @Test func bothRejectAnActionFollowedByJunk() throws {
        for dialect in RulesDialect.allCases {
            #expect(syntaxError("a:allow:deny\n", dialect: dialect)?.reason == .unexpectedCharacter(UInt8(ascii: ":")))
        }
    }

    @Test func ipv6TcprulesLoopsForeverOnLinesWithoutARuleColon() throws {
        for line in ["nocolon", "   ", "\t", "a:b", ":Allow", "1.2.3.4:"] {
            let error = try #require(syntaxError("1:allow\n" + line + "\n", dialect: .ucspiTCPIPv6), "\(line)")
            #expect(error.reason == .noRuleColon, "\(line)")
            #expect(error.line == 2)
            #expect(error.tcprulesOutput.isEmpty)
            #expect(error.message.contains("loops forever"))
        }
        // Comments and empty lines are fine in both.
        #expect(try parse("#c\n\n1:allow\n", dialect: .ucspiTCPIPv6).rules.count == 1)
    }

    @Test func staleLineBufferBytesTurnALoopIntoAParseError() throws {
        // The last line lacks a newline, so tcprules compares "al" + stale "low" from the line before.
        let stale = try #require(syntaxError("xxxxlow:allow\nx:al", dialect: .ucspiTCPIPv6))
        #expect(stale.reason == .missingAction)
        #expect(stale.tcprulesOutput == Array("tcprules: fatal: unable to parse this line: x:al\n".utf8))
        #expect(syntaxError("xxxxlow:allow\nx:al\n", dialect: .ucspiTCPIPv6)?.reason == .noRuleColon)
    }

    @Test func ipv6RangesNeedNumericBounds() throws {
        #expect(syntaxError("2001:db8::1-5:allow\n", dialect: .ucspiTCPIPv6)?.reason == .badRangeBound(Array("2001:db8::1".utf8)))
    }

    @Test func ipv6PrefixesEndAtColons() throws {
        let rules = """
            2001:db8::1:allow,A="exact"
            2001:db8::1::allow,A="p1"
            2001:db8::allow,A="p2"
            2001::allow,A="p3"
            1.2.:allow,A="v4"

            """
        func value(_ ip: String, _ dialect: RulesDialect? = nil) throws -> String? {
            try match(rules, RuleClient(ip: ip), dialect: dialect).variables.first?.value
        }
        let source = try RulesDatabase(source: rules, path: "r", dialect: .ucspiTCPIPv6)
        #expect(try value("2001:db8::1", .ucspiTCPIPv6) == "exact")
        #expect(try source.match(RuleClient(ip: "2001:db8::1:5")).variables.first?.value == "p1")
        #expect(try source.match(RuleClient(ip: "2001:db8::7")).keysTried == ["2001:db8::7", "2001:db8::", "2001:db8:"])
        #expect(try source.match(RuleClient(ip: "2001:db9::1")).key == "2001:")
        #expect(try source.match(RuleClient(ip: "1.2.3.4")).key == "1.2.")
        // Stock tcprulescheck ends prefixes only at dots.
        #expect(try source.match(RuleClient(ip: "2001:db8::7"), dialect: .ucspiTCP).key == nil)
        // An IPv4-mapped address is not what tcpserver looks up (it uses the dotted quad).
        #expect(try source.match(RuleClient(ip: "::ffff:1.2.3.4")).key == nil)
    }
}

@Suite("IP addresses as tcpserver prints them")
struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.9", "192.0.2.9"), ("::1", "::1"), ("::", "::"), ("1::", "1::"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("::ffff:1.2.3.4", "1.2.3.4"), ("::ffff:0:0102:0304", "::ffff:0:102:304"), ("fe80::0a:0", "fe80::a:0"),
    ])
    func formatsLikeTcpserver(input: String, printed: String) {
        #expect(TCPServer.formatIP(input) == printed)
    }

    @Test func ip6FormatKeepsMappedAddressesAsIPv6() {
        #expect(IPAddress("1.2.3.4")?.ip6Format == "::ffff:1.2.3.4")
        #expect(IPAddress("::ffff:127.0.0.1")?.ip6Format == "::ffff:127.0.0.1")
        #expect(IPAddress("::1")?.isIPv4 == false)
        #expect(IPAddress("::ffff:1.2.3.4")?.isIPv4 == true)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.256", "1.2.3.4.5", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", ":1", "1.2.3.4:5"])
    func rejectsNonAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }
}

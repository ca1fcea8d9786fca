import Foundation
import RelayEngine
import TCPRules
import TestSupport
import Testing

/// Spec §16 and the composed chain: tcpserver's rules decide, their variables reach rblsmtpd and
/// qmail-smtpd, and each decision says why.
@Suite struct ChainTests {
    static let rulesText = """
        # test rules
        127.:allow,RELAYCLIENT=""
        10.1.9.:allow
        10.1.:allow,RELAYCLIENT=""
        10.2.:allow,RELAYCLIENT="@fixme.example"
        6.6.6.:allow,TCPREMOTEIP="6.6.6.6",TCPREMOTEHOST="fake.example"
        =relay.partner.example:allow,RELAYCLIENT=""
        203.0.113.:deny,RELAYCLIENT=""
        198.51.100.:allow,RBLSMTPD="-Your network is listed"
        =.pool.isp.example:allow,RBLSMTPD="Dynamic addresses: try later"
        =:allow
        :allow,RBLSMTPD="No reverse DNS"

        """

    func config(rules: RulesDatabase? = nil, rblsmtpd: Bool = true, environment: [String: String] = [:]) throws -> RelayConfiguration {
        var config = Harness.configuration(environment: environment)
        config.rules = try rules ?? RulesDatabase(source: Self.rulesText, path: "tcp.smtp")
        config.rblsmtpd = rblsmtpd ? RBLSMTPDOptions() : nil
        config.tcpserver = TCPServerOptions(lookupRemoteInfo: false, localHostName: "mx.example.net")
        return config
    }

    func connection(_ ip: String, ptr: String? = nil) -> ClientConnection {
        ClientConnection(clientIP: ip, clientPort: 40001, serverIP: "192.0.2.25", serverPort: 25, ptrName: ptr)
    }

    @Test func denyIsASilentClose() throws {
        var session = RelaySession(configuration: try config(), connection: connection("203.0.113.5"))
        #expect(session.start().isEmpty)
        #expect(session.isClosed)
        #expect(session.ending == .denied)
        #expect(session.exitStatus == 100)
        #expect(session.receive(Array("HELO x\r\n".utf8)).isEmpty)
        let decision = session.connectionDecision.tcpserver
        #expect(decision.outcome == .deny)
        #expect(decision.reasons.first == Fact(.ruleMatched(key: "203.0.113.", action: "deny"), source: SourceLocation(file: "tcp.smtp", line: 8)))
        // A deny rule's variables are never used.
        #expect(session.connectionDecision.environment.isEmpty)
        #expect(session.exchanges.count == 1)
        #expect(session.exchanges[0].stage == .tcpserver)
        #expect(session.exchanges[0].closedAfter)
    }

    @Test func missingRulesFile() throws {
        let missing = try config(rules: RulesDatabase.missing(path: "/nonexistent/rules.cdb"))
        var dropped = RelaySession(configuration: missing, connection: connection("192.0.2.9"))
        #expect(dropped.start().isEmpty)
        #expect(dropped.isClosed)
        #expect(dropped.exitStatus == 111)
        #expect(dropped.warnings.contains { $0.kind == .rulesMissing })
        var allowMissing = missing
        allowMissing.tcpserver.allowMissingRules = true
        var allowed = RelaySession(configuration: allowMissing, connection: connection("192.0.2.9"))
        #expect(String(decoding: allowed.start(), as: UTF8.self) == "220 mx.example.net ESMTP\r\n")
        // Without -x at all, every client is allowed.
        var none = try config(rblsmtpd: false)
        none.rules = nil
        var open = RelaySession(configuration: none, connection: connection("203.0.113.5"))
        #expect(!open.start().isEmpty)
        #expect(open.connectionDecision.tcpserver.reasons.first?.kind == .noRules)
    }

    @Test func relayClientFromARuleIsExplained() throws {
        let run = Harness.run(
            try config(), connection: connection("10.1.2.15", ptr: "ws15.office.example.net"),
            "EHLO ws15\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<friend@elsewhere.example>\r\nRCPT TO:<a@example.com>\r\nQUIT\r\n")
        #expect(run.afterGreeting.hasSuffix("250 ok\r\n250 ok\r\n250 ok\r\n221 mx.example.net\r\n"))
        let relay = try #require(run.session.exchanges[3].decision)
        #expect(relay.outcome == .relay)
        #expect(relay.reasons.first == Fact(.relayClient(value: ""), source: SourceLocation(file: "tcp.smtp", line: 4)))
        #expect(relay.description == "rcpt <friend@elsewhere.example>: relay: RELAYCLIENT is set (\"\") (tcp.smtp:4)")
        let local = try #require(run.session.exchanges[4].decision)
        #expect(local.outcome == .accept)
        #expect(local.reasons.contains(Fact(.rcpthostsEntry(entry: "example.com"), source: SourceLocation(file: "control/rcpthosts", line: 1))))
        #expect(run.session.connectionDecision.ruleKey == "10.1.")
        #expect(run.session.connectionDecision.environment["TCPREMOTEHOST"] == "ws15.office.example.net")
    }

    @Test func longerPrefixWithoutRelayClient() throws {
        let run = Harness.run(try config(), connection: connection("10.1.9.20"), "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n")
        #expect(run.afterGreeting == "250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n")
    }

    @Test func relayClientSuffixFromARule() throws {
        let run = Harness.run(try config(), connection: connection("10.2.0.1"), "MAIL FROM:<a@b>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n.\r\n")
        #expect(run.session.envelopes.first?.recipientTexts == ["x@y.example@fixme.example"])
    }

    @Test func ruleVariablesOverrideTCPVariables() throws {
        let run = Harness.run(try config(), connection: connection("6.6.6.1", ptr: "Real.Example"), "MAIL FROM:<a@b>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.envelopes.first?.receivedText.hasPrefix("Received: from fake.example (6.6.6.6)") == true)
    }

    @Test func ptrNamesAreLowerCasedAndEscaped() throws {
        let run = Harness.run(
            try config(), connection: connection("198.19.1.11", ptr: "MX1.Customer.Example.ORG"),
            "MAIL FROM:<a@b>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.envelopes.first?.receivedText.hasPrefix("Received: from mx1.customer.example.org (198.19.1.11)") == true)
        let weird = Harness.run(
            try config(), connection: connection("198.19.1.12", ptr: "we ird.example.com"),
            "MAIL FROM:<a@b>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n.\r\n")
        #expect(weird.session.connectionDecision.environment["TCPREMOTEHOST"] == "we\\040ird.example.com")
        #expect(weird.session.envelopes.first?.receivedText.hasPrefix("Received: from we?040ird.example.com (198.19.1.12)") == true)
        // Exact =host rules match the lower-cased name.
        let partner = Harness.run(try config(), connection: connection("198.19.1.12", ptr: "Relay.Partner.Example"), "QUIT\r\n")
        #expect(partner.session.connectionDecision.ruleKey == "=relay.partner.example")
        // -p: a PTR name that does not resolve back leaves TCPREMOTEHOST unset.
        var paranoid = try config()
        paranoid.tcpserver.paranoid = true
        var forged = connection("198.19.1.12", ptr: "relay.partner.example")
        forged.ptrAddresses = ["192.0.2.1"]
        let run2 = Harness.run(paranoid, connection: forged, "QUIT\r\n")
        #expect(run2.session.connectionDecision.environment["TCPREMOTEHOST"] == nil)
        #expect(run2.text == "220 rblsmtpd.local\r\n221 rblsmtpd.local\r\n")
    }

    @Test func rblsmtpdFromRules() throws {
        let listed = Harness.run(try config(), connection: connection("198.51.100.23", ptr: "mail.listed.example"), "HELO x\r\nRCPT TO:<a@example.com>\r\n")
        #expect(listed.text == "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 Your network is listed\r\n")
        let blocklist = try #require(listed.session.connectionDecision.blocklist)
        #expect(blocklist.outcome == .refuse)
        #expect(blocklist.reasons.first == Fact(.rblsmtpdVariable(value: "-Your network is listed"), source: SourceLocation(file: "tcp.smtp", line: 9)))
        let dynamic = Harness.run(try config(), connection: connection("100.64.3.7", ptr: "dyn-100-64-3-7.pool.isp.example"), "RCPT TO:<a@b>\r\n")
        #expect(dynamic.afterGreeting == "451 Dynamic addresses: try later\r\n")
        let noPTR = Harness.run(try config(), connection: connection("172.20.5.9"), "RCPT TO:<a@b>\r\n")
        #expect(noPTR.afterGreeting == "451 No reverse DNS\r\n")
        // Without rblsmtpd in the chain the variable is ignored.
        let plain = Harness.run(try config(rblsmtpd: false), connection: connection("172.20.5.9"), "QUIT\r\n")
        #expect(plain.text == "220 mx.example.net ESMTP\r\n221 mx.example.net\r\n")
    }

    @Test func inheritedRelayClientReachesEveryone() throws {
        let run = Harness.run(
            try config(environment: ["RELAYCLIENT": ""]), connection: connection("198.19.1.10", ptr: "mail.partner-a.example"),
            "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.first == Fact(.relayClient(value: ""), source: SourceLocation(file: "tcpserver environment")))
        // The connection's own extra environment too.
        var extra = connection("198.19.1.10", ptr: "mail.partner-a.example")
        extra.extraEnvironment = ["RELAYCLIENT": ""]
        let run2 = Harness.run(try config(), connection: extra, "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n")
        #expect(run2.afterGreeting == "250 ok\r\n250 ok\r\n")
    }

    @Test func twoConfigurationsSideBySide() throws {
        let today = try config()
        var tomorrow = try config()
        tomorrow.control = Harness.control(["me": "mx.example.net\n", "rcpthosts": "example.com\nelsewhere.example\n"])
        let input = "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n"
        let connection = connection("198.19.1.10", ptr: "mail.partner-a.example")
        let a = Harness.run(today, connection: connection, input)
        let b = Harness.run(tomorrow, connection: connection, input)
        #expect(a.session.exchanges[2].decision?.outcome == .refuse)
        #expect(b.session.exchanges[2].decision?.outcome == .accept)
    }

    @Test func decisionsRoundTripThroughJSON() throws {
        let run = Harness.run(
            try config(), connection: connection("10.2.0.1", ptr: "x.example"),
            "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<postmaster>\r\n")
        let decisions = run.decisions + [run.session.connectionDecision.tcpserver]
        #expect(decisions.count >= 5)
        let data = try JSONEncoder().encode(decisions)
        #expect(try JSONDecoder().decode([Decision].self, from: data) == decisions)
        #expect(run.session.connectionDecision.finalStage == .qmailSMTPD)
    }

    @Test func invalidAddressIsDenied() throws {
        var session = RelaySession(configuration: try config(), connection: connection("not-an-ip"))
        #expect(session.start().isEmpty)
        #expect(session.connectionDecision.tcpserver.outcome == .deny)
    }

    @Test func capturedRelayConfiguration() throws {
        let folder = try CaptureFixtures.folder("qmail-relay")
        let config = folder.configuration(port: 25, credentials: .rejectAll)
        #expect(config.control.warnings.isEmpty, "\(config.control.warnings)")
        let run = Harness.run(
            config, connection: ClientConnection(clientIP: "198.19.1.14", ptrName: "out.hosted-client.example"),
            "MAIL FROM:<ops@hosted-client.example>\r\nRCPT TO:<info@customer.EXAMPLE.info>\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.first?.kind == .morercpthostsKey(key: "customer.example.info"))
    }
}

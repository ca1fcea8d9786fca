import RelayEngine
import TCPRules
import Testing

/// Where the variables the programs explain (RELAYCLIENT, RBLSMTPD) came from: the rule that set
/// them (which wins over tcpserver's own environment), tcpserver's environment, or a given
/// environment; and rblsmtpd's decision read on its own.
@Suite struct EnvironmentSourceTests {
    static let rules = """
        10.1.:allow,RELAYCLIENT=""
        198.51.100.:allow,RBLSMTPD="-Your network is listed"
        :allow

        """

    func config(environment: [String: String] = [:], rblsmtpd: Bool = true) throws -> RelayConfiguration {
        var config = Harness.configuration(environment: environment)
        config.rules = try RulesDatabase(source: Self.rules, path: "tcp.smtp")
        config.rblsmtpd = rblsmtpd ? RBLSMTPDOptions() : nil
        config.tcpserver = TCPServerOptions(lookupRemoteInfo: false, localHostName: "mx.example.net")
        return config
    }

    func connection(_ ip: String) -> ClientConnection {
        ClientConnection(clientIP: ip, clientPort: 40001, serverIP: "192.0.2.25", serverPort: 25, ptrName: "mail.example.org")
    }

    static let relayAttempt = "MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n"

    @Test func aRuleVariableWinsOverTheInheritedOne() throws {
        let run = Harness.run(
            try config(environment: ["RELAYCLIENT": "@inherited.example"]), connection: connection("10.1.2.3"), Self.relayAttempt)
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n")
        #expect(run.session.exchanges[2].decision?.reasons.first == Fact(.relayClient(value: ""), source: SourceLocation(file: "tcp.smtp", line: 1)))
    }

    @Test func inheritedVariablesComeFromTCPServersEnvironment() throws {
        let run = Harness.run(
            try config(environment: ["RELAYCLIENT": "", "RBLSMTPD": ""]), connection: connection("192.0.2.77"), Self.relayAttempt)
        #expect(run.session.exchanges[2].decision?.reasons.first == Fact(.relayClient(value: ""), source: SourceLocation(file: "tcpserver environment")))
        let blocklist = try #require(run.session.blocklist)
        #expect(blocklist.reasons.first == Fact(.rblsmtpdVariable(value: ""), source: SourceLocation(file: "tcpserver environment")))
    }

    @Test func aGivenEnvironmentIsTheSource() throws {
        var environment = Harness.environment(["RELAYCLIENT": "", "RBLSMTPD": ""])
        environment["TCPREMOTEIP"] = "192.0.2.77"
        var session = RelaySession(configuration: try config(), childEnvironment: environment)
        _ = session.start()
        _ = session.receive(Array(Self.relayAttempt.utf8))
        #expect(session.exchanges[2].decision?.reasons.first == Fact(.relayClient(value: ""), source: SourceLocation(file: "environment")))
        #expect(session.blocklist?.reasons.first == Fact(.rblsmtpdVariable(value: ""), source: SourceLocation(file: "environment")))
    }

    @Test func theBlocklistDecisionIsTheConnections() throws {
        for (ip, rblsmtpd) in [("198.51.100.9", true), ("192.0.2.77", true), ("192.0.2.77", false), ("10.1.2.3", true)] {
            let run = Harness.run(try config(rblsmtpd: rblsmtpd), connection: connection(ip), "QUIT\r\n")
            #expect(run.session.blocklist == run.session.connectionDecision.blocklist)
            #expect((run.session.blocklist != nil) == rblsmtpd)
        }
        let listed = Harness.run(try config(), connection: connection("198.51.100.9"), "QUIT\r\n")
        #expect(listed.session.blocklist?.outcome == .refuse)
        #expect(listed.session.blocklist?.reasons.first == Fact(.rblsmtpdVariable(value: "-Your network is listed"), source: SourceLocation(file: "tcp.smtp", line: 2)))
    }
}

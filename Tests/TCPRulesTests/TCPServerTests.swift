// One test per statement of qmail-behaviour.md §16 (tcpserver), plus the IPv6 server's variables.

import TCPRules
import Testing

@Suite("§16 tcpserver")
struct TCPServerTests {
    static let connection = TCPServerConnection(
        localIP: "192.0.2.1", localPort: 25, remoteIP: "192.0.2.9", remotePort: 40000,
        remotePTR: "Mail.HOST.Example.COM", remoteInfo: "joe", localDNSName: "MX.example.net")
    static let options = TCPServerOptions()

    func accept(
        _ rules: String?, connection: TCPServerConnection = connection, options: TCPServerOptions = options,
        inherited: [String: String] = [:], dialect: RulesDialect = .ucspiTCP
    ) throws -> TCPServerOutcome {
        let database = try rules.map { try RulesDatabase(source: $0, path: "tcp.smtp", dialect: dialect) }
        return try TCPServer.accept(connection, options: options, rules: database, inheritedEnvironment: inherited)
    }

    @Test func environmentHasTheTCPVariables() throws {
        let outcome = try accept(nil, inherited: ["PATH": "/bin"])
        #expect(outcome.allowed)
        #expect(
            outcome.environment == [
                "PATH": "/bin", "PROTO": "TCP", "TCPLOCALIP": "192.0.2.1", "TCPLOCALPORT": "25",
                "TCPLOCALHOST": "mx.example.net", "TCPREMOTEIP": "192.0.2.9", "TCPREMOTEPORT": "40000",
                "TCPREMOTEHOST": "mail.host.example.com", "TCPREMOTEINFO": "joe",
            ])
        #expect(outcome.match == nil)
        #expect(outcome.reason == "no rules (-x not given): allow")
    }

    @Test func localHostComesFromDashLOrDNSAndIsUnsetWhenUnknown() throws {
        var options = Self.options
        options.localHostName = "0"
        #expect(try accept(nil, options: options).environment["TCPLOCALHOST"] == "0")
        var connection = Self.connection
        connection.localDNSName = nil
        #expect(try accept(nil, connection: connection, inherited: ["TCPLOCALHOST": "stale"]).environment["TCPLOCALHOST"] == nil)
    }

    @Test func remoteHostOnlyWithDashHAndAWorkingPTR() throws {
        var options = Self.options
        options.lookupRemoteHost = false
        let withoutH = try accept(nil, options: options, inherited: ["TCPREMOTEHOST": "inherited"])
        #expect(withoutH.environment["TCPREMOTEHOST"] == nil)
        #expect(withoutH.remoteHost == nil)
        var connection = Self.connection
        connection.remotePTR = nil
        #expect(try accept(nil, connection: connection).environment["TCPREMOTEHOST"] == nil)
    }

    @Test func remoteInfoOnlyWithDashRAndAnIdentAnswer() throws {
        var options = Self.options
        options.lookupRemoteInfo = false
        #expect(try accept(nil, options: options, inherited: ["TCPREMOTEINFO": "x"]).environment["TCPREMOTEINFO"] == nil)
        var connection = Self.connection
        connection.remoteInfo = nil
        #expect(try accept(nil, connection: connection).environment["TCPREMOTEINFO"] == nil)
    }

    @Test func ruleVariablesAreAppliedAfterwardsAndOverride() throws {
        let outcome = try accept("192.0.2.9:allow,TCPREMOTEIP=\"6.6.6.6\",RELAYCLIENT=\"\",X=\"1\",X=\"2\"\n")
        #expect(outcome.environment["TCPREMOTEIP"] == "6.6.6.6")
        #expect(outcome.environment["RELAYCLIENT"] == "")
        #expect(outcome.environment["X"] == "2")
        #expect(outcome.reason == "rule 192.0.2.9: allow (tcp.smtp:1)")
    }

    @Test func rulesLookUpTheRealAddressNotAnOverriddenOne() throws {
        let outcome = try accept("192.0.2.9:allow,TCPREMOTEIP=\"6.6.6.6\"\n6.6.6.6:deny\n")
        #expect(outcome.allowed)
    }

    @Test func rulesCanOnlySetVariablesAndInheritedRelayclientPassesThrough() throws {
        let outcome = try accept("192.0.2.9:allow,X=\"\"\n", inherited: ["RELAYCLIENT": ""])
        #expect(outcome.environment["RELAYCLIENT"] == "")
        let other = try accept(":allow\n", inherited: ["RELAYCLIENT": "", "RBLSMTPD": "x"])
        #expect(other.environment["RELAYCLIENT"] == "" && other.environment["RBLSMTPD"] == "x")
    }

    @Test func denyClosesSilentlyAndItsVariablesAreNeverUsed() throws {
        let outcome = try accept("192.0.2.:deny,RELAYCLIENT=\"\"\n", inherited: ["PATH": "/bin"])
        #expect(!outcome.allowed)
        #expect(outcome.environment.isEmpty)
        #expect(outcome.match?.action == .deny)
        #expect(outcome.reason == "rule 192.0.2.: deny (tcp.smtp:1)")
    }

    @Test func missingRulesFileDropsTheConnectionUnlessDashX() throws {
        let missing = RulesDatabase.missing(path: "/nonexistent/rules.cdb")
        let dropped = try TCPServer.accept(
            Self.connection, options: Self.options, rules: missing, inheritedEnvironment: [:])
        #expect(!dropped.allowed)
        #expect(dropped.reason == "dropping connection, unable to read /nonexistent/rules.cdb: file does not exist")
        var options = Self.options
        options.allowMissingRules = true
        let allowed = try TCPServer.accept(Self.connection, options: options, rules: missing, inheritedEnvironment: [:])
        #expect(allowed.allowed)
        #expect(allowed.environment["TCPREMOTEIP"] == "192.0.2.9")
        // -X forgives only a missing file, not an unreadable one.
        let denied = RulesDatabase.unreadable(path: "/etc/tcp.smtp.cdb", failure: .accessDenied)
        let result = try TCPServer.accept(Self.connection, options: options, rules: denied, inheritedEnvironment: [:])
        #expect(!result.allowed)
        #expect(result.reason.hasSuffix("unable to read /etc/tcp.smtp.cdb: access denied"))
    }

    @Test func loadForTCPServerTurnsMissingFilesIntoAnUnreadableDatabase() throws {
        let database = try RulesDatabase.loadForTCPServer(path: "/nonexistent/rules.cdb")
        #expect(database.kind == .unreadable)
        #expect(database.readFailure?.isMissingFile == true)
        #expect(throws: RulesError.unreadable(path: "/nonexistent/rules.cdb", .doesNotExist)) {
            try database.match(RuleClient(ip: "1.2.3.4"))
        }
    }

    @Test(arguments: [
        ("Mail.HOST.Example.COM", "mail.host.example.com"), ("we ird.example.com", "we\\040ird.example.com"),
        ("Ex+ample", "ex\\053ample"), ("mail.example.com.", "mail.example.com"), (".", "."), ("x_y-z.0", "x_y-z.0"),
        ("caf\u{E9}", "caf\\303\\251"), ("a\\b", "a\\134b"),
    ])
    func ptrNamesAreLowerCasedAndEscaped(ptr: String, host: String) {
        #expect(TCPServer.escapeHostName(ptr) == host)
    }

    @Test func capitalisedHostKeysNeverMatchDNSNames() throws {
        let outcome = try accept("=Mail.HOST.Example.COM:deny\n")
        #expect(outcome.allowed)
        #expect(try accept("=mail.host.example.com:deny\n").allowed == false)
    }

    @Test func paranoidDropsAPTRWhoseAddressesDoNotIncludeTheClient() throws {
        var options = Self.options
        options.paranoid = true
        var connection = Self.connection
        connection.remotePTRAddresses = ["192.0.2.10", "2001:db8::1"]
        let forged = try accept("=mail.host.example.com:deny\n", connection: connection, options: options)
        #expect(forged.remoteHost == nil && forged.allowed)
        #expect(forged.match?.keysTried.contains("=mail.host.example.com") == false)
        connection.remotePTRAddresses = ["192.0.2.10", "192.0.2.9"]
        #expect(try accept(nil, connection: connection, options: options).remoteHost == "mail.host.example.com")
        // Without -p the forward check is not made.
        connection.remotePTRAddresses = []
        #expect(try accept(nil, connection: connection).remoteHost == "mail.host.example.com")
    }

    @Test(arguments: [
        ("6191, 23 : USERID : UNIX : joe x\r\n", "joex"), ("6191,23:USERID:UNIX:joe\n", "joe"),
        ("6191 , 23 : ERROR : NO-USER\r\n", ""), ("1,2:USERID:OTHER:a:b\tc\n", "a:bc"),
        ("1,2:USERID:UNIX:first\nsecond", "first"),
    ])
    func identAnswerKeepsWhatFollowsTheThirdColon(response: String, info: String) {
        #expect(TCPServer.remoteInfo(fromIdentResponse: response) == info)
    }

    @Test func identAnswerIsCutAfter257Bytes() {
        let long = "1,2:USERID:UNIX:" + String(repeating: "a", count: 400) + "\n"
        #expect(TCPServer.remoteInfo(fromIdentResponse: long).count == 257)
    }

    @Test func ipv6ClientsGetUcspiTcpIpv6sVariables() throws {
        let connection = TCPServerConnection(
            localIP: "2001:db8::25", localPort: 25, remoteIP: "2001:DB8:0:0:0:0:0:9", remotePort: 1234)
        let outcome = try accept("2001:db8::9:allow,X=\"v6\"\n", connection: connection, dialect: .ucspiTCPIPv6)
        #expect(outcome.environment["X"] == "v6")
        #expect(outcome.environment["PROTO"] == "TCP6")
        #expect(outcome.environment["TCPREMOTEIP"] == "2001:db8::9")
        #expect(outcome.environment["TCP6REMOTEIP"] == "2001:db8::9")
        #expect(outcome.environment["TCP6LOCALPORT"] == "25")
    }

    @Test func ipv6ServerSetsTCP6VariablesForIPv4ClientsToo() throws {
        var options = Self.options
        options.dialect = .ucspiTCPIPv6
        let outcome = try accept(nil, connection: Self.connection, options: options)
        #expect(outcome.environment["PROTO"] == "TCP")
        #expect(outcome.environment["TCPREMOTEIP"] == "192.0.2.9")
        #expect(outcome.environment["TCP6REMOTEIP"] == "::ffff:192.0.2.9")
        #expect(outcome.environment["TCP6LOCALIP"] == "::ffff:192.0.2.1")
        #expect(outcome.environment["TCP6REMOTEHOST"] == "mail.host.example.com")
        #expect(try accept(nil).environment["TCP6REMOTEIP"] == nil, "stock tcpserver has no TCP6 variables")
    }

    @Test func badAddressesThrow() {
        var connection = Self.connection
        connection.remoteIP = "999.1.1.1"
        #expect(throws: TCPServerError.self) { try accept(nil, connection: connection) }
    }

    /// The environment's lookups (`variables[name]`, which makes no dictionary) answer what the
    /// dictionary holds, for every variable and a few unset ones: with and without inherited
    /// variables (stale TCP ones among them), rule variables that repeat a name or override a TCP
    /// variable, an unknown remote host, -H and -R, an IPv6 server.
    @Test func variableLookupsAgreeWithTheDictionary() throws {
        let rules = [
            nil, "192.0.2.9:allow,RELAYCLIENT=\"\",X=\"1\",X=\"2\"\n:allow\n",
            "192.0.2.:allow,TCPREMOTEHOST=\"forced\",RBLSMTPD=\"-no\"\n", "=mail.host.example.com:allow,DATABYTES=\"10\"\n",
        ]
        let inherits: [[String: String]] = [[:], ["PATH": "/bin", "TCPREMOTEHOST": "stale", "TCPREMOTEINFO": "old", "X": "0"]]
        var withoutPTR = Self.connection
        withoutPTR.remotePTR = nil
        var sixToFour = Self.connection
        sixToFour.remoteIP = "::ffff:192.0.2.9"
        var plain = Self.options
        plain.lookupRemoteHost = false
        plain.lookupRemoteInfo = false
        var ipv6 = Self.options
        ipv6.dialect = .ucspiTCPIPv6
        var compared = 0
        for rule in rules {
            for inherited in inherits {
                for connection in [Self.connection, withoutPTR, sixToFour] {
                    for options in [Self.options, plain, ipv6] {
                        let outcome = try accept(rule, connection: connection, options: options, inherited: inherited)
                        let dictionary = outcome.environment
                        var names = Set(dictionary.keys).union(inherited.keys)
                        names.formUnion(["PROTO", "TCPREMOTEHOST", "TCP6REMOTEHOST", "TCPREMOTEINFO", "TCPLOCALHOST", "NOPE", ""])
                        for name in names {
                            #expect(outcome.variables[name] == dictionary[name], "\(name) with \(rule ?? "no rules"), \(inherited)")
                            compared += 1
                        }
                    }
                }
            }
        }
        #expect(compared > 500)
        // An environment given as it is answers from it.
        #expect(TCPServerEnvironment(["A": "1"])["A"] == "1" && TCPServerEnvironment(["A": "1"])["B"] == nil)
    }
}


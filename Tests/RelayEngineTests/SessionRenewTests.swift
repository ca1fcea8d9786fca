import RelayEngine
import TCPRules
import Testing

/// ``RelaySession/renewed(clientPort:clock:lookupTiming:)``: a session set up once and renewed
/// for another connection of the client behaves exactly like one set up for that connection.
@Suite struct SessionRenewTests {
    static let dialogue = Array(
        ("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nRCPT TO:<d@elsewhere.example>\r\n"
            + "DATA\r\nSubject: x\r\n\r\n..hi\r\n.\r\nQUIT\r\n").utf8)

    func environment(port: String) -> [String: String] {
        Harness.environment(["TCPREMOTEPORT": port, "TCPREMOTEHOST": "client.example"])
    }

    @Test(arguments: [false, true])
    func renewedEqualsFresh(relayClient: Bool) {
        var prototypeEnvironment = environment(port: "40000")
        if relayClient { prototypeEnvironment["RELAYCLIENT"] = "" }
        let configuration = Harness.configuration()
        let prototype = RelaySession(configuration: configuration, childEnvironment: prototypeEnvironment)

        var later = configuration
        later.clock = 1_800_000_000
        var freshEnvironment = prototypeEnvironment
        freshEnvironment["TCPREMOTEPORT"] = "51234"
        var fresh = RelaySession(configuration: later, childEnvironment: freshEnvironment)
        var renewed = prototype.renewed(clientPort: "51234", clock: 1_800_000_000)

        #expect(renewed.start() == fresh.start())
        #expect(renewed.receive(Self.dialogue) == fresh.receive(Self.dialogue))
        #expect(renewed.exchanges == fresh.exchanges)
        #expect(renewed.envelopes == fresh.envelopes)
        #expect(renewed.envelopes.first?.acceptedAt == 1_800_000_000)
        #expect(renewed.now == fresh.now)
        #expect(renewed.connectionDecision == fresh.connectionDecision)
        #expect(renewed.connectionDecision.environment["TCPREMOTEPORT"] == "51234")
        #expect(renewed.lookups == fresh.lookups)

        // The prototype itself is untouched and can be renewed again, for its own port too.
        var again = prototype.renewed(clientPort: "40000", clock: configuration.clock)
        var original = RelaySession(configuration: configuration, childEnvironment: prototypeEnvironment)
        #expect(again.receive(Self.dialogue) == original.receive(Self.dialogue))
        #expect(again.exchanges == original.exchanges)
        #expect(again.connectionDecision == original.connectionDecision)
    }

    /// `renew` in place gives the session `renewed` returns.
    @Test(arguments: ["40000", "51234"])
    func renewInPlaceEqualsRenewed(port: String) {
        let prototype = RelaySession(configuration: Harness.configuration(), childEnvironment: environment(port: "40000"))
        var renewed = prototype.renewed(clientPort: port, clock: 1_800_000_000)
        var inPlace = prototype
        inPlace.renew(clientPort: port, clock: 1_800_000_000)
        #expect(inPlace.receive(Self.dialogue) == renewed.receive(Self.dialogue))
        #expect(inPlace.exchanges == renewed.exchanges)
        #expect(inPlace.envelopes == renewed.envelopes)
        #expect(inPlace.connectionDecision == renewed.connectionDecision)
        #expect(inPlace.connectionDecision.environment["TCPREMOTEPORT"] == port)
        #expect(inPlace.lookups == renewed.lookups)
    }

    /// The array and slice overloads of `receive` answer as the generic one does, in any chunking.
    @Test(arguments: [1, 3, 7, 1000])
    func receiveOverloadsAgree(chunk: Int) {
        let configuration = Harness.configuration()
        var generic = RelaySession(configuration: configuration, childEnvironment: environment(port: "40000"))
        var array = generic
        var slice = generic
        var start = 0
        while start < Self.dialogue.count {
            let end = min(start + chunk, Self.dialogue.count)
            let part = Self.dialogue[start..<end]
            let expected = generic.receive(part.lazy.map { $0 })
            #expect(array.receive(Array(part)) == expected)
            #expect(slice.receive(part) == expected)
            start = end
        }
        #expect(array.exchanges == generic.exchanges)
        #expect(slice.exchanges == generic.exchanges)
        #expect(slice.envelopes == generic.envelopes)
        #expect(generic.isClosed && array.isClosed && slice.isClosed)
    }

    /// An array that is exactly one line becomes the exchange's client bytes as it is (no
    /// copy); line by line, the array overload still answers as the generic one does.
    @Test func anArrayOfOneLineAnswersAsTheGenericReceive() {
        let configuration = Harness.configuration()
        var generic = RelaySession(configuration: configuration, childEnvironment: environment(port: "40000"))
        var array = generic
        var start = 0
        while start < Self.dialogue.count {
            let end = (Self.dialogue[start...].firstIndex(of: 10) ?? Self.dialogue.count - 1) + 1
            let line = Array(Self.dialogue[start..<end])
            #expect(array.receive(line) == generic.receive(line.lazy.map { $0 }))
            start = end
        }
        #expect(array.exchanges == generic.exchanges)
        #expect(array.envelopes == generic.envelopes)
        #expect(array.exchanges.count > 3 && array.isClosed)
    }

    /// `deniedByTCPServer` answers what the connection decision says, without building it.
    @Test(arguments: ["203.0.113.5", "10.1.2.3", "198.51.100.7", "192.0.2.9", "not-an-address"])
    func deniedByTCPServerAgreesWithTheDecision(client: String) throws {
        var config = Harness.configuration()
        config.rules = try RulesDatabase(source: ChainTests.rulesText, path: "tcp.smtp")
        config.rblsmtpd = RBLSMTPDOptions()
        let connection = ClientConnection(clientIP: client, clientPort: 40001, serverIP: "192.0.2.25", serverPort: 25)
        let session = RelaySession(configuration: config, connection: connection)
        #expect(session.deniedByTCPServer == (session.connectionDecision.tcpserver.outcome == .deny))
        #expect(session.deniedByTCPServer == (client == "203.0.113.5" || client == "not-an-address"))
        var missing = config
        missing.rules = RulesDatabase.missing(path: "/nonexistent/rules.cdb")
        #expect(RelaySession(configuration: missing, connection: connection).deniedByTCPServer)
        #expect(!RelaySession(configuration: config, childEnvironment: Harness.environment()).deniedByTCPServer)
    }
}

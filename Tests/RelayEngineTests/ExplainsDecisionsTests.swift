import RelayEngine
import TestSupport
import Testing

/// ``RelaySession/explainsDecisions``: a session that does not explain its decisions answers,
/// decides (subject and outcome), queues and closes exactly as one that does; only the
/// decisions' addresses and reasons are left out.
@Suite struct ExplainsDecisionsTests {
    /// Dialogues covering every path whose explanation the lean mode leaves out (HELO, MAIL,
    /// RCPT local / relayed / refused / through morercpthosts / with a domain literal, messages
    /// accepted and refused) and some it keeps (syntax errors, out of order, badmailfrom).
    static let dialogues: [String] = [
        "HELO other.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nRCPT TO:<d@elsewhere.example>\r\n"
            + "RCPT TO:<e@x.sub.example.org>\r\nRCPT TO:<f@more.example>\r\nRCPT TO:<g@[192.0.2.25]>\r\nRCPT TO:<nodomain>\r\n"
            + "DATA\r\nReceived: x\r\nSubject: y\r\n\r\n..hi\r\n.\r\nQUIT\r\n",
        "EHLO client.example\r\nRCPT TO:<c@example.com>\r\nMAIL FROM:<spam@bad.example>\r\nRCPT TO:<c@example.com>\r\n"
            + "MAIL FROM:<\"quoted x\"@b.example>\r\nRCPT TO:<@route:c@EXAMPLE.COM>\r\nDATA\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n",
        "HELO h\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
            + String(repeating: "0123456789abcdef0123456789abcdef\r\n", count: 8) + ".\r\nMAIL FROM:<a@b.example>\r\nDATA\r\nNOOP\r\n",
        "MAIL FROM:<a@b.example> SIZE=99999999\r\nRCPT TO:<too-long-\(String(repeating: "x", count: 40))@example.com\r\nQUIT\r\n",
    ]

    /// What must not change: every exchange but its decision's address and reasons.
    struct Outline: Equatable {
        var kind: Exchange.Kind
        var stage: Stage
        var clientBytes: [UInt8]
        var reply: [UInt8]
        var subject: Decision.Subject?
        var outcome: Decision.Outcome?
        var closedAfter: Bool
        var delay: Double
        var truncation: Truncation?

        init(_ exchange: Exchange) {
            kind = exchange.kind
            stage = exchange.stage
            clientBytes = exchange.clientBytes
            reply = exchange.reply
            subject = exchange.decision?.subject
            outcome = exchange.decision?.outcome
            closedAfter = exchange.closedAfter
            delay = exchange.delay
            truncation = exchange.truncation
        }
    }

    static let environments: [[String: String]] = [
        Harness.environment(["TCPREMOTEHOST": "client.example"]),
        Harness.environment(["RELAYCLIENT": ""]),
        Harness.environment(["RELAYCLIENT": ".relay.example", "DATABYTES": "100"]),
    ]

    @Test(arguments: 0..<3)
    func leanSessionsDecideAsExplainedOnes(environment: Int) {
        var files = Harness.standardFiles
        files["badmailfrom"] = "@bad.example\n"
        files["databytes"] = "200\n"
        let configuration = Harness.configuration(files, cdb: ["more.example"], ipme: ["192.0.2.25"])
        for dialogue in Self.dialogues {
            var explained = RelaySession(configuration: configuration, childEnvironment: Self.environments[environment])
            var lean = explained
            lean.explainsDecisions = false
            #expect(!lean.explainsDecisions && explained.explainsDecisions)
            let bytes = Array(dialogue.utf8)
            #expect(lean.start() == explained.start())
            #expect(lean.receive(bytes) == explained.receive(bytes))
            #expect(lean.exchanges.map(Outline.init) == explained.exchanges.map(Outline.init))
            #expect(lean.envelopes == explained.envelopes)
            #expect(lean.isClosed == explained.isClosed && lean.exitStatus == explained.exitStatus)
            // The explained session did explain its RCPTs; the lean one left them out.
            let rcpts = explained.exchanges.indices.filter { explained.exchanges[$0].decision?.subject == .rcpt }
            #expect(!rcpts.isEmpty)
            for index in rcpts where explained.exchanges[index].decision?.outcome != .refuse {
                #expect(!(explained.exchanges[index].decision?.reasons.isEmpty ?? true))
                #expect(lean.exchanges[index].decision?.reasons.isEmpty == true)
                #expect(lean.exchanges[index].decision?.address == nil)
            }
        }
    }

    /// The setting survives renewal (the replay renews a lean prototype per connection).
    @Test func renewedSessionStaysLean() {
        var prototype = RelaySession(configuration: Harness.configuration(), childEnvironment: Harness.environment())
        prototype.explainsDecisions = false
        var renewed = prototype.renewed(clientPort: "51234", clock: 1_800_000_000)
        _ = renewed.receive(Array("HELO h\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@example.com>\r\n".utf8))
        #expect(!renewed.explainsDecisions)
        #expect(renewed.exchanges.last?.decision == Decision(.rcpt, .accept))
    }
}

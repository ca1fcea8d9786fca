import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Helpers: the compare fixtures (Tests/Fixtures/compare) and the qmail-relay sample.
enum CompareFixtures {
    static let folder = TestSupport.fixture("Tests/Fixtures/compare")
    static let relay = TestSupport.fixture("captures/qmail-relay")

    static func listeners(_ path: String) throws -> ReplayListeners {
        ReplayListeners(file: try ConfigurationFile.load(path: path))
    }

    /// Compares `captures` and `scenarios` and returns the summary and every connection.
    static func compare(
        captures: [String] = [], scenarios: [String] = [], baseline: String, candidate: String, ptr: Bool = false,
        threads: Int = 1
    ) throws -> (summary: CompareSummary, connections: [ComparedConnection]) {
        let runner = CompareRunner(
            baseline: try listeners(baseline), candidate: try listeners(candidate),
            ptr: ptr ? try ReplayPTRTable.load(path: relay + "/ptr.txt") : nil, threads: threads)
        var summary = CompareSummary()
        var connections: [ComparedConnection] = []
        summary.capture = try runner.run(captures: captures, scenarios: scenarios) { connection in
            summary.add(connection)
            connections.append(connection)
        }
        return (summary, connections)
    }

    /// Every difference as `#connection step change subject` (step 0: the connection itself).
    static func changes(_ connections: [ComparedConnection]) -> [String] {
        connections.flatMap { connection in
            let name = connection.name.hasPrefix("#") ? String(connection.name.split(separator: " ")[0]) : "\"\(connection.name)\""
            return connection.differences.map { "\(name) \($0.step ?? 0) \($0.change.rawValue) \($0.subject)" }
        }
    }

    /// Paths made relative to the package, for golden files.
    static func stable(_ text: String) -> String {
        // Paths, and the JUnit class names derived from them ("/a/b" → ".a.b"), lose the
        // checkout's location so the snapshots hold in any clone.
        text.replacingOccurrences(of: TestSupport.packageRoot + "/", with: "")
            .replacingOccurrences(of: TestSupport.packageRoot.replacingOccurrences(of: "/", with: ".") + ".", with: "")
    }

    /// The golden run: the fixture traffic, baseline.yaml against candidate.yaml.
    static func golden() throws -> (summary: CompareSummary, connections: [ComparedConnection]) {
        try compare(scenarios: [folder + "/traffic.yaml"], baseline: folder + "/baseline.yaml", candidate: folder + "/candidate.yaml")
    }
}

/// `relaylab compare`: golden reports, exact differences on the bundled capture, and the
/// property that a configuration compared with itself over random traffic reports nothing.
@Suite struct CompareTests {
    // MARK: - Golden reports (RECORD_SNAPSHOTS=1 re-records them)

    @Test func goldenRunHasEveryKindOfChange() throws {
        let (summary, connections) = try CompareFixtures.golden()
        #expect(
            CompareFixtures.changes(connections) == [
                "\"office LAN relays and delivers\" 3 accept-recipient RCPT TO:<friend@elsewhere.example>",
                "\"office LAN relays to a partner only\" 3 refuse-recipient RCPT TO:<team@partner.example>",
                "\"office LAN relays to a partner only\" 4 reply DATA",
                "\"a network that was dropped\" 0 allow-connection connection",
                "\"too many connections\" 0 blocklist rblsmtpd",
                "\"too many connections\" 3 refuse-recipient RCPT TO:<alice@example.net>",
                "\"a bulk sender\" 3 refuse-recipient RCPT TO:<alice@example.net>",
                "\"a large message\" 5 refuse-message <message: 6 lines, 222 bytes>",
            ])
        #expect(summary.connections == 7 && summary.identical == 1 && summary.differing == 6)
        #expect(summary.exitStatus == 1)
        // The partner's DATA was refused by the candidate: its message went to the baseline only.
        let partner = try #require(connections.first { $0.name == "office LAN relays to a partner only" })
        #expect(partner.notes == [
            "step 5 <message: 4 lines, 33 bytes> went to the baseline only; the candidate's client did not send it: its server did not accept DATA, so the client would not send the message"
        ])
    }

    func humanReport(colour: Bool = false) throws -> String {
        let (summary, _) = try CompareFixtures.golden()
        return CompareFixtures.stable(
            CompareHumanReport(colour: colour).render(
                summary, inputs: ["Tests/Fixtures/compare/traffic.yaml"], baseline: "Tests/Fixtures/compare/baseline.yaml",
                candidate: "Tests/Fixtures/compare/candidate.yaml"))
    }

    @Test func goldenHuman() throws {
        let text = try humanReport()
        Snapshot.assert(text, named: "compare.human.txt")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Counts first, then groups, then examples.
        #expect(lines[0] == "relaylab compare: 7 connections in Tests/Fixtures/compare/traffic.yaml")
        let order = ["  8 differences in 6 connections:", "By client prefix", "By recipient domain", "By rule line and control entry responsible", "Examples"]
        let positions = order.map { heading in lines.firstIndex(of: heading) ?? -1 }
        #expect(positions == positions.sorted() && !positions.contains(-1), "\(positions)")
        #expect(!text.contains("\u{1B}["))
    }

    @Test func goldenHumanColour() throws {
        let text = try humanReport(colour: true)
        Snapshot.assert(text, named: "compare.human-colour.txt")
        #expect(text.contains("\u{1B}[1mrelaylab compare:\u{1B}[0m"))
    }

    @Test func goldenJSONLines() throws {
        let (summary, connections) = try CompareFixtures.golden()
        var writer = JSONLinesReportWriter()
        var text = ""
        for connection in connections { text += writer.write(connection.connectionResult()) + connection.differenceRecords }
        text += summary.jsonRecord
        text = CompareFixtures.stable(text)
        Snapshot.assert(text, named: "compare.jsonl")
        let records = text.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }
        #expect(records.allSatisfy { !$0.isEmpty })
        #expect(records.filter { $0["type"] as? String == "connection" }.count == 7)
        #expect(records.filter { $0["type"] as? String == "difference" }.count == 8)
        let last = try #require(records.last)
        #expect(last["type"] as? String == "summary")
        #expect(last["connections"] as? Int == 7 && last["passed"] as? Int == 1 && last["failed"] as? Int == 6)
        #expect((last["changes"] as? [String: [String: Int]])?["refuse-recipient"] == ["count": 3, "clients": 3])
        let relayed = try #require(records.first { $0["subject"] as? String == "RCPT TO:<team@partner.example>" })
        #expect((relayed["baseline"] as? [String: Any])?["decision"] as? String == "relay")
        #expect((relayed["candidate"] as? [String: Any])?["decision"] as? String == "refuse")
        #expect((relayed["causes"] as? [String])?.first == "baseline: rule sets RELAYCLIENT=\"\" (Tests/Fixtures/compare/baseline.yaml:8)")
    }

    @Test func goldenJUnit() throws {
        let (summary, connections) = try CompareFixtures.golden()
        var writer = JUnitReportWriter(name: "relaylab compare")
        for connection in connections { _ = writer.write(connection.connectionResult()) }
        let text = CompareFixtures.stable(writer.finish(summary.reportSummary))
        Snapshot.assert(text, named: "compare.junit.xml")
        let parser = XMLParser(data: Data(text.utf8))
        #expect(parser.parse())
        #expect(text.contains("tests=\"7\" failures=\"6\" errors=\"0\""))
    }

    @Test func goldenGitHub() throws {
        let (summary, connections) = try CompareFixtures.golden()
        var writer = GitHubReportWriter(tool: "relaylab compare")
        var text = ""
        for connection in connections { text += writer.write(connection.connectionResult()) }
        text = CompareFixtures.stable(text + writer.finish(summary.reportSummary))
        Snapshot.assert(text, named: "compare.github.txt")
        // Annotations point at the scenario step that differs.
        #expect(text.contains("::error file=Tests/Fixtures/compare/traffic.yaml,line=12,col=9,"))
    }

    // MARK: - The bundled capture

    @Test func bundledCaptureAgainstTheTightenedCandidate() throws {
        let (summary, connections) = try CompareFixtures.compare(
            captures: [CompareFixtures.relay + "/relay.pcap"], baseline: CompareFixtures.relay + "/relaylab.yaml",
            candidate: CompareFixtures.relay + "/candidate-tightened.yaml", ptr: true)
        // Worked out from captures/MANIFEST.md (connections numbered from 0 here): the office LAN
        // (#3, #34) no longer relays, so its DATA gets 503; 198.51.100. (#9, #13) is dropped;
        // 198.18.7.44 (#10) is refused permanently; the two messages over 280 bytes (#20, #22).
        #expect(
            CompareFixtures.changes(connections) == [
                "#3 3 refuse-recipient RCPT TO:<friend@elsewhere.example>",
                "#3 4 reply DATA",
                "#9 0 deny-connection connection",
                "#10 0 blocklist rblsmtpd",
                "#10 3 refuse-recipient RCPT TO:<alice@example.net>",
                "#13 0 deny-connection connection",
                "#20 6 refuse-message <message: 10 lines, 299 bytes on the wire>",
                "#22 7 refuse-message <message: 10 lines, 307 bytes on the wire>",
                "#34 3 refuse-recipient RCPT TO:<friend@elsewhere.example>",
                "#34 5 refuse-recipient RCPT TO:<team@Partner.Example>",
                "#34 9 refuse-recipient RCPT TO:<boss@elsewhere.example>",
                "#34 10 reply DATA",
            ])
        #expect(summary.connections == 36 && summary.compared == 36 && summary.differing == 7)
        // Grouped by the rule line responsible: the LAN's four refusals share one cause.
        let lan = try #require(summary.byCause.values.first { $0.differences == 4 })
        #expect(lan.key.hasPrefix("baseline: rule sets RELAYCLIENT=\"\" ("))
        #expect(lan.key.hasSuffix("tcp.smtp:11)\ncandidate: the domain is not in rcpthosts or morercpthosts.cdb (\(CompareFixtures.relay)/control/rcpthosts)"))
        #expect(summary.byDomain["elsewhere.example"]?.differences == 3)
        #expect(summary.byPrefix["10.1.2.0/24"]?.connections == 2)
        // The LAN's messages are not sent to the candidate, which refused DATA.
        let first = try #require(connections.first { $0.name.hasPrefix("#3 ") })
        #expect(first.notes == ["candidate at step 4: DATA: the recording got 354, the simulation answers 503: the client's message is not sent"])
    }

    @Test func bundledCaptureHumanReport() throws {
        let (summary, _) = try CompareFixtures.compare(
            captures: [CompareFixtures.relay + "/relay.pcap"], baseline: CompareFixtures.relay + "/relaylab.yaml",
            candidate: CompareFixtures.relay + "/candidate-tightened.yaml", ptr: true)
        let text = CompareFixtures.stable(
            CompareHumanReport().render(
                summary, inputs: ["relay.pcap"], baseline: "relaylab.yaml", candidate: "candidate-tightened.yaml"))
        Snapshot.assert(text, named: "compare.relay-tightened.txt")
    }

    @Test func aCaptureComparedWithItselfReportsNothingWhateverTheThreads() throws {
        for (folder, capture) in [(CompareFixtures.relay, "relay.pcap"), (TestSupport.fixture("captures/qmail-auth"), "auth.pcap")] {
            for threads in [1, 3] {
                let (summary, connections) = try CompareFixtures.compare(
                    captures: [folder + "/" + capture], baseline: folder + "/relaylab.yaml", candidate: folder + "/relaylab.yaml",
                    threads: threads)
                #expect(summary.differences == 0, "\(capture): \(CompareFixtures.changes(connections))")
                #expect(connections.allSatisfy { $0.notes.isEmpty })
                #expect(summary.compared == summary.connections && summary.stepsCompared > 0)
            }
        }
    }

    // MARK: - Property: a configuration compared with itself over random traffic

    @Test(arguments: [
        ("Tests/Fixtures/compare/baseline.yaml", UInt64(1)), ("Tests/Fixtures/compare/candidate.yaml", UInt64(2)),
        ("captures/qmail-auth/relaylab.yaml", UInt64(3)), ("captures/qmail-relay/relaylab.yaml", UInt64(4)),
    ])
    func aConfigurationComparedWithItselfReportsNothing(configuration: String, seed: UInt64) throws {
        let path = TestSupport.fixture(configuration)
        // Two separately loaded copies: nothing is shared but the files.
        let runner = CompareRunner(baseline: try CompareFixtures.listeners(path), candidate: try CompareFixtures.listeners(path))
        var random = SplitMix64(seed: seed)
        var steps = 0
        for index in 0..<150 {
            let compared = try runner.compare(RandomTraffic.connection(index, using: &random), suite: "random")
            #expect(compared.differences.isEmpty, "\(compared.name): \(compared.differences.map(\.subject))")
            #expect(compared.notes.isEmpty, "\(compared.name): \(compared.notes)")
            steps += compared.stepsCompared
        }
        #expect(steps > 600)
    }

    @Test func theSameRandomTrafficFindsTheDifferencesBetweenTwoConfigurations() throws {
        // The property above can fail: with two different configurations the same traffic differs.
        let runner = CompareRunner(
            baseline: try CompareFixtures.listeners(CompareFixtures.folder + "/baseline.yaml"),
            candidate: try CompareFixtures.listeners(CompareFixtures.folder + "/candidate.yaml"))
        var random = SplitMix64(seed: 1)
        var kinds: Set<CompareChange> = []
        for index in 0..<150 {
            for difference in try runner.compare(RandomTraffic.connection(index, using: &random), suite: "random").differences {
                kinds.insert(difference.change)
            }
        }
        #expect(kinds.isSuperset(of: [.connectionAllowed, .blocklist, .recipientRefused, .recipientAccepted, .messageRefused]), "\(kinds)")
    }

    // MARK: - Scenario details

    @Test func aListenerMissingOnOneSideDeniesTheConnection() throws {
        let folder = try TestSupport.temporaryDirectory("compare-listeners")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let control = CompareFixtures.relay + "/control"
        try TestSupport.write("control: \(control)\nlisteners:\n  - {name: smtp, port: 25}\n  - {name: submission, port: 587}\n", to: folder + "/both.yaml")
        try TestSupport.write("control: \(control)\nlisteners:\n  - {name: smtp, port: 25}\n", to: folder + "/smtp.yaml")
        try TestSupport.write(
            "config: both.yaml\nconnections:\n  - {client: 198.19.1.10, server: {port: 587}, from: a@example.org, rcpt: [alice@example.net]}\n",
            to: folder + "/traffic.yaml")
        let (summary, connections) = try CompareFixtures.compare(
            scenarios: [folder + "/traffic.yaml"], baseline: folder + "/both.yaml", candidate: folder + "/smtp.yaml")
        #expect(CompareFixtures.changes(connections) == ["\"connection 1 from 198.19.1.10\" 0 deny-connection connection"])
        let difference = try #require(connections.first?.differences.first)
        #expect(difference.candidate.reply == "(not taken: no listener for 192.0.2.25:587 in \(folder)/smtp.yaml)")
        #expect(connections.first?.baselineListener == "submission")
        #expect(summary.exitStatus == 1)
        // Both sides without a listener: skipped, not a difference.
        let (skipped, _) = try CompareFixtures.compare(
            scenarios: [folder + "/traffic.yaml"], baseline: folder + "/smtp.yaml", candidate: folder + "/smtp.yaml")
        #expect(skipped.skipped == 1 && skipped.differences == 0 && skipped.exitStatus == 0)
    }

    @Test func prefixesGroupIPv4AndIPv6Networks() {
        #expect(CompareSummary.prefix(of: "10.1.2.15") == "10.1.2.0/24")
        #expect(CompareSummary.prefix(of: "2001:db8:1:2::15") == "2001:db8:1:2::/64")
        #expect(CompareSummary.prefix(of: "not an address") == "not an address")
    }
}

/// Seeded random client traffic for the property tests: clients from every rule of the
/// fixtures' rules (and elsewhere), commands of every kind, messages of every size.
enum RandomTraffic {
    static let clients: [(ip: String, ptr: String?)] = [
        ("127.0.0.1", nil), ("10.1.2.15", "ws15.office.example.net"), ("10.1.9.20", nil), ("203.0.113.5", nil),
        ("198.51.100.23", "mail.listed.example"), ("198.18.7.44", nil), ("100.64.3.7", "dyn-100-64-3-7.pool.isp.example"),
        ("198.19.1.12", "relay.partner.example"), ("198.19.1.10", "mail.partner-a.example"), ("172.20.5.9", nil),
        ("192.0.2.200", "MX.Example.ORG"),
    ]
    static let senders = [
        "bob@partner-a.example", "spammer@bulk.example", "news@bulk.example", "x@junk.example", "", "carol@example.net",
        "Postmaster", "@route.example:a@b.example", "\"quoted local\"@example.org",
    ]
    static let recipients = [
        "alice@example.net", "Alice@EXAMPLE.NET", "friend@elsewhere.example", "team@partner.example", "postmaster",
        "a@x.sub.example.org", "a@sub.example.org", "info@hosted-a.example", "info@customer.example.info", "a@example.com.",
        "a@[192.0.2.25]", "@example.com", "x@y@example.net",
    ]

    static func connection(_ index: Int, using random: inout SplitMix64) -> ScenarioConnection {
        let client = clients[Int(random.next() % UInt64(clients.count))]
        var steps: [ScenarioStep] = []
        var line = 1
        func add(_ action: ScenarioStep.Action) {
            steps.append(ScenarioStep(action: action, position: FilePosition(file: "random", line: line)))
            line += 1
        }
        func send(_ text: String) { add(.send(Array((text + "\r\n").utf8))) }
        func pick<T>(_ list: [T]) -> T { list[Int(random.next() % UInt64(list.count))] }
        send(random.next() % 2 == 0 ? "EHLO client.example" : "HELO client.example")
        for _ in 0..<(1 + Int(random.next() % 8)) {
            switch random.next() % 14 {
            case 0, 1: send("MAIL FROM:<\(pick(senders))>")
            case 2, 3, 4, 5: send("RCPT TO:<\(pick(recipients))>")
            case 6, 7: add(.data(body: body(using: &random), force: random.next() % 5 == 0))
            case 8: send(pick(["RSET", "NOOP", "VRFY postmaster", "HELP", "EXPN list", "", "garbage here"]))
            case 9: add(.send(Array("RCPT TO:<\(pick(recipients))>\nNOOP\n".utf8)))  // bare LF, two commands
            case 10: add(.send(Array("MAIL FROM:<\(pick(senders))>\r\nRCPT TO:<\(pick(recipients))>\r\nDATA\r\n".utf8)))
            case 11:
                add(.auth(AuthExchange(mechanism: pick(AuthExchange.Mechanism.allCases), user: pick(["testuser", "nobody"]), password: pick(["testpass", "wrong"]), initialResponse: random.next() % 2 == 0)))
            case 12: add(.wait(seconds: pick([1.0, 30, 1300])))
            default: send("RCPT TO:<\(pick(recipients))> NOTIFY=NEVER")
            }
        }
        if random.next() % 4 != 0 { send("QUIT") } else { add(.close) }
        return ScenarioConnection(
            name: "random \(index) from \(client.ip)", index: index + 1, position: FilePosition(file: "random", line: index + 1),
            configuration: ConfigurationSpec(), client: ClientSpec(ip: client.ip, port: 40000 + index, ptr: client.ptr), steps: steps)
    }

    /// A message on the wire: CRLF lines, dot-stuffed, ending in `.` — sometimes large, sometimes
    /// with a bare LF or many Received lines.
    static func body(using random: inout SplitMix64) -> [UInt8] {
        var lines = ["Subject: random", ""]
        let count = Int(random.next() % 40)
        for number in 0..<count {
            let width = Int(random.next() % 120)
            var text = String(repeating: "abcdefghij", count: width / 10 + 1).prefix(width)
            if number % 7 == 3 { text = "." + text }
            lines.append(String(text))
        }
        if random.next() % 10 == 0 { lines.insert(contentsOf: Array(repeating: "Received: from x", count: 100), at: 0) }
        var wire = lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + "\r\n.\r\n"
        if random.next() % 15 == 0 { wire = "Subject: bare\nLF\r\n.\r\n" }
        return Array(wire.utf8)
    }
}

import Capture
import RelayEngine
import Replay
import Testing

/// The summary keeps exact counts in bounded memory: groups and examples are capped.
@Suite struct ReplaySummaryTests {
    static func connection(index: Int, client: String, domain: String, change: ReplayChange = .recipientRefused) -> ReplayedConnection {
        var counts = ReplayCounts()
        counts.steps = 3
        counts.compared = 3
        counts.differingSteps = 1
        counts.matched = 2
        counts.rcptCompared = 1
        counts.rcptChanged = 1
        let difference = ReplayDifference(
            step: 3, subject: "RCPT TO:<a@\(domain)>", change: change, domain: domain, recorded: "250 ok", recordedOutcome: .accept,
            simulated: "553 sorry", simulatedOutcome: .refuse, explanation: [])
        return ReplayedConnection(
            index: index, client: Capture.Endpoint(ip: client, port: 40000 + index), server: Capture.Endpoint(ip: "192.0.2.25", port: 25),
            clientName: nil, sourceFile: "x.pcap", sourcePacket: index, startTime: 0, listener: nil, disposition: .compared,
            counts: counts, differences: [difference])
    }

    @Test func countsStayExactWhileGroupsAreCapped() {
        var summary = ReplaySummary(
            limits: .init(clientGroups: 10, domainGroups: 5, examplesPerClient: 2, examplesPerDomain: 1, distinctClients: 20))
        for index in 0..<1000 {
            summary.add(Self.connection(index: index, client: "10.0.\(index / 250).\(index % 250)", domain: "d\(index % 50).example"))
        }
        #expect(summary.connections == 1000 && summary.compared == 1000)
        #expect(summary.counts.rcptChanged == 1000 && summary.differences == 1000)
        let tally = summary.changes[.recipientRefused]
        #expect(tally?.count == 1000 && tally?.connections == 1000)
        #expect(tally?.clients.count == 20 && tally?.clientsOverflow == true)
        #expect(summary.clients.count == 10 && summary.clientsNotGrouped == 990)
        #expect(summary.clients.values.allSatisfy { $0.examples.count == 1 })
        #expect(summary.domains.count == 5 && summary.domainsNotGrouped == 900)
        #expect(summary.domains.values.allSatisfy { $0.total == 20 && $0.examples.count == 1 })
        #expect(summary.exitStatus == 1)
        let text = ReplayHumanReport().render(summary, files: ["x.pcap"])
        #expect(text.contains("  would now refuse 1000 recipients from more than 20 clients\n"))
        #expect(text.contains("… and 990 more connections from other clients (not grouped)"))
    }

    @Test func repeatedClientsAreCountedOnce() {
        var summary = ReplaySummary()
        for index in 0..<10 { summary.add(Self.connection(index: index, client: "10.0.0.1", domain: "elsewhere.example")) }
        #expect(summary.clientCount(.recipientRefused) == 1)
        #expect(summary.clients["10.0.0.1"]?.connections == 10)
        #expect(summary.clients["10.0.0.1"]?.examples.count == 3)
        #expect(summary.domains["elsewhere.example"]?.clientCount == 1)
    }
}

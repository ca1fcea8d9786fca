import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// The bundled captures replayed against deliberately changed configurations report exactly
/// the decisions that change: each expected set below is worked out from MANIFEST.md (who sent
/// what, and which rule or control file line decided it), not from relaylab's output.
@Suite struct ReplayChangedConfigurationTests {
    let relayCapture = [ReplayFixtures.relay + "/relay.pcap"]

    func replayRelay(_ change: (String) throws -> Void) throws -> (ReplaySummary, [ReplayedConnection]) {
        let copy = try ReplayFixtures.changedCopy(of: ReplayFixtures.relay, change)
        let spec = ReplayFixtures.relaySpec(control: copy + "/control", rules: copy + "/tcp.smtp")
        return try ReplayFixtures.replay(
            relayCapture, listeners: ReplayListeners(single: spec), ptr: ReplayFixtures.ptr(ReplayFixtures.relay))
    }

    @Test func officeLANWithoutRELAYCLIENT() throws {
        let (summary, connections) = try replayRelay { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { $0.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow") }
        }
        // 10.1.2.15 relays to elsewhere.example and Partner.Example in #3 and #34; the guest
        // network (10.1.9., its own rule) and 10.1.2.16 (refused by badmailfrom) do not change.
        #expect(
            ReplayFixtures.changes(connections) == [
                "#3 3 refuse-recipient RCPT TO:<friend@elsewhere.example>",
                "#3 4 reply DATA",
                "#34 10 reply DATA",
                "#34 3 refuse-recipient RCPT TO:<friend@elsewhere.example>",
                "#34 5 refuse-recipient RCPT TO:<team@Partner.Example>",
                "#34 9 refuse-recipient RCPT TO:<boss@elsewhere.example>",
            ])
        #expect(summary.counts.rcptChanged == 4)
        #expect(summary.changes[.recipientRefused]?.count == 4)
        #expect(summary.changes[.recipientRefused]?.clients == ["10.1.2.15"])
        // With no recipient left, DATA is refused: the message is not sent (a divergence), and
        // QUIT is still compared, labelled as coming after it.
        let third = try #require(connections.first { $0.index == 3 })
        #expect(third.divergences == [ReplayDivergence(step: 4, reason: "DATA: the recording got 354, the simulation answers 503: the client's message is not sent")])
        #expect(third.steps.map(\.status.word) == ["matched", "matched", "differs", "differs", "not-replayed", "matched"])
        #expect(third.steps.map(\.afterDivergence) == [false, false, false, false, true, true])
        #expect(summary.counts.diverged == 2)
        // Two bodies not sent, and the QUIT sent after the bare-LF hang-up of #29.
        #expect(summary.counts.notReplayed == 3)
        // The explanation names the rcpthosts check and the rule that matched.
        let refusal = try #require(third.differences.first { $0.change == .recipientRefused })
        #expect(refusal.explanation.contains { $0.hasPrefix("domain \"elsewhere.example\" is not in rcpthosts") })
        #expect(refusal.explanation.contains { $0.hasPrefix("rule \"10.1.\" matched: allow") })
        #expect(summary.domains.keys.sorted() == ["elsewhere.example", "partner.example"])
    }

    @Test func denyRuleForAClient() throws {
        let (summary, connections) = try replayRelay { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { "198.19.1.13:deny\n" + $0 }
        }
        // smtp.sender.example (198.19.1.13) made connections #14, #16, #26 and #27.
        #expect(
            ReplayFixtures.changes(connections) == [
                "#14 0 deny-connection connection", "#16 0 deny-connection connection",
                "#26 0 deny-connection connection", "#27 0 deny-connection connection",
            ])
        #expect(summary.changes[.connectionDenied]?.count == 4)
        #expect(summary.changes[.connectionDenied]?.clients == ["198.19.1.13"])
        // None of their 18 steps is sent; one divergence each.
        #expect(summary.counts.notReplayed == 18 + 1)
        #expect(summary.counts.diverged == 4)
        let denied = try #require(connections.first { $0.index == 14 })
        #expect(denied.differences[0].explanation.first?.hasPrefix("rule \"198.19.1.13\" matched: deny") == true)
    }

    @Test func rcpthostsEntryDropped() throws {
        let (summary, connections) = try replayRelay { copy in
            try ReplayFixtures.edit(copy + "/control/rcpthosts") { $0.replacingOccurrences(of: "example.com\n", with: "") }
        }
        // Only #22 sent to example.com through qmail-smtpd; #13 and #32 were refused by rblsmtpd.
        #expect(ReplayFixtures.changes(connections) == ["#22 4 refuse-recipient RCPT TO:<bob@example.com>"])
        #expect(summary.counts.rcptChanged == 1)
        #expect(summary.counts.diverged == 0)
    }

    @Test func databytesLowered() throws {
        let (summary, connections) = try replayRelay { copy in
            try TestSupport.write("100\n", to: copy + "/control/databytes")
        }
        // Every message the recorded server accepted (19, all over 100 bytes) is now refused; the
        // one it refused for size (#16) and the bare-LF one (#29) do not change.
        let dialogues = try CaptureReader().readAll(files: relayCapture).dialogues
        var expected: [String] = []
        for dialogue in dialogues {
            for (offset, step) in dialogue.steps.enumerated() where step.kind == .dataBody && step.reply?.code == 250 {
                expected.append("#\(dialogue.index) \(offset + 1) refuse-message \(step.line)")
            }
        }
        #expect(expected.count == 19)
        #expect(ReplayFixtures.changes(connections) == expected.sorted())
        #expect(summary.changes[.messageRefused]?.count == 19)
        #expect(summary.counts.rcptChanged == 0)
        let message = try #require(connections.flatMap(\.differences).first)
        #expect(message.simulated == "552 sorry, that message size exceeds my databytes limit (#5.3.4)")
    }

    @Test func badmailfromEntryAdded() throws {
        let (summary, connections) = try replayRelay { copy in
            try ReplayFixtures.edit(copy + "/control/badmailfrom") { $0 + "@partner-a.example\n" }
        }
        // bob@partner-a.example sends in #0, #1 and #21 (#31 from the same client has MAIL
        // FROM:<>). Refusals that were already refusals only change their text.
        #expect(
            ReplayFixtures.changes(connections) == [
                "#0 3 refuse-recipient RCPT TO:<alice@example.net>",
                "#0 4 reply DATA",
                "#1 3 reply RCPT TO:<someone@elsewhere.example>",
                "#21 10 refuse-recipient RCPT TO:<sales@hosted-b.example>",
                "#21 11 reply DATA",
                "#21 3 refuse-recipient RCPT TO:<alice@example.net>",
                "#21 4 reply DATA",
                "#21 7 reply RCPT TO:<someone@elsewhere.example>",
            ])
        #expect(summary.counts.rcptChanged == 3)
        #expect(summary.otherDifferences == ["DATA": 3, "RCPT": 2])
        let first = try #require(connections.first { $0.index == 0 }?.differences.first)
        #expect(first.simulated == "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)")
        #expect(first.explanation.first?.hasPrefix("badmailfrom entry @partner-a.example (") == true)
    }

    // MARK: - The AUTH capture

    func replayAuth(overrides: ConfigurationSpec = ConfigurationSpec(), _ change: (String) throws -> Void = { _ in }) throws
        -> (ReplaySummary, [ReplayedConnection])
    {
        let copy = try ReplayFixtures.changedCopy(of: ReplayFixtures.auth, change)
        var overrides = overrides
        overrides.rules = .file(copy + "/tcp.smtp")
        let listeners = ReplayListeners(file: try ConfigurationFile.load(path: copy + "/relaylab.yaml"), overrides: overrides)
        return try ReplayFixtures.replay(
            [ReplayFixtures.auth + "/auth.pcap"], listeners: listeners, ptr: ReplayFixtures.ptr(ReplayFixtures.auth))
    }

    @Test func authCaptureUnchangedFromACopy() throws {
        let (summary, connections) = try replayAuth()
        #expect(summary.differences == 0, "\(ReplayFixtures.changes(connections))")
    }

    @Test func submissionNoLongerRequiresAuth() throws {
        var overrides = ConfigurationSpec()
        overrides.environment["SMTPAUTH"] = ""
        let (_, connections) = try replayAuth(overrides: overrides)
        // Only #7 sent MAIL on port 587 without authenticating (530 recorded).
        #expect(ReplayFixtures.changes(connections) == ["#7 2 reply MAIL FROM:<carol@example.net>"])
        let difference = try #require(connections.first { $0.index == 7 }?.differences.first)
        #expect(difference.recorded == "530 Authorization required (#5.7.1) ")
        #expect(difference.simulated == "250 ok")
    }

    @Test func ruleLetsAFailedAuthClientRelay() throws {
        let (summary, connections) = try replayAuth { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { "198.19.2.22:allow,RELAYCLIENT=\"\"\n" + $0 }
        }
        // 198.19.2.22 failed AUTH in #2 and was refused relaying; in #3 it sent to a local domain.
        #expect(ReplayFixtures.changes(connections) == ["#2 6 relay-recipient RCPT TO:<friend@elsewhere.example>"])
        #expect(summary.changes[.recipientRelayed]?.clients == ["198.19.2.22"])
        // The failed AUTH exchange was still compared, its outcome taken as recorded.
        let second = try #require(connections.first { $0.index == 2 })
        #expect(second.steps[3].status == .matched)
        #expect(second.steps[3].decision?.reasons.contains(Fact(.recordedAuthOutcome(attempt: 1, success: false))) == true)
    }

    @Test func officeLANOfTheAuthCaptureWithoutRELAYCLIENT() throws {
        let (_, connections) = try replayAuth { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { $0.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow") }
        }
        #expect(
            ReplayFixtures.changes(connections) == [
                "#6 3 refuse-recipient RCPT TO:<friend@elsewhere.example>", "#6 4 reply DATA",
            ])
    }
}

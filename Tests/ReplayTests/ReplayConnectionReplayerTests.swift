import Capture
import Foundation
import RelayEngine
import Replay
import Scenarios
import TCPRules
import TestSupport
import Testing

/// One connection at a time, built by hand: divergences, unobservable steps, connection
/// decisions, normalisation, timeouts, AUTH.
@Suite struct ReplayConnectionReplayerTests {
    /// The qmail-relay configuration (netqmail, rblsmtpd), with `rules` as tcprules source.
    static func target(rules: String = ":allow\n", auth: Bool = false, environment: [String: String] = [:]) throws -> ReplayTarget {
        var spec = ConfigurationSpec()
        spec.control = .directory(ReplayFixtures.relay + "/control")
        spec.rules = .text(rules, origin: "test.rules")
        spec.rblsmtpd = .on(RBLSMTPDOptions())
        if auth { spec.auth = .on(AuthOptions(credentials: .users([:]))) }
        for (name, value) in environment { spec.environment[name] = value }
        let configuration = try ConfigurationLoader().configuration(for: spec)
        return ReplayTarget(name: nil, configuration: configuration)
    }

    func replay(
        _ builder: DialogueBuilder, target: ReplayTarget? = nil, options: ReplayOptions = ReplayOptions(keepAllSteps: true),
        name: String? = nil
    ) throws -> ReplayedConnection {
        ConnectionReplayer(options: options).replay(builder.build(), target: try target ?? Self.target(), clientName: name)
    }

    /// A client sending one message to a hosted domain, as the recorded server answered it.
    static func delivery(to recipient: String = "alice@example.net", rcptReply: String = "250 ok") -> DialogueBuilder {
        var builder = DialogueBuilder()
        builder.command("HELO client.example", "250 mx.example.net")
        builder.command("MAIL FROM:<bob@client.example>", "250 ok")
        builder.command("RCPT TO:<\(recipient)>", rcptReply)
        builder.command("DATA", "354 go ahead")
        builder.body("Subject: x\r\n\r\nhello\r\n.\r\n", "250 ok 1795563513 qp 32385")
        builder.command("QUIT", "221 mx.example.net")
        return builder
    }

    @Test func identicalAnswersMatchWithTheQueueNumbersNormalised() throws {
        let result = try replay(Self.delivery())
        #expect(result.disposition == .compared)
        #expect(result.differences.isEmpty)
        #expect(result.steps.map(\.status) == Array(repeating: ReplayStepStatus.matched, count: 6))
        #expect(result.counts.compared == 6 && result.counts.rcptCompared == 1 && result.counts.connectionCompared == 1)
        // The simulation's own `250 ok <time> qp <pid>` differs in its numbers only.
        let body = try #require(result.steps[4].simulated)
        #expect(ReplayReplies.isQueuedReply(body))
        #expect(body != Array("250 ok 1795563513 qp 32385\r\n".utf8))
    }

    @Test func queuedReplyNormalisationIsStrict() {
        let options = ReplayOptions()
        func same(_ recorded: String, _ simulated: String) -> Bool {
            ReplayReplies.same(recorded: Array(recorded.utf8)[...], simulated: Array(simulated.utf8), options: options)
        }
        #expect(same("250 ok 1 qp 2\r\n", "250 ok 1795563513 qp 14399\r\n"))
        #expect(!same("250 ok 1 qp 2\n", "250 ok 1795563513 qp 14399\r\n"))
        #expect(!same("250 ok qp 2\r\n", "250 ok 1795563513 qp 14399\r\n"))
        #expect(!same("250 ok 1 qp 2 extra\r\n", "250 ok 1795563513 qp 14399\r\n"))
        #expect(!same("251 ok 1 qp 2\r\n", "250 ok 1795563513 qp 14399\r\n"))
        #expect(ReplayReplies.same(
            recorded: Array("334 PDEyMzQuNTY3OEBteD4=\r\n".utf8)[...], simulated: Array("334 PDk5OTkuMUBteD4=\r\n".utf8),
            options: options, challenge: true))
        #expect(!same("334 PDEyMzQuNTY3OEBteD4=\r\n", "334 PDk5OTkuMUBteD4=\r\n"))
    }

    @Test func refusedDataMeansTheMessageIsNotSent() throws {
        // The recorded server accepted a relay the simulated one refuses: RCPT differs, DATA
        // then gets 554 and diverges; the body is not fed as commands; QUIT is compared after it.
        let result = try replay(Self.delivery(to: "friend@elsewhere.example"))
        #expect(result.differences.map(\.change) == [.recipientRefused, .reply])
        #expect(result.differences[1].subject == "DATA")
        #expect(result.differences[1].simulated == "503 RCPT first (#5.5.1)")
        #expect(result.divergences.map(\.step) == [4])
        #expect(result.steps[4].status == .notReplayed(reason: "the simulation did not accept DATA, so the client would not have sent its message"))
        #expect(result.steps[4].simulated == nil)
        #expect(result.steps[5].status == .matched && result.steps[5].afterDivergence)
        #expect(result.counts.notReplayed == 1 && result.counts.diverged == 1)
        #expect(result.counts.steps == result.counts.compared + result.counts.notReplayed)
    }

    @Test func acceptedDataWithoutARecordedMessageStopsTheReplay() throws {
        // The recorded server refused the recipient and DATA; the simulated one (everybody may
        // relay) accepts both: the capture has no message for the 354, so the rest is not replayed.
        var builder = DialogueBuilder()
        builder.command("HELO client.example", "250 mx.example.net")
        builder.command("MAIL FROM:<bob@client.example>", "250 ok")
        builder.command("RCPT TO:<friend@elsewhere.example>", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
        builder.command("DATA", "503 RCPT first (#5.5.1)")
        builder.command("QUIT", "221 mx.example.net")
        let result = try replay(builder, target: Self.target(rules: ":allow,RELAYCLIENT=\"\"\n"))
        #expect(result.differences.map(\.change) == [.recipientRelayed, .reply])
        #expect(result.divergences.count == 1)
        #expect(result.divergences[0].step == 4)
        #expect(result.divergences[0].reason.hasPrefix("DATA: the simulation answers 354 where the recording got 503"))
        #expect(result.steps[4].status == .notReplayed(reason: "the simulation accepted DATA, but the capture holds no message"))
    }

    @Test func simulatedDenyComparesAsAConnectionDecision() throws {
        let result = try replay(Self.delivery(), target: Self.target(rules: "198.19.1.10:deny\n:allow\n"))
        #expect(result.differences.count == 1)
        let difference = result.differences[0]
        #expect(difference.step == nil && difference.change == .connectionDenied)
        #expect(difference.recorded == "220 mx.example.net ESMTP")
        #expect(difference.simulated == "(connection closed without a byte: tcpserver deny)")
        #expect(difference.explanation.first == "rule \"198.19.1.10\" matched: deny (test.rules:1)")
        #expect(result.steps.allSatisfy { $0.status == .notReplayed(reason: "the simulated tcpserver drops the connection") })
        #expect(result.counts.compared == 0 && result.counts.connectionCompared == 1 && result.counts.connectionDiffers == 1)
        #expect(result.disposition == .compared)
    }

    @Test func recordedDenyComparesAsAConnectionDecision() throws {
        var denied = DialogueBuilder()
        denied.greeting = nil
        denied.end = .serverClosedSilently
        // Denied then, denied now: a match.
        let same = try replay(denied, target: Self.target(rules: "198.19.1.10:deny\n"))
        #expect(same.differences.isEmpty && same.counts.connectionCompared == 1 && same.disposition == .compared)
        // Denied then, accepted now.
        let changed = try replay(denied)
        #expect(changed.differences.map(\.change) == [.connectionAccepted])
        #expect(changed.differences[0].recordedOutcome == .deny)
        #expect(changed.differences[0].simulated == "220 mx.example.net ESMTP")
    }

    @Test func oneDirectionIsUnobservableNeverCounted() throws {
        var builder = DialogueBuilder()
        builder.greeting = nil
        builder.end = .clientClosed
        builder.problems = [DialogueProblem(kind: .oneDirection, message: "only the client's packets were captured")]
        builder.command("HELO client.example", nil, reason: .oneDirection)
        builder.command("MAIL FROM:<bob@client.example>", nil, reason: .oneDirection)
        builder.command("RCPT TO:<friend@elsewhere.example>", nil, reason: .oneDirection)
        let result = try replay(builder)
        #expect(result.disposition == .unobservable(reason: "one direction only: no packets from the server were captured"))
        #expect(result.counts.compared == 0 && result.counts.unobservable == 3 && result.counts.rcptCompared == 0)
        #expect(result.differences.isEmpty)
    }

    @Test func lostClientDataMakesTheRestUnobservable() throws {
        var builder = DialogueBuilder()
        builder.command("HELO client.example", "250 mx.example.net")
        builder.command("MAIL FROM:<bob@client.example>", "250 ok")
        builder.steps.append(
            (.command, Array("RCPT TO:<al".utf8), nil, builder.startTime, .clientDataLost(bytes: 20), 20))
        builder.command("DATA", "354 go ahead", reason: .unaligned)
        builder.command("QUIT", "221 mx.example.net")
        let result = try replay(builder)
        #expect(result.steps.map(\.status.word) == ["matched", "matched", "unobservable", "unobservable", "unobservable"])
        #expect(result.steps[4].status == .unobservable(reason: "after lost client data the simulation cannot know what the server saw"))
        #expect(result.differences.isEmpty)
        #expect(result.counts.compared == 2 && result.counts.unobservable == 3)
    }

    @Test func aMessageWithLostBytesIsFedButNotCompared() throws {
        var builder = DialogueBuilder()
        builder.command("HELO client.example", "250 mx.example.net")
        builder.command("MAIL FROM:<bob@client.example>", "250 ok")
        builder.command("RCPT TO:<alice@example.net>", "250 ok")
        builder.command("DATA", "354 go ahead")
        builder.body("Subject: x\r\n\r\nhel", "250 ok 1795563513 qp 32385", reason: .clientDataLost(bytes: 10), lost: 10)
        builder.command("QUIT", "221 mx.example.net")
        let result = try replay(builder)
        #expect(result.steps.map(\.status.word) == ["matched", "matched", "matched", "matched", "unobservable", "matched"])
        #expect(result.differences.isEmpty)
    }

    @Test func greetingTextCanBeIgnored() throws {
        var builder = Self.delivery()
        builder.greeting = "220 smtp.other-mta.example ESMTP Postfix\r\n"
        let strict = try replay(builder)
        #expect(strict.differences.map(\.subject) == ["greeting"])
        let relaxed = try replay(builder, options: ReplayOptions(ignoreGreeting: true, keepAllSteps: true))
        #expect(relaxed.differences.isEmpty)
    }

    @Test func codeMatchingComparesOnlyReplyCodes() throws {
        var builder = DialogueBuilder()
        builder.greeting = "220 smtp-sink ESMTP\r\n"
        builder.command("HELO bench.example", "250 smtp-sink")
        builder.command("MAIL FROM:<sender@bench.example>", "250 2.1.0 Ok")
        builder.command("RCPT TO:<rcpt@example.net>", "250 2.1.5 Ok")
        builder.command("RCPT TO:<rcpt@elsewhere.example>", "250 2.1.5 Ok")
        builder.command("QUIT", "221 Bye")
        let result = try replay(builder, options: ReplayOptions(matching: .code, keepAllSteps: true))
        // Texts differ everywhere; only the relay refusal changes a code.
        #expect(result.differences.map(\.subject) == ["RCPT TO:<rcpt@elsewhere.example>"])
        #expect(result.differences[0].change == .recipientRefused)
    }

    @Test func aLongPauseLetsTheSimulatedServerTimeOut() throws {
        var builder = DialogueBuilder()
        builder.command("HELO client.example", "250 mx.example.net")
        builder.command("MAIL FROM:<bob@client.example>", "250 ok", after: 1300)
        let result = try replay(builder)
        #expect(result.divergences.count == 1)
        #expect(result.divergences[0].reason.hasPrefix("the simulated server timed out during the client's 1300 s pause"))
        #expect(result.steps[1].status.word == "not-replayed")
        // Replaying without the pauses compares it.
        let untimed = try replay(builder, options: ReplayOptions(keepAllSteps: true, replayIdleTime: false))
        #expect(untimed.divergences.isEmpty && untimed.differences.isEmpty)
    }

    @Test func recordedHangUpStopsTheComparison() throws {
        var builder = DialogueBuilder()
        builder.end = .serverClosed
        builder.command("HELO client.example", "421 service unavailable")
        builder.command("MAIL FROM:<bob@client.example>", nil)
        builder.command("QUIT", nil)
        let result = try replay(builder)
        #expect(result.differences.map(\.subject) == ["HELO client.example"])
        #expect(result.divergences.map(\.step) == [2])
        #expect(result.divergences[0].reason == "the recorded server closed the connection before step 2; the simulation keeps it open")
        #expect(result.counts.notReplayed == 2)
    }

    @Test func authResponsesFollowTheSimulatedPrompts() throws {
        // Recorded: AUTH LOGIN offered and accepted. Simulated without the AUTH patch: 502, so
        // the client's credentials are not sent (they would otherwise be read as commands).
        var builder = DialogueBuilder()
        builder.command("EHLO client.example", "250-mx.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN\r\n250 SIZE 10240")
        builder.command("AUTH LOGIN", "334 VXNlcm5hbWU6")
        builder.authResponse("dGVzdHVzZXI=", "334 UGFzc3dvcmQ6")
        builder.authResponse("dGVzdHBhc3M=", "235 ok, go ahead (#2.0.0)")
        builder.command("QUIT", "221 mx.example.net")
        let vanilla = try replay(builder)
        #expect(vanilla.divergences.map(\.step) == [2])
        #expect(vanilla.steps[2].status.word == "not-replayed" && vanilla.steps[3].status.word == "not-replayed")
        #expect(vanilla.steps[1].simulated == Array("502 unimplemented (#5.5.1)\r\n".utf8))
        #expect(vanilla.steps[4].status == .matched)
        // With the patch and SMTPAUTH set, the recorded success is taken as given.
        let patched = try replay(builder, target: Self.target(auth: true, environment: ["SMTPAUTH": ""]))
        #expect(patched.differences.isEmpty, "\(patched.differences)")
        #expect(patched.steps[3].decision?.reasons.contains(Fact(.recordedAuthOutcome(attempt: 1, success: true))) == true)
        // Credentials never leave the step: no client bytes for AUTH responses.
        #expect(patched.steps[2].clientBytes == nil && patched.steps[2].line == "<auth response redacted>")
    }

    @Test func skippedWhenNoListenerOrMidstream() throws {
        let none = ConnectionReplayer().replay(Self.delivery().build(), target: nil, clientName: nil, skipReason: "no listener for 192.0.2.25:25 in x.yaml")
        #expect(none.disposition == .skipped(reason: "no listener for 192.0.2.25:25 in x.yaml"))
        var midstream = Self.delivery()
        midstream.midstream = true
        let result = try replay(midstream)
        #expect(result.disposition == .skipped(reason: "the capture started after the connection opened: the server's state is unknown"))
        #expect(result.counts.steps == 6 && result.counts.compared == 0)
    }

    @Test func ptrNamesFromTheFileWinOverTheCapture() throws {
        var builder = Self.delivery()
        builder.clientPTR = ["from-dns.example"]
        let dialogue = builder.build()
        let listeners = ReplayListeners(single: ConfigurationSpec())
        func name(_ table: ReplayPTRTable?) -> String? {
            ReplayRunner(listeners: listeners, ptr: table, threads: 1).clientName(for: dialogue)
        }
        #expect(name(nil) == "from-dns.example")
        #expect(name(ReplayPTRTable(names: ["198.19.1.10": "from-file.example"])) == "from-file.example")
        #expect(name(ReplayPTRTable(names: ["198.19.1.10": String?.none])) == nil)
        #expect(name(ReplayPTRTable(names: ["198.19.1.99": "other.example"])) == "from-dns.example")
        // A negative answer seen in the capture means no name.
        builder.clientPTR = []
        #expect(ReplayRunner(listeners: listeners, threads: 1).clientName(for: builder.build()) == nil)
    }
}

import Replay
import Scenarios
import TestSupport
import Testing

/// `ScenarioRunner.Detail.failuresOnly` (what `relaylab check` uses for the human, GitHub and
/// JUnit reports) against `.everyStep`, on every bundled scenario and the golden file (which
/// has differences of every kind): the same verdicts, counts and differences; a failing
/// connection's result complete and equal; a passing one without its steps; the same reports.
struct CheckDetailTests {
    static func events(_ detail: ScenarioRunner.Detail) throws -> (events: [CheckEvent], summary: ReportSummary) {
        let files = try ScenarioDiscovery.files(for: [
            TestSupport.fixture("scenarios"), TestSupport.fixture("Tests/Fixtures/check/golden.yaml"),
        ])
        var runner = CheckRunner(jobs: 2)
        runner.detail = detail
        var events: [CheckEvent] = []
        let summary = runner.run(files: files) { events.append($0) }
        return (events, summary)
    }

    static func results(_ events: [CheckEvent]) -> [ConnectionResult] {
        events.compactMap { event in
            if case .result(let result) = event { return result }
            return nil
        }
    }

    @Test func failuresOnlyKeepsEveryVerdictAndCompletesEveryFailure() throws {
        let full = try Self.events(.everyStep)
        let fast = try Self.events(.failuresOnly)
        #expect(fast.summary == full.summary)
        #expect(fast.summary.failed > 0, "the golden file must have failing connections")
        #expect(fast.summary.passed > 100)
        let fullResults = Self.results(full.events)
        let fastResults = Self.results(fast.events)
        try #require(fastResults.count == fullResults.count)
        for (fast, full) in zip(fastResults, fullResults) {
            if !full.passed {
                #expect(fast == full, "\(full.name): a failing connection's result must be complete")
                continue
            }
            #expect(fast.passed, "\(full.name)")
            #expect(fast.steps.isEmpty, "\(full.name): a passing connection's steps are left out")
            #expect(fast.stepCount == full.steps.count && fast.stepCount == full.stepCount, "\(full.name)")
            #expect(fast.name == full.name && fast.suite == full.suite && fast.position == full.position)
            #expect(fast.client == full.client && fast.server == full.server && fast.listener == full.listener)
            #expect(fast.connection.decision == full.connection.decision, "\(full.name)")
            #expect(fast.connection.verdict == full.connection.verdict, "\(full.name)")
            #expect(fast.warnings == full.warnings && fast.lookups == full.lookups && fast.differences.isEmpty)
        }
    }

    @Test func reportsThatShowOnlyFailuresAreTheSame() throws {
        let full = try Self.events(.everyStep)
        let fast = try Self.events(.failuresOnly)
        func render(_ writer: some ReportWriter, _ run: (events: [CheckEvent], summary: ReportSummary)) -> String {
            var writer = writer
            #expect(!writer.showsPassingDetails)
            var out = writer.begin()
            for event in run.events {
                switch event {
                case .result(let result): out += writer.write(result)
                case .problem(let problem): out += writer.write(problem)
                }
            }
            return out + writer.finish(run.summary)
        }
        #expect(render(HumanReportWriter(), fast) == render(HumanReportWriter(), full))
        #expect(render(GitHubReportWriter(), fast) == render(GitHubReportWriter(), full))
        #expect(render(JUnitReportWriter(), fast) == render(JUnitReportWriter(), full))
        #expect(HumanReportWriter(explain: true).showsPassingDetails)
        #expect(JSONLinesReportWriter().showsPassingDetails)
    }

    /// Setting the steps of a result (as a report of one's own might) keeps its count right.
    @Test func stepCountFollowsTheSteps() {
        var result = ConnectionResult(
            suite: "s", name: "n", client: Endpoint(ip: "192.0.2.1", port: 1), server: Endpoint(ip: "192.0.2.2", port: 25),
            connection: ConnectionOutcome(decision: "allow"), steps: [], stepCount: 4, differences: [])
        #expect(result.stepCount == 4)
        result.steps = [StepResult(index: 0, kind: .greeting, client: [])]
        #expect(result.stepCount == 1)
    }

    /// A step's text, given or worked out from its bytes, is the same value.
    @Test func aGivenClientTextEqualsTheWorkedOutOne() {
        let line = Array("RCPT TO:<a@b.example>\r\n".utf8)
        let derived = StepResult(index: 2, kind: .command, client: line)
        let given = StepResult(index: 2, kind: .command, client: line, clientText: "RCPT TO:<a@b.example>")
        #expect(derived.clientText == "RCPT TO:<a@b.example>")
        #expect(derived == given && derived.hashValue == given.hashValue)
        #expect(derived != StepResult(index: 2, kind: .command, client: line, clientText: "other"))
        #expect(StepResult(index: 0, kind: .message, client: Array("a\r\nb\r\n.\r\n".utf8)).clientText == "<message: 3 lines, 9 bytes>")
    }
}


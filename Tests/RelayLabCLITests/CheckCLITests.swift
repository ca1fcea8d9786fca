import Foundation
import TestSupport
import Testing

/// `relaylab check` end to end: the built binary on the bundled scenarios and on fixtures.
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct CheckCLITests {
    func relaylab(_ arguments: [String], environment: [String: String]? = nil) throws -> TestSupport.ProcessResult {
        try TestSupport.run(
            TestSupport.relaylabBinary!, ["check"] + arguments, environment: environment,
            currentDirectory: TestSupport.packageRoot)
    }

    @Test func theBundledScenariosPass() throws {
        let result = try relaylab(["scenarios"])
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.contains("scenarios/classic.yaml"))
        #expect(lines.contains { $0.hasPrefix("scenarios/spec/01-replies.yaml") })
        #expect(lines.last?.hasSuffix("steps)") == true)
        #expect(lines.last?.contains(" passed, 0 failed (") == true)
        #expect(!result.stdoutText.contains("\u{1B}["), "no colour when standard output is not a terminal")
    }

    @Test func jsonLinesEndWithTheSummaryRecord() throws {
        let result = try relaylab(["--format", "json", "scenarios/classic.yaml"])
        #expect(result.status == 0)
        let lines = result.stdoutText.split(separator: "\n")
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any])
        }
        let summary = try #require(lines.last)
        #expect(summary.hasPrefix(#"{"type":"summary","connections":"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        #expect(Set(object.keys) == [
            "type", "connections", "passed", "failed", "steps", "compared", "unobservable", "skipped", "skipped_reasons",
            "lookups",
        ])
        #expect(object["failed"] as? Int == 0)
        #expect(object["connections"] as? Int == lines.count - 1)
        #expect(object["compared"] as? Int == lines.count - 1)
        #expect(object["skipped"] as? Int == 0)
    }

    @Test func aDifferenceExitsWithOne() throws {
        let result = try relaylab(["Tests/Fixtures/check/failing.yaml"])
        #expect(result.status == 1)
        #expect(result.stdoutText.contains("✗ expects a relay that does not happen  (Tests/Fixtures/check/failing.yaml:5)"))
        #expect(result.stdoutText.contains("Tests/Fixtures/check/failing.yaml:8:33: RCPT TO:<x@elsewhere.example>"))
        #expect(result.stdoutText.contains("expected  relay"))
        #expect(result.stdoutText.contains("actual    553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)  (refuse)"))
        #expect(result.stdoutText.contains("because   domain \"elsewhere.example\" is not in rcpthosts"))
        #expect(result.stdoutText.hasSuffix(
            "1 connection seen = 1 compared + 0 unobservable + 0 skipped: 0 passed, 1 failed (5 steps)\n"))
    }

    @Test func aMalformedFileExitsWithTwoAndPointsAtTheProblem() throws {
        let result = try relaylab(["Tests/Fixtures/check/malformed.yaml", "Tests/Fixtures/check/failing.yaml"])
        #expect(result.status == 2)
        #expect(
            result.stderrText.contains(
                """
                error: Tests/Fixtures/check/malformed.yaml:3:3: unknown key 'contol' in config; did you mean 'control'?
                  contol: ../control
                  ^
                """))
        // The other file is still checked.
        #expect(result.stdoutText.contains(
            "1 connection seen = 1 compared + 0 unobservable + 0 skipped: 0 passed, 1 failed (5 steps), 1 error"))
    }

    @Test func usageAndInputErrorsExitWithTwo() throws {
        let missing = try relaylab(["no/such/scenarios"])
        #expect(missing.status == 2)
        #expect(missing.stderrText == "relaylab check: no/such/scenarios: no such file or directory\n")
        #expect(try relaylab(["--jobs", "0", "scenarios"]).status == 2)
    }

    @Test func junitReport() throws {
        let folder = try TestSupport.temporaryDirectory("junit")
        let result = try relaylab(["--junit", folder + "/report.xml", "scenarios/classic.yaml", "Tests/Fixtures/check/failing.yaml"])
        #expect(result.status == 1)
        let xml = String(decoding: try TestSupport.read(folder + "/report.xml"), as: UTF8.self)
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relaylab check\""))
        #expect(xml.contains("<testsuite name=\"Tests/Fixtures/check/failing.yaml\" tests=\"1\" failures=\"1\" errors=\"0\""))
        #expect(xml.contains("<failure message=\"RCPT TO:&lt;x@elsewhere.example&gt;: expected relay, got 553"))
        let unwritable = try relaylab(["--junit", "/nonexistent/dir/report.xml", "scenarios/classic.yaml"])
        #expect(unwritable.status == 2)
    }

    @Test func githubAnnotations() throws {
        let result = try relaylab(["--format", "github", "Tests/Fixtures/check/failing.yaml", "Tests/Fixtures/check/malformed.yaml"])
        #expect(result.status == 2)
        #expect(result.stdoutText.contains("::error file=Tests/Fixtures/check/failing.yaml,line=8,col=33,title=expects a relay that does not happen::RCPT TO:<x@elsewhere.example>: expected relay, got 553"))
        #expect(result.stdoutText.contains("::error file=Tests/Fixtures/check/malformed.yaml,line=3,col=3,title=relaylab check%3A cannot check this file::unknown key 'contol'"))
    }

    @Test func explainShowsEveryDecision() throws {
        let result = try relaylab(["--explain", "scenarios/classic.yaml"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("      C: RCPT TO:<friend@elsewhere.example>\n      S: 250 ok  [relay]\n         RELAYCLIENT is set (\"\") (scenarios/classic/tcp.smtp:2)"))
    }

    @Test func theOutputOrderDoesNotDependOnParallelism() throws {
        let one = try relaylab(["--jobs", "1", "--format", "json", "scenarios"])
        let many = try relaylab(["--jobs", "8", "--format", "json", "scenarios"])
        #expect(one.status == 0 && many.status == 0)
        // Everything but the lookup timings (wall-clock measurements) is identical.
        #expect(try Self.withoutTimings(one.stdoutText) == Self.withoutTimings(many.stdoutText))
    }

    /// The JSON Lines output with each database's measured times removed from the summary record.
    static func withoutTimings(_ output: String) throws -> [String] {
        let timed: Set<String> = ["timed", "seconds", "lookups_per_second", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"]
        return try output.split(separator: "\n").map { line in
            guard line.hasPrefix(#"{"type":"summary""#) else { return String(line) }
            var object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let lookups = try #require(object["lookups"] as? [String: Any])
            let databases = try #require(lookups["databases"] as? [[String: Any]])
            object["lookups"] = databases.map { $0.filter { !timed.contains($0.key) } }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
    }
}

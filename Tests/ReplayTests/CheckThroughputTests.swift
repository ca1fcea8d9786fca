import Foundation
import Replay
import Scenarios
import TestSupport
import Testing

/// Connections checked per second for a generated 100,000-connection scenario file, parse
/// included, on one thread (CPU time, so other processes' load does not count). Reports numbers,
/// asserts only correctness; it runs when RELAYLAB_THROUGHPUT is set, and is meant for release
/// builds:
///
///     RELAYLAB_THROUGHPUT=1 swift test -c release --filter CheckThroughputTests
///
/// Its figures move by up to ±40% between runs on a shared VM; to compare two builds, count
/// instructions instead (deterministic), on fewer connections:
///
///     RELAYLAB_THROUGHPUT=1 RELAYLAB_THROUGHPUT_CONNECTIONS=10000 valgrind --tool=callgrind \
///         .build/release/relaylabPackageTests.xctest --testing-library swift-testing --filter CheckThroughputTests
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["RELAYLAB_THROUGHPUT"] != nil, "set RELAYLAB_THROUGHPUT=1 (and use -c release) to measure"))
struct CheckThroughputTests {
    static func threadCPUTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// A compact-form suite against the classic configuration: every connection sends EHLO,
    /// MAIL, two RCPTs with expectations, QUIT; clients from every rule line.
    static func generate(connections: Int) -> String {
        var generator = SplitMix64(seed: 7)
        var text = """
            config:
              control: captures/qmail-relay/control
              rules: scenarios/classic/tcp.smtp
              rblsmtpd: true
            connections:

            """
        let local = ["example.net", "example.com", "x.sub.example.org", "hosted-a.example"]
        let foreign = ["elsewhere.example", "sub.example.org", "other.example"]
        for index in 0..<connections {
            let kind = Int(generator.next() % 7)
            let ip: String
            switch kind {
            case 0: ip = "192.168.1.\(index % 250 + 1)"
            case 1: ip = "127.0.0.\(index % 250 + 1)"
            case 2: ip = "210.\(index % 250).\(index / 250 % 250).\(index % 200 + 1)"
            default: ip = "198.\(18 + index % 2).\(index / 250 % 250).\(index % 250 + 1)"
            }
            text += "  - client: \(ip)\n"
            if kind >= 3, kind <= 5 { text += "    ptr: host\(index).partner.example\n" }
            text += "    from: sender\(index)@partner.example\n    rcpt:\n"
            for recipient in 0..<2 {
                let isLocal = generator.next() % 2 == 0
                let domain = isLocal ? local[Int(generator.next() % 4)] : foreign[Int(generator.next() % 3)]
                let expected: String
                switch kind {
                case 0, 1: expected = isLocal ? "accept" : "relay"
                case 2: expected = "deny"
                case 6: expected = "refuse"
                default: expected = isLocal ? "accept" : "refuse"
                }
                text += "      user\(index).\(recipient)@\(domain): \(expected)\n"
            }
        }
        return text
    }

    @Test func connectionsPerSecond() throws {
        // RELAYLAB_THROUGHPUT_CONNECTIONS: fewer connections, e.g. under callgrind.
        let count = ProcessInfo.processInfo.environment["RELAYLAB_THROUGHPUT_CONNECTIONS"].flatMap { Int($0) } ?? 100_000
        let text = Self.generate(connections: count)
        let source = YAMLSource(text: text, path: "generated.yaml", directory: TestSupport.packageRoot)

        let start = Self.threadCPUTime()
        let root = try source.root()
        let composed = Self.threadCPUTime()
        let scenario = try ScenarioFile(yaml: root)
        let parsed = Self.threadCPUTime()
        var summary = ReportSummary()
        CheckRunner.check(scenario) { event in
            guard case .result(let result) = event else { return }
            summary.add(result)
        }
        let checked = Self.threadCPUTime()
        #expect(summary.connections == count)
        #expect(summary.failed == 0)
        // What `relaylab check` does for its human (and GitHub, JUnit) report: passing
        // connections without their steps.
        var brief = ReportSummary()
        let briefStart = Self.threadCPUTime()
        CheckRunner.check(scenario, detail: .failuresOnly) { event in
            guard case .result(let result) = event else { return }
            brief.add(result)
        }
        let briefRun = Self.threadCPUTime() - briefStart
        #expect(brief == summary)

        // The reports: the same check again, writing its results in batches of 1,000 (reading
        // the clock around every write would cost more than the human writer itself).
        var human = HumanReportWriter()
        var json = JSONLinesReportWriter()
        var humanTime = 0.0
        var jsonTime = 0.0
        var humanBytes = 0
        var jsonBytes = 0
        var batch: [ConnectionResult] = []
        func write() {
            let before = Self.threadCPUTime()
            for result in batch { humanBytes += human.write(result).utf8.count }
            let middle = Self.threadCPUTime()
            for result in batch { jsonBytes += json.write(result).utf8.count }
            humanTime += middle - before
            jsonTime += Self.threadCPUTime() - middle
            batch.removeAll(keepingCapacity: true)
        }
        CheckRunner.check(scenario) { event in
            guard case .result(let result) = event else { return }
            batch.append(result)
            if batch.count == 1000 { write() }
        }
        write()

        let compose = composed - start
        let model = parsed - composed
        let run = checked - parsed
        let total = compose + model + run
        func line(_ label: String, _ seconds: Double) -> String {
            let padded = label.padding(toLength: 28, withPad: " ", startingAt: 0)
            return "  " + padded + String(format: "%7.3f s  %7.2f µs/connection", seconds, seconds / Double(count) * 1e6)
        }
        print(
            """
            relaylab check throughput: \(count) connections, \(text.utf8.count / 1_000_000) MB of YAML, \(summary.steps) steps
            \(line("YAML (block reader / Yams)", compose))
            \(line("scenario model", model))
            \(line("simulation and comparison", run))
            \(line("  the same, failures only", briefRun)) (as for the human report)
            \(line("human report", humanTime)) (\(humanBytes / 1_000_000) MB)
            \(line("JSON Lines report", jsonTime)) (\(jsonBytes / 1_000_000) MB)
              parse + check, failures only: \(Int(Double(count) / (compose + model + briefRun))) connections/s; with the human report (relaylab check): \(Int(Double(count) / (compose + model + briefRun + humanTime))) connections/s
              parse + check, every step: \(Int(Double(count) / total)) connections/s; with JSON (relaylab check --format json): \(Int(Double(count) / (total + jsonTime))) connections/s
            """)
    }
}

import Scenarios

/// JUnit XML, as GitLab, GitHub (test-reporter actions) and Jenkins render it: one `<testsuite>`
/// per scenario file (or capture), one `<testcase>` per connection with a `<failure>` listing its
/// differences and, for failures, the transcript in `<system-out>`. Files that could not be
/// checked appear as a test case with an `<error>`. No timings, so the file is reproducible.
public struct JUnitReportWriter: ReportWriter {
    private struct Suite {
        var name: String
        var tests = 0
        var failures = 0
        var errors = 0
        var body = ""
    }

    /// The `<testsuites name=…>`.
    public var name: String
    private var suites: [Suite] = []
    private var suiteIndex: [String: Int] = [:]

    public init(name: String = "relaylab check") { self.name = name }

    /// A passing test case is one element; transcripts are written for failures only.
    public var showsPassingDetails: Bool { false }

    private mutating func index(of suite: String) -> Int {
        if let index = suiteIndex[suite] { return index }
        suites.append(Suite(name: suite))
        suiteIndex[suite] = suites.count - 1
        return suites.count - 1
    }

    /// `scenarios/spec/rcpt.yaml` → `scenarios.spec.rcpt`.
    static func className(_ suite: String) -> String {
        var name = suite
        for suffix in [".yaml", ".yml", ".pcapng", ".pcap"] where name.hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
        }
        while name.hasPrefix("./") { name = String(name.dropFirst(2)) }
        return name.replacing("/", with: ".")
    }

    public mutating func write(_ result: ConnectionResult) -> String {
        let index = index(of: result.suite)
        suites[index].tests += 1
        var testcase = "    <testcase name=\"\(ByteText.xml(result.name))\" classname=\"\(ByteText.xml(JUnitReportWriter.className(result.suite)))\""
        testcase += " file=\"\(ByteText.xml(result.position?.file ?? result.suite))\""
        if let line = result.position?.line { testcase += " line=\"\(line)\"" }
        if result.passed {
            testcase += "/>\n"
        } else {
            suites[index].failures += 1
            let first = result.differences[0]
            let count = result.differences.count
            let message = first.oneLine + (count > 1 ? " (and \(count - 1) more)" : "")
            testcase += ">\n      <failure message=\"\(ByteText.xml(message))\" type=\"difference\">"
            var details = ""
            for difference in result.differences {
                if let position = difference.position { details += "\(position): " }
                details += difference.subject + "\n  expected: " + difference.expected + "\n  actual:   "
                details += difference.actual.replacing("\n", with: "\n            ") + "\n"
                for fact in difference.explanation { details += "  because:  " + fact + "\n" }
            }
            testcase += ByteText.xml(details, attribute: false) + "</failure>\n"
            var transcript = "connection: \(result.connection.decision)"
            if let rule = result.connection.rule { transcript += " by rule \"\(rule)\"" }
            transcript += " (\(result.route))\n"
            for step in result.steps {
                transcript += "C: " + (step.kind == .greeting ? "(connect)" : step.clientText) + "\n"
                for line in step.reply { transcript += "S: " + line + "\n" }
            }
            testcase += "      <system-out>" + ByteText.xml(transcript, attribute: false) + "</system-out>\n"
            testcase += "    </testcase>\n"
        }
        suites[index].body += testcase
        return ""
    }

    public mutating func write(_ problem: ReportProblem) -> String {
        guard !problem.isWarning else { return "" }
        let index = index(of: problem.file)
        suites[index].tests += 1
        suites[index].errors += 1
        var testcase = "    <testcase name=\"(file could not be checked)\" classname=\"\(ByteText.xml(JUnitReportWriter.className(problem.file)))\""
        testcase += " file=\"\(ByteText.xml(problem.file))\""
        if let line = problem.position?.line { testcase += " line=\"\(line)\"" }
        testcase += ">\n      <error message=\"\(ByteText.xml(problem.message))\" type=\"input\">"
        testcase += ByteText.xml(problem.detail, attribute: false) + "</error>\n    </testcase>\n"
        suites[index].body += testcase
        return ""
    }

    public mutating func finish(_ summary: ReportSummary) -> String {
        let tests = suites.reduce(0) { $0 + $1.tests }
        let failures = suites.reduce(0) { $0 + $1.failures }
        let errors = suites.reduce(0) { $0 + $1.errors }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(ByteText.xml(name))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\">\n"
        for suite in suites {
            out += "  <testsuite name=\"\(ByteText.xml(suite.name))\" tests=\"\(suite.tests)\" failures=\"\(suite.failures)\" errors=\"\(suite.errors)\" skipped=\"0\">\n"
            out += suite.body
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }
}

import Scenarios

/// The human report: per file a heading, one line per connection (✓ or ✗) and, for each
/// difference, expected vs actual with the engine's explanation; with `explain`, every
/// connection's transcript and every decision's explanation.
///
///     scenarios/classic.yaml
///       ✓ office LAN may relay
///       ✗ guest Wi-Fi may not relay  (scenarios/classic.yaml:30)
///           scenarios/classic.yaml:34:9: RCPT TO:<friend@elsewhere.example>
///             expected  relay
///             actual    553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)  (refuse)
///             because   rule "10.1.9." matched: allow (tcp.smtp:8)
///                       domain "elsewhere.example" is not in rcpthosts or morercpthosts.cdb (…)
///
///     2 connections: 1 passed, 1 failed (12 steps)
public struct HumanReportWriter: ReportWriter {
    /// Show every connection's transcript and explanations.
    public var explain: Bool
    /// Use ANSI colours.
    public var colour: Bool
    private var currentSuite: String?
    private var warningsShown: Set<String> = []

    public init(explain: Bool = false, colour: Bool = false) {
        self.explain = explain
        self.colour = colour
    }

    public var problemsGoToStandardError: Bool { true }

    /// A passing connection is one line, unless every decision is explained.
    public var showsPassingDetails: Bool { explain }

    /// Whether to colour the report: only on a terminal, and never when `NO_COLOR` is set
    /// (whatever its value).
    public static func usesColour(isTerminal: Bool, environment: [String: String]) -> Bool {
        isTerminal && environment["NO_COLOR"] == nil
    }

    public mutating func write(_ result: ConnectionResult) -> String {
        var out = ""
        if result.suite != currentSuite {
            if currentSuite != nil { out += "\n" }
            out += paint(result.suite, .bold) + "\n"
            currentSuite = result.suite
            warningsShown = []
        }
        for warning in result.warnings where warningsShown.insert(warning).inserted {
            out += "  " + paint("warning:", .yellow) + " " + warning + "\n"
        }
        let mark = result.passed ? paint("✓", .green) : paint("✗", .red)
        out += "  \(mark) \(result.name)"
        if !result.passed, let position = result.position {
            out += paint("  (\(position.file):\(position.line))", .dim)
        }
        out += "\n"
        if explain { out += transcript(result) }
        for difference in result.differences { out += describe(difference) }
        return out
    }

    public mutating func write(_ problem: ReportProblem) -> String {
        let label = problem.isWarning ? paint("warning:", .yellow) : paint("error:", .red)
        return "\(label) \(problem.detail)\n"
    }

    public mutating func finish(_ summary: ReportSummary) -> String {
        var lookups = ""
        if let statistics = summary.lookups { lookups = (currentSuite == nil ? "" : "\n") + statistics.humanText(dim: { paint($0, .dim) }) }
        var text = summary.accounting + ": "
        text += paint("\(summary.passed) passed", summary.passed > 0 && summary.failed == 0 ? .green : .plain)
        text += ", " + paint("\(summary.failed) failed", summary.failed > 0 ? .red : .plain)
        text += " (\(summary.steps) step\(summary.steps == 1 ? "" : "s"))"
        if summary.errors > 0 {
            text += ", " + paint("\(summary.errors) error\(summary.errors == 1 ? "" : "s")", .red)
        }
        text += "\n"
        for (reason, count) in summary.sortedSkipReasons { text += "  skipped \(count): \(reason)\n" }
        return lookups + (currentSuite == nil && lookups.isEmpty ? "" : "\n") + text
    }

    // MARK: - Parts

    private func describe(_ difference: Difference) -> String {
        var out = "      "
        if let position = difference.position { out += paint("\(position):", .dim) + " " }
        out += difference.subject + "\n"
        let expected = difference.expected.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in expected.enumerated() {
            out += "        " + (index == 0 ? paint("expected", .yellow) : "        ") + "  " + line + "\n"
        }
        let actual = difference.actual.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in actual.enumerated() {
            out += "        " + (index == 0 ? paint("actual  ", .yellow) : "        ") + "  " + line + "\n"
        }
        for (index, fact) in difference.explanation.enumerated() {
            out += "        " + (index == 0 ? paint("because ", .yellow) : "        ") + "  " + paint(fact, .dim) + "\n"
        }
        return out
    }

    private func transcript(_ result: ConnectionResult) -> String {
        var out = "      " + paint("connection", .cyan) + "  \(result.connection.decision)"
        if let rule = result.connection.rule { out += " by rule \"\(rule)\"" }
        if let blocklist = result.connection.blocklist { out += ", rblsmtpd: \(blocklist)" }
        out += "  " + paint(result.route, .dim) + "\n"
        for fact in result.connection.reasonTexts { out += "                  " + paint(fact, .dim) + "\n" }
        for step in result.steps {
            if step.kind == .greeting {
                out += "      " + paint("C:", .cyan) + " (connect)\n"
            } else {
                out += "      " + paint("C:", .cyan) + " " + step.clientText + "\n"
            }
            let lines = step.reply
            if lines.isEmpty {
                out += "      " + paint("S:", .cyan) + " " + paint(step.closed ? "(no reply; connection closed)" : "(no reply)", .dim)
                if let decision = step.decision { out += "  " + paint("[\(decision)]", .bold) }
                out += "\n"
            }
            for (index, line) in lines.enumerated() {
                out += "      " + paint("S:", .cyan) + " " + ByteText.escaped(Array(line.utf8))
                if index == lines.count - 1, let decision = step.decision { out += "  " + paint("[\(decision)]", .bold) }
                out += "\n"
            }
            for fact in step.reasonTexts { out += "         " + paint(fact, .dim) + "\n" }
        }
        return out
    }

    private enum Style: String {
        case plain = ""
        case bold = "1"
        case dim = "2"
        case red = "31"
        case green = "32"
        case yellow = "33"
        case cyan = "36"
    }

    private func paint(_ text: String, _ style: Style) -> String {
        guard colour, style != .plain else { return text }
        return "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m"
    }
}

import Foundation

/// Turns results into text, one connection at a time, in the order they are given.
///
/// Writers return text instead of printing, so that the caller chooses the destination (standard
/// output, a file) and results can be streamed: `write` is called as each connection is checked.
public protocol ReportWriter {
    /// Text before the first result.
    mutating func begin() -> String
    /// Text for one connection.
    mutating func write(_ result: ConnectionResult) -> String
    /// Text for a file that could not be checked (or a warning about one).
    mutating func write(_ problem: ReportProblem) -> String
    /// Text after the last result.
    mutating func finish(_ summary: ReportSummary) -> String
    /// Whether problems belong on standard error (human output) rather than in the report.
    var problemsGoToStandardError: Bool { get }
    /// Whether the writer shows the steps and connection details of connections that pass
    /// (true unless a writer says otherwise). When it does not, a run may leave them out of
    /// passing results (``ScenarioRunner/Detail/failuresOnly``), which saves most of the work
    /// of making a result.
    var showsPassingDetails: Bool { get }
}

extension ReportWriter {
    public mutating func begin() -> String { "" }
    public var problemsGoToStandardError: Bool { false }
    public var showsPassingDetails: Bool { true }
}

/// The report formats of `--format`.
public enum ReportFormat: String, Sendable, Hashable, CaseIterable {
    /// One line per connection, details for differences.
    case human
    /// JSON Lines: one record per connection, then a summary record.
    case json
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`).
    case github

    /// A writer for this format.
    ///
    /// - Parameters:
    ///   - explain: show every decision's explanation chain, not only for differences (human).
    ///   - colour: use ANSI colours (human; only on a terminal and never with `NO_COLOR`).
    ///   - tool: the command named in messages, e.g. `relaylab check`.
    public func makeWriter(explain: Bool = false, colour: Bool = false, tool: String = "relaylab check") -> any ReportWriter {
        switch self {
        case .human: return HumanReportWriter(explain: explain, colour: colour)
        case .json: return JSONLinesReportWriter()
        case .github: return GitHubReportWriter(tool: tool)
        }
    }
}

extension ConnectionResult {
    /// `client → server` for headings.
    var route: String {
        var text = client.description
        if let name = client.name { text += " (\(name))" }
        return text + " → " + server.description
    }
}

extension Difference {
    /// `subject: expected X, got Y` on one line.
    public var oneLine: String {
        "\(subject): expected \(expected), got \(actual.replacingOccurrences(of: "\n", with: " / "))"
    }
}

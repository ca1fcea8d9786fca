import Scenarios

/// GitHub Actions workflow commands: an `::error` annotation at the scenario file and line of
/// every difference (and of every file that could not be checked), a plain line per connection,
/// and the summary.
///
///     ✗ scenarios/classic.yaml: guest Wi-Fi may not relay
///     ::error file=scenarios/classic.yaml,line=34,col=9,title=guest Wi-Fi may not relay::RCPT TO:<…>: expected relay, got 553 …%0Abecause: …
public struct GitHubReportWriter: ReportWriter {
    /// The command named in titles of file-level errors.
    public var tool: String

    public init(tool: String = "relaylab check") { self.tool = tool }

    /// Annotations are for differences only.
    public var showsPassingDetails: Bool { false }

    public mutating func write(_ result: ConnectionResult) -> String {
        var out = "\(result.passed ? "✓" : "✗") \(result.suite): \(result.name)\n"
        for difference in result.differences {
            var message = difference.oneLine
            if !difference.explanation.isEmpty {
                message += "\nbecause: " + difference.explanation.joined(separator: "\n         ")
            }
            out += annotation(
                "error", position: difference.position ?? result.position, file: result.suite, title: result.name,
                message: message)
        }
        return out
    }

    public mutating func write(_ problem: ReportProblem) -> String {
        annotation(
            problem.isWarning ? "warning" : "error", position: problem.position, file: problem.file,
            title: "\(tool): \(problem.isWarning ? "warning" : "cannot check this file")", message: problem.message)
    }

    public mutating func finish(_ summary: ReportSummary) -> String {
        var text = "\(tool): \(summary.accounting): "
        text += "\(summary.passed) passed, \(summary.failed) failed (\(summary.steps) step\(summary.steps == 1 ? "" : "s"))"
        if summary.errors > 0 { text += ", \(summary.errors) error\(summary.errors == 1 ? "" : "s")" }
        return text + "\n"
    }

    private func annotation(_ level: String, position: FilePosition?, file: String, title: String, message: String) -> String {
        var properties = "file=" + GitHubReportWriter.escapeProperty(position?.file ?? file)
        if let position {
            properties += ",line=\(position.line),col=\(position.column)"
        }
        properties += ",title=" + GitHubReportWriter.escapeProperty(title)
        return "::\(level) \(properties)::\(GitHubReportWriter.escapeData(message))\n"
    }

    /// Workflow command data: `%`, CR and LF escaped.
    public static func escapeData(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": result += "%25"
            case "\r": result += "%0D"
            case "\n": result += "%0A"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Workflow command property values: as data, plus `:` and `,`.
    public static func escapeProperty(_ text: String) -> String {
        escapeData(text).replacing(":", with: "%3A").replacing(",", with: "%2C")
    }
}

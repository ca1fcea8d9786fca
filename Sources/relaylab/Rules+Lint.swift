import ArgumentParser
import Foundation
import TCPRules

extension Rules {
    /// `relaylab rules lint RULES`.
    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Warn about open relays, rules that never apply and keys that can never match.",
            discussion: """
                Each finding gives file:line, a severity (high, medium, low), why it matters and how to fix it. \
                A cdb next to the source (or the source next to a cdb) is compared with it. Exit status: 0 no \
                findings, 1 findings, 2 the file cannot be read or does not parse.
                """
        )

        @Argument(help: "The rules: tcprules source (tcp.smtp) or a compiled cdb (tcp.smtp.cdb).")
        var rules: String

        @Option(help: "Output format: text or json.")
        var format: RulesOutputFormat = .text

        @OptionGroup var dialectOptions: RulesDialectOptions

        func run() throws {
            let report: RulesLintReport
            do {
                report = try RulesLinter.lint(path: rules, dialect: dialectOptions.parsing)
            } catch {
                throw RulesCLI.fail("lint", error.diagnostic)
            }
            switch format {
            case .text:
                var text = ""
                for finding in report.findings {
                    text += "\(finding)\n  why: \(finding.why)\n  fix: \(finding.fix)\n"
                }
                if report.findings.isEmpty {
                    text += "\(report.path): no findings\n"
                } else {
                    let counts = RulesLintFinding.Severity.allCases.compactMap { severity -> String? in
                        let count = report.count(severity)
                        return count == 0 ? nil : "\(count) \(severity.rawValue)"
                    }
                    let total = report.findings.count
                    text += "\(report.path): \(total) finding\(total == 1 ? "" : "s") (\(counts.joined(separator: ", ")))\n"
                }
                RulesCLI.write(text)
            case .json:
                RulesCLI.write(try RulesCLI.json(LintJSON(report)))
            }
            if !report.findings.isEmpty { throw ExitCode(1) }
        }
    }
}

/// The JSON form of `relaylab rules lint`.
struct LintJSON: Encodable {
    struct Finding: Encodable {
        var code: String
        var severity: String
        var path: String
        var line: Int?
        var record: Int?
        var key: String?
        var message: String
        var why: String
        var fix: String

        enum CodingKeys: String, CodingKey { case code, severity, path, line, record, key, message, why, fix }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(severity, forKey: .severity)
            try container.encode(path, forKey: .path)
            try container.encode(line, forKey: .line)
            try container.encode(record, forKey: .record)
            try container.encode(key, forKey: .key)
            try container.encode(message, forKey: .message)
            try container.encode(why, forKey: .why)
            try container.encode(fix, forKey: .fix)
        }
    }

    var path: String
    var findings: [Finding]
    var counts: [String: Int]

    init(_ report: RulesLintReport) {
        path = report.path
        findings = report.findings.map {
            Finding(
                code: $0.code, severity: $0.severity.rawValue, path: $0.path, line: $0.line, record: $0.record,
                key: $0.key, message: $0.message, why: $0.why, fix: $0.fix)
        }
        counts = Dictionary(uniqueKeysWithValues: RulesLintFinding.Severity.allCases.map { ($0.rawValue, report.count($0)) })
    }
}

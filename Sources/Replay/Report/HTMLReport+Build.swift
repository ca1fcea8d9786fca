import CDB
import Capture
import Foundation
import Histogram
import Scenarios
public import RelayEngine

/// How many decisions of each kind (subject) had each outcome.
public struct DecisionCounts: Sendable, Hashable {
    /// subject (`connection`, `rcpt`, …) → outcome (`allow`, `accept`, `relay`, …) → count.
    public private(set) var counts: [String: [String: Int]] = [:]

    public init() {}

    /// The decisions of a session: tcpserver's (`allow` or `deny`), then every decision of its
    /// exchanges (rblsmtpd, the greeting, HELO, MAIL, RCPT, DATA, AUTH, timeouts).
    public init(session: RelaySession, denied: Bool) {
        add(subject: "connection", outcome: denied ? "deny" : "allow")
        for exchange in session.exchanges {
            guard let decision = exchange.decision, decision.subject != .connection else { continue }
            add(subject: decision.subject.rawValue, outcome: decision.outcome.rawValue)
        }
    }

    /// The decisions of a connection in the shared report model.
    public init(result: ConnectionResult) {
        add(subject: "connection", outcome: result.connection.decision)
        var blocklistSeen = false
        for step in result.steps {
            guard let subject = step.subject, let outcome = step.decision, subject != "connection" else { continue }
            if subject == "blocklist" { blocklistSeen = true }
            add(subject: subject, outcome: outcome)
        }
        if !blocklistSeen, let blocklist = result.connection.blocklist {
            add(subject: "blocklist", outcome: blocklist)
        }
    }

    public mutating func add(subject: String, outcome: String, count: Int = 1) {
        let outcome = outcome == "pass" ? "accept" : outcome
        counts[subject, default: [:]][outcome, default: 0] += count
    }

    public mutating func add(_ other: DecisionCounts) {
        for (subject, outcomes) in other.counts {
            for (outcome, count) in outcomes { add(subject: subject, outcome: outcome, count: count) }
        }
    }

    /// The subjects in the chain's order, with their labels.
    static let subjects: [(key: String, label: String)] = [
        ("connection", "connection"), ("blocklist", "rblsmtpd"), ("greeting", "greeting"), ("helo", "HELO/EHLO"),
        ("mail", "MAIL"), ("rcpt", "RCPT"), ("data", "DATA/message"), ("auth", "AUTH"), ("timeout", "timeout"),
    ]

    /// The outcomes in display order.
    static let outcomes = ["allow", "accept", "relay", "tempfail", "refuse", "deny"]

    /// Chart bars, one per subject with decisions (`suffix` is added to each label).
    func bars(suffix: String = "") -> [HTMLReport.DecisionBar] {
        var known = Set(DecisionCounts.subjects.map(\.key))
        var order = DecisionCounts.subjects
        for subject in counts.keys.sorted() where !known.contains(subject) {
            order.append((subject, subject))
            known.insert(subject)
        }
        return order.compactMap { subject -> HTMLReport.DecisionBar? in
            guard let outcomes = counts[subject.key], !outcomes.isEmpty else { return nil }
            var segments: [HTMLReport.DecisionBar.Segment] = []
            for outcome in DecisionCounts.outcomes { if let count = outcomes[outcome] { segments.append(.init(outcome: outcome, count: count)) } }
            for (outcome, count) in outcomes.sorted(by: { $0.key < $1.key }) where !DecisionCounts.outcomes.contains(outcome) {
                segments.append(.init(outcome: outcome, count: count))
            }
            return HTMLReport.DecisionBar(label: subject.label + suffix, segments: segments)
        }
    }
}

/// Gathers what the HTML report shows while a run streams its connections: the differences
/// (the first ``maximumRows`` as table rows, all of them counted by kind) and every decision.
public struct HTMLReportCollector: Sendable {
    /// Rows kept for the table.
    public var maximumRows: Int
    /// The rows kept.
    public private(set) var rows: [HTMLReport.Row] = []
    /// All rows, kept or not.
    public private(set) var totalRows = 0
    /// Differences by kind (all of them).
    public private(set) var kinds: [String: Int] = [:]
    /// Decisions, by side (`""` when there is one).
    public private(set) var decisions: [String: DecisionCounts] = [:]

    public init(maximumRows: Int = 5_000) {
        self.maximumRows = maximumRows
    }

    private mutating func keep(_ row: HTMLReport.Row) {
        totalRows += 1
        if rows.count < maximumRows { rows.append(row) }
    }

    private static func client(_ ip: String, port: Int, name: String?) -> String {
        let address = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        return name.map { "\(address) (\($0))" } ?? address
    }

    /// A replayed captured connection (`relaylab replay`).
    public mutating func add(_ connection: ReplayedConnection) {
        if let counts = connection.decisions { decisions["", default: DecisionCounts()].add(counts) }
        let client = HTMLReportCollector.client(connection.client.ip, port: connection.client.port, name: connection.clientName)
        for difference in connection.differences {
            kinds[difference.change.rawValue, default: 0] += 1
            keep(
                HTMLReport.Row(
                    connection: connection.name, client: client, source: connection.source,
                    step: difference.step.map { "step \($0)" } ?? "connection", subject: difference.subject,
                    kind: difference.change.rawValue, verdict: difference.afterDivergence ? "after divergence" : "differs",
                    leftLabel: "recorded", left: difference.recorded + (difference.recordedOutcome.map { "  (\($0.rawValue))" } ?? ""),
                    rightLabel: "now", right: difference.simulated + (difference.simulatedOutcome.map { "  (\($0.rawValue))" } ?? ""),
                    explanation: difference.explanation))
        }
        for divergence in connection.divergences {
            keep(
                HTMLReport.Row(
                    connection: connection.name, client: client, source: connection.source,
                    step: divergence.step.map { "step \($0)" } ?? "connection", subject: "(the replay took another path)",
                    kind: "divergence", verdict: "diverged", leftLabel: "recorded", left: "(the recorded server's path)",
                    rightLabel: "now", right: divergence.reason, explanation: []))
        }
    }

    /// A checked scenario connection (`relaylab check`).
    public mutating func add(_ result: ConnectionResult) {
        decisions["", default: DecisionCounts()].add(DecisionCounts(result: result))
        let client = HTMLReportCollector.client(result.client.ip, port: result.client.port, name: result.client.name)
        for difference in result.differences {
            let step = difference.step.flatMap { index in result.steps.indices.contains(index) ? result.steps[index] : nil }
            let kind = difference.step == nil ? "connection" : step?.subject ?? "reply"
            kinds[kind, default: 0] += 1
            keep(
                HTMLReport.Row(
                    connection: result.name, client: client,
                    source: difference.position?.description ?? result.position?.description,
                    step: difference.step.map { "step \($0)" } ?? "connection", subject: difference.subject, kind: kind,
                    verdict: "failed", leftLabel: "expected", left: difference.expected, rightLabel: "actual",
                    right: difference.actual, explanation: difference.explanation))
        }
    }

    /// A connection run through two configurations (`relaylab compare`).
    public mutating func add(_ connection: ComparedConnection) {
        if let baseline = connection.baselineResult {
            decisions["baseline", default: DecisionCounts()].add(DecisionCounts(result: baseline))
        }
        if let candidate = connection.candidateResult {
            decisions["candidate", default: DecisionCounts()].add(DecisionCounts(result: candidate))
        }
        let client = HTMLReportCollector.client(connection.client.ip, port: connection.client.port, name: connection.client.name)
        for difference in connection.differences {
            kinds[difference.change.rawValue, default: 0] += 1
            var explanation = difference.causes.map { "cause, \($0.description)" }
            explanation += difference.baseline.explanation.map { "baseline: \($0.description)" }
            explanation += difference.candidate.explanation.map { "candidate: \($0.description)" }
            keep(
                HTMLReport.Row(
                    connection: connection.name, client: client,
                    source: connection.source ?? connection.position?.description,
                    step: difference.step.map { "step \($0)" } ?? "connection", subject: difference.subject,
                    kind: difference.change.rawValue, verdict: connection.notes.isEmpty ? "differs" : "differs, paths differ",
                    leftLabel: "baseline", left: ComparedConnection.sideText(difference.baseline), rightLabel: "candidate",
                    right: ComparedConnection.sideText(difference.candidate), explanation: explanation))
        }
    }

    /// The chart bars: one per kind of decision, per side when there are two.
    var decisionBars: [HTMLReport.DecisionBar] {
        if decisions.keys.contains("baseline") || decisions.keys.contains("candidate") {
            let baseline = decisions["baseline"]?.bars(suffix: " · baseline") ?? []
            let candidate = decisions["candidate"]?.bars(suffix: " · candidate") ?? []
            var bars: [HTMLReport.DecisionBar] = []
            for subject in DecisionCounts.subjects {
                bars += baseline.filter { $0.label == subject.label + " · baseline" }
                bars += candidate.filter { $0.label == subject.label + " · candidate" }
            }
            return bars
        }
        return decisions[""]?.bars() ?? []
    }

    /// The kinds chart, most frequent first.
    func kindCounts(labels: [String: String]) -> [HTMLReport.KindCount] {
        kinds.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { kind, count in
            HTMLReport.KindCount(kind: kind, label: labels[kind] ?? kind, count: count)
        }
    }
}

extension HTMLReport {
    /// Words for the kinds of change.
    static let kindLabels: [String: String] = [
        "deny-connection": "connections denied", "accept-connection": "connections accepted",
        "allow-connection": "connections allowed", "blocklist": "rblsmtpd decisions",
        "refuse-recipient": "recipients refused", "tempfail-recipient": "recipients deferred (4xx)",
        "relay-recipient": "recipients relayed", "accept-recipient": "recipients accepted",
        "refuse-message": "messages refused", "accept-message": "messages accepted", "reply": "other replies",
    ]

    /// The report of `relaylab replay`.
    public static func replay(
        _ summary: ReplaySummary, files: [String], context: [(label: String, text: String)] = [], warnings: [String] = [],
        collector: HTMLReportCollector
    ) -> HTMLReport {
        let what = files.count == 1 ? files[0] : "\(files.count) capture files"
        var report = HTMLReport(tool: "relaylab replay", title: "\(plural(summary.connections, "connection")) in \(what)")
        report.context = (files.count > 1 ? files.map { ("capture", $0) } : []) + context
        let counts = summary.counts
        report.figures = [
            Figure(
                "connections", grouped(summary.connections),
                detail: "\(grouped(summary.compared)) compared, \(grouped(summary.unobservableConnections)) unobservable, \(grouped(summary.skipped)) skipped"),
            Figure(
                "commands compared", grouped(counts.compared),
                detail: "\(grouped(counts.unobservable)) unobservable, \(grouped(counts.notReplayed)) not replayed"),
            Figure("differences", grouped(summary.differences), detail: "in \(plural(summary.connectionsWithDifferences, "connection"))", tone: summary.differences > 0 ? .bad : .good),
            Figure("RCPT decisions changed", grouped(counts.rcptChanged), detail: "of \(grouped(counts.rcptCompared)) compared", tone: counts.rcptChanged > 0 ? .bad : .good),
            Figure("divergences", grouped(counts.diverged), detail: "\(plural(summary.connectionsDiverged, "connection")) took another path", tone: counts.diverged > 0 ? .warn : .neutral),
        ]
        if let lookups = summary.lookups { report.figures.append(lookupFigure(lookups)) }
        report.verdict = ReplayHumanReport(colour: false).verdict(summary).split(separator: "\n").map { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            return (text, text.hasPrefix("no differences") ? .good : text.contains("took another path") ? .warn : .bad)
        }
        report.warnings = warnings + (summary.capture?.damage.map { "damaged: \($0)" } ?? [])
        report.decisions = collector.decisionBars
        report.decisionsNote = "What the simulated chain decided, for every replayed connection and step."
        report.kinds = collector.kindCounts(labels: kindLabels)
        report.rows = collector.rows
        report.totalRows = collector.totalRows
        report.lookups = summary.lookups
        return report
    }

    /// The report of `relaylab check`.
    public static func check(
        _ summary: ReportSummary, paths: [String], warnings: [String] = [], collector: HTMLReportCollector
    ) -> HTMLReport {
        let what = paths.count == 1 ? paths[0] : "\(paths.count) paths"
        var report = HTMLReport(tool: "relaylab check", title: "\(plural(summary.connections, "connection")) in \(what)")
        report.context = paths.count > 1 ? paths.map { ("scenarios", $0) } : []
        report.figures = [
            Figure("connections", grouped(summary.connections), detail: "\(grouped(summary.steps)) steps"),
            Figure("passed", grouped(summary.passed), tone: summary.failed == 0 && summary.passed > 0 ? .good : .neutral),
            Figure("failed", grouped(summary.failed), tone: summary.failed > 0 ? .bad : .good),
        ]
        if summary.errors > 0 { report.figures.append(Figure("errors", grouped(summary.errors), detail: "files not checked", tone: .bad)) }
        if let lookups = summary.lookups { report.figures.append(lookupFigure(lookups)) }
        if summary.failed == 0 && summary.errors == 0 {
            report.verdict = [("every expectation holds", .good)]
        } else {
            report.verdict = [("\(plural(summary.failed, "connection")) failed" + (summary.errors > 0 ? ", \(plural(summary.errors, "file")) could not be checked" : ""), .bad)]
        }
        report.warnings = warnings
        report.decisions = collector.decisionBars
        report.decisionsNote = "What the simulated chain decided, for every scenario connection and step."
        report.kinds = collector.kindCounts(labels: [:])
        report.rows = collector.rows
        report.totalRows = collector.totalRows
        report.lookups = summary.lookups
        return report
    }

    /// The report of `relaylab compare`.
    public static func compare(
        _ summary: CompareSummary, inputs: [String], baseline: String, candidate: String, warnings: [String] = [],
        collector: HTMLReportCollector
    ) -> HTMLReport {
        let what = inputs.count == 1 ? inputs[0] : "\(inputs.count) inputs"
        var report = HTMLReport(tool: "relaylab compare", title: "\(plural(summary.connections, "connection")) in \(what)")
        report.context = [("baseline", baseline), ("candidate", candidate)] + (inputs.count > 1 ? inputs.map { ("input", $0) } : [])
        report.figures = [
            Figure("connections", grouped(summary.connections), detail: "\(grouped(summary.compared)) compared, \(grouped(summary.skipped)) skipped"),
            Figure("identical", grouped(summary.identical), tone: summary.differing == 0 ? .good : .neutral),
            Figure("differ", grouped(summary.differing), detail: "\(plural(summary.differences, "difference"))", tone: summary.differing > 0 ? .bad : .good),
            Figure("steps sent to both", grouped(summary.stepsCompared), detail: "\(grouped(summary.rcptCompared)) RCPT decisions"),
        ]
        if let lookups = summary.lookups { report.figures.append(lookupFigure(lookups)) }
        report.verdict = CompareHumanReport(colour: false).verdict(summary).split(separator: "\n").map { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            return (text, text.hasPrefix("no differences") ? .good : .bad)
        }
        report.warnings = warnings + (summary.capture?.damage.map { "damaged: \($0)" } ?? [])
        report.decisions = collector.decisionBars
        report.decisionsNote = "What each configuration decided, for every connection and step sent to it."
        report.kinds = collector.kindCounts(labels: kindLabels)
        report.rows = collector.rows
        report.totalRows = collector.totalRows
        report.lookups = summary.lookups
        return report
    }

    static func lookupFigure(_ lookups: LookupStatistics) -> Figure {
        let slowest = lookups.databases.filter { $0.timed > 0 }.map { $0.latency(atPercentile: 99) }.max()
        var detail = lookups.sampleEvery == 0 ? "not timed" : "sampled 1 in \(lookups.sampleEvery)"
        if lookups.sampleEvery == 1 { detail = "every lookup timed" }
        if let slowest { detail += ", p99 ≤ \(nanoseconds(slowest))" }
        return Figure("cdb lookups", grouped(lookups.totalLookups), detail: detail)
    }

    static func plural(_ count: Int, _ word: String) -> String {
        "\(grouped(count)) " + (count == 1 ? word : word + "s")
    }
}

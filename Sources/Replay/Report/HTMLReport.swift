import CDB
public import Foundation

/// The `--html` report of `relaylab replay`, `check` and `compare`: one self-contained HTML
/// file (inline CSS, JavaScript and SVG; nothing is fetched) with the summary, the decisions by
/// kind as a chart, the cdb lookups with their latency histograms, and the table of differences,
/// filterable by text, kind and verdict.
///
/// Everything shown comes from captured traffic or configuration files and is escaped; the
/// page's script holds no data (the rows are HTML, filtered by their `data-kind` and
/// `data-verdict` attributes and their text). A URL fragment presets the filters, e.g.
/// `report.html#kind=refuse-recipient&q=example.net`.
///
/// ```swift
/// var collector = HTMLReportCollector()
/// collector.add(replayed)                                  // for each connection
/// let report = HTMLReport.replay(summary, files: ["day.pcap"], collector: collector)
/// try report.write(to: "report.html")                      // temporary file + rename
/// ```
public struct HTMLReport: Sendable {
    /// How a number or line should look.
    public enum Tone: String, Sendable, Hashable {
        case neutral, good, bad, warn
    }

    /// One of the big numbers at the top.
    public struct Figure: Sendable, Hashable {
        public var label: String
        public var value: String
        public var detail: String?
        public var tone: Tone

        public init(_ label: String, _ value: String, detail: String? = nil, tone: Tone = .neutral) {
            self.label = label
            self.value = value
            self.detail = detail
            self.tone = tone
        }
    }

    /// One row of the table of differences.
    public struct Row: Sendable, Hashable {
        /// The connection: `#3 10.1.2.15:40004 → 192.0.2.25:25`, or a scenario's name.
        public var connection: String
        /// The client (address and PTR name).
        public var client: String
        /// Where it comes from (`relay.pcap#60`, `scenarios/x.yaml:12`), if known.
        public var source: String?
        /// `step 4`, `connection`.
        public var step: String
        /// What it is about: `RCPT TO:<friend@elsewhere.example>`.
        public var subject: String
        /// The kind of difference (`refuse-recipient`, …; for `check`, the decision's subject).
        public var kind: String
        /// `differs`, `failed`, `diverged`, `after divergence`.
        public var verdict: String
        /// The two sides: recorded/now, expected/actual, baseline/candidate.
        public var leftLabel: String
        public var left: String
        public var rightLabel: String
        public var right: String
        /// Why: the engine's chain of facts.
        public var explanation: [String]

        public init(
            connection: String, client: String, source: String? = nil, step: String, subject: String, kind: String,
            verdict: String, leftLabel: String, left: String, rightLabel: String, right: String, explanation: [String]
        ) {
            self.connection = connection
            self.client = client
            self.source = source
            self.step = step
            self.subject = subject
            self.kind = kind
            self.verdict = verdict
            self.leftLabel = leftLabel
            self.left = left
            self.rightLabel = rightLabel
            self.right = right
            self.explanation = explanation
        }
    }

    /// One bar of the decisions chart: the outcomes of one kind of decision.
    public struct DecisionBar: Sendable, Hashable {
        public var label: String
        /// Outcome (`accept`, `relay`, `refuse`, `tempfail`, `deny`, `allow`) and count, in order.
        public var segments: [Segment]

        public struct Segment: Sendable, Hashable {
            public var outcome: String
            public var count: Int

            public init(outcome: String, count: Int) {
                self.outcome = outcome
                self.count = count
            }
        }

        public init(label: String, segments: [Segment]) {
            self.label = label
            self.segments = segments
        }

        public var total: Int { segments.reduce(0) { $0 + $1.count } }
    }

    /// The number of differences of one kind.
    public struct KindCount: Sendable, Hashable {
        public var kind: String
        public var label: String
        public var count: Int

        public init(kind: String, label: String, count: Int) {
            self.kind = kind
            self.label = label
            self.count = count
        }
    }

    /// `relaylab replay`.
    public var tool: String
    /// `36 connections in captures/qmail-relay/relay.pcap`.
    public var title: String
    /// Lines under the title: (label, text), e.g. ("baseline", "relaylab.yaml").
    public var context: [(label: String, text: String)] = []
    /// The big numbers.
    public var figures: [Figure] = []
    /// The verdict, one line each.
    public var verdict: [(text: String, tone: Tone)] = []
    /// Configuration and input warnings.
    public var warnings: [String] = []
    /// The decisions chart.
    public var decisions: [DecisionBar] = []
    /// What the decisions chart shows, in words.
    public var decisionsNote: String = ""
    /// Differences by kind (a chart whose bars filter the table).
    public var kinds: [KindCount] = []
    /// The table.
    public var rows: [Row] = []
    /// Rows before the cap (``HTMLReportCollector/maximumRows``).
    public var totalRows = 0
    /// The cdb lookups.
    public var lookups: LookupStatistics?
    /// When the report was made (shown in the footer).
    public var generated = Date()

    public init(tool: String, title: String) {
        self.tool = tool
        self.title = title
    }

    /// The page.
    public func render() -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        out += "<title>" + HTMLReport.escape("\(tool): \(title)") + "</title>\n"
        out += "<style>\n" + HTMLReport.stylesheet + "</style>\n</head>\n<body>\n"
        out += header()
        out += summarySection()
        out += chartsSection()
        out += lookupsSection()
        out += differencesSection()
        out += footer()
        out += "<script>\n" + HTMLReport.script + "</script>\n</body>\n</html>\n"
        return out
    }

    // MARK: - Parts

    func header() -> String {
        var out = "<header>\n<div class=\"tool\">" + HTMLReport.escape(tool) + "</div>\n"
        out += "<h1 id=\"title\">" + HTMLReport.escape(title) + "</h1>\n"
        if !context.isEmpty {
            out += "<dl class=\"context\">\n"
            for item in context {
                out += "<dt>" + HTMLReport.escape(item.label) + "</dt><dd>" + HTMLReport.escape(item.text) + "</dd>\n"
            }
            out += "</dl>\n"
        }
        return out + "</header>\n"
    }

    func summarySection() -> String {
        var out = "<main>\n<section id=\"summary\">\n<div class=\"figures\">\n"
        for figure in figures {
            out += "<div class=\"figure \(figure.tone.rawValue)\"><div class=\"value\">" + HTMLReport.escape(figure.value)
            out += "</div><div class=\"label\">" + HTMLReport.escape(figure.label) + "</div>"
            if let detail = figure.detail { out += "<div class=\"detail\">" + HTMLReport.escape(detail) + "</div>" }
            out += "</div>\n"
        }
        out += "</div>\n"
        if !verdict.isEmpty {
            out += "<ul class=\"verdict\" id=\"verdict\">\n"
            for line in verdict {
                out += "<li class=\"\(line.tone.rawValue)\">" + HTMLReport.escape(line.text) + "</li>\n"
            }
            out += "</ul>\n"
        }
        if !warnings.isEmpty {
            out += "<ul class=\"warnings\">\n"
            for warning in warnings { out += "<li>" + HTMLReport.escape(warning) + "</li>\n" }
            out += "</ul>\n"
        }
        return out + "</section>\n"
    }

    func chartsSection() -> String {
        var out = "<section id=\"charts\" class=\"charts\">\n"
        out += "<div class=\"card\" id=\"decisions\">\n<h2>Decisions by kind</h2>\n"
        if !decisionsNote.isEmpty { out += "<p class=\"note\">" + HTMLReport.escape(decisionsNote) + "</p>\n" }
        out += HTMLReport.decisionChart(decisions)
        out += "</div>\n"
        out += "<div class=\"card\" id=\"kinds\">\n<h2>Differences by kind</h2>\n"
        if kinds.isEmpty {
            out += "<p class=\"empty\">No differences.</p>\n"
        } else {
            out += "<p class=\"note\">Click a bar to show only that kind below.</p>\n"
            out += HTMLReport.kindChart(kinds)
        }
        out += "</div>\n</section>\n"
        return out
    }

    func lookupsSection() -> String {
        var out = "<section id=\"lookups\" class=\"card\">\n<h2>cdb lookups</h2>\n"
        guard let lookups else {
            return out + "<p class=\"empty\">Lookups were not collected.</p>\n</section>\n"
        }
        out += "<p class=\"note\" id=\"sampling\">" + HTMLReport.escape(lookups.samplingText) + "</p>\n"
        guard !lookups.databases.isEmpty else {
            return out + "<p class=\"empty\">No rules cdb and no morercpthosts.cdb: nothing was looked up.</p>\n</section>\n"
        }
        out += "<table class=\"numbers\">\n<thead><tr><th>database</th><th>lookups</th><th>hits</th><th>misses</th>"
        out += "<th>slots/lookup</th><th>time</th><th>lookups/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead>\n<tbody>\n"
        for database in lookups.databases {
            let counts = database.counts
            out += "<tr><td class=\"db\"><span class=\"role\">" + HTMLReport.escape(HTMLReport.databaseLabel(database))
            out += "</span><br><span class=\"path\">" + HTMLReport.escape(database.path) + "</span></td>"
            out += "<td>\(HTMLReport.grouped(counts.lookups))</td><td>\(HTMLReport.grouped(counts.hits))</td>"
            out += "<td>\(HTMLReport.grouped(counts.misses))</td>"
            out += "<td>" + (counts.lookups > 0 ? String(format: "%.2f", Double(counts.probes) / Double(counts.lookups)) : "–") + "</td>"
            if database.timed > 0, let seconds = database.seconds {
                out += "<td>" + (lookups.sampleEvery > 1 ? "~" : "") + HTMLReport.escape(LookupStatistics.duration(seconds)) + "</td>"
                out += "<td>" + HTMLReport.escape(database.lookupsPerSecond.map { LookupStatistics.rate($0).replacingOccurrences(of: " lookups/s", with: "") } ?? "–") + "</td>"
                for percentile in [50.0, 90, 99, 99.9] {
                    out += "<td>" + HTMLReport.nanoseconds(database.latency(atPercentile: percentile)) + "</td>"
                }
                out += "<td>" + HTMLReport.nanoseconds(database.maxLatency) + "</td>"
            } else {
                out += String(repeating: "<td>–</td>", count: 7)
            }
            out += "</tr>\n"
        }
        out += "</tbody>\n</table>\n<div class=\"histograms\">\n"
        for database in lookups.databases {
            out += "<figure class=\"histogram\">\n<figcaption>" + HTMLReport.escape(HTMLReport.databaseLabel(database))
            out += " <span class=\"path\">" + HTMLReport.escape(database.path) + "</span></figcaption>\n"
            out += HTMLReport.histogramChart(database)
            if database.reusedDecisions > 0 {
                out += "<p class=\"note\">" + HTMLReport.grouped(database.reusedDecisions)
                out += " connections started from the replaying thread's cached tcpserver decision for their client (no lookups).</p>\n"
            }
            out += "</figure>\n"
        }
        return out + "</div>\n</section>\n"
    }

    func differencesSection() -> String {
        var out = "<section id=\"table\" class=\"card\">\n<h2>Differences</h2>\n"
        var kindCounts: [String: Int] = [:]
        var verdictCounts: [String: Int] = [:]
        for row in rows {
            kindCounts[row.kind, default: 0] += 1
            verdictCounts[row.verdict, default: 0] += 1
        }
        out += "<div class=\"filters\">\n<label>Filter <input type=\"search\" id=\"q\" placeholder=\"client, domain, reply, rule…\" autocomplete=\"off\"></label>\n"
        out += "<label>Kind <select id=\"kind\"><option value=\"\">all kinds</option>"
        for (kind, count) in kindCounts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            out += "<option value=\"" + HTMLReport.escape(kind) + "\">" + HTMLReport.escape(kind) + " (\(count))</option>"
        }
        out += "</select></label>\n<label>Verdict <select id=\"verdict-filter\"><option value=\"\">all verdicts</option>"
        for (verdict, count) in verdictCounts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            out += "<option value=\"" + HTMLReport.escape(verdict) + "\">" + HTMLReport.escape(verdict) + " (\(count))</option>"
        }
        out += "</select></label>\n"
        out += "<span class=\"count\">showing <span id=\"shown\">\(rows.count)</span> of <span id=\"total\">\(rows.count)</span></span>\n</div>\n"
        if totalRows > rows.count {
            out += "<p class=\"note\" id=\"capped\">The first \(HTMLReport.grouped(rows.count)) of \(HTMLReport.grouped(totalRows)) differences are listed; the JSON Lines report (--format json) has them all.</p>\n"
        }
        if rows.isEmpty {
            out += "<p class=\"empty\" id=\"no-differences\">No differences.</p>\n"
        }
        out += "<table id=\"differences\" data-shown=\"\(rows.count)\">\n<thead><tr><th>connection</th><th>step</th><th>kind</th><th>what happens</th></tr></thead>\n<tbody>\n"
        for row in rows {
            out += "<tr data-kind=\"" + HTMLReport.escape(row.kind) + "\" data-verdict=\"" + HTMLReport.escape(row.verdict) + "\">"
            out += "<td class=\"conn\"><div>" + HTMLReport.escape(row.connection) + "</div><div class=\"client\">"
            out += HTMLReport.escape(row.client) + "</div>"
            if let source = row.source { out += "<div class=\"source\">" + HTMLReport.escape(source) + "</div>" }
            out += "</td><td class=\"step\">" + HTMLReport.escape(row.step) + "</td>"
            out += "<td><span class=\"kind k-" + HTMLReport.cssClass(row.kind) + "\">" + HTMLReport.escape(row.kind) + "</span>"
            out += "<div class=\"verdict-tag\">" + HTMLReport.escape(row.verdict) + "</div></td>"
            out += "<td class=\"what\"><div class=\"subject\">" + HTMLReport.escape(row.subject) + "</div>"
            out += "<div class=\"sides\"><div class=\"side left\"><span class=\"side-label\">" + HTMLReport.escape(row.leftLabel)
            out += "</span><pre>" + HTMLReport.escape(row.left) + "</pre></div><div class=\"side right\"><span class=\"side-label\">"
            out += HTMLReport.escape(row.rightLabel) + "</span><pre>" + HTMLReport.escape(row.right) + "</pre></div></div>"
            if !row.explanation.isEmpty {
                out += "<ul class=\"because\">"
                for fact in row.explanation { out += "<li>" + HTMLReport.escape(fact) + "</li>" }
                out += "</ul>"
            }
            out += "</td></tr>\n"
        }
        return out + "</tbody>\n</table>\n</section>\n</main>\n"
    }

    func footer() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return "<footer>Made by " + HTMLReport.escape(tool) + " on " + formatter.string(from: generated)
            + ". This page is self-contained: it loads nothing from the network.</footer>\n"
    }

    // MARK: - Text

    /// `text` with `&`, `<`, `>`, `"` and `'` escaped, and control characters (other than
    /// newline and tab) shown as `\xNN`: safe in element content and in quoted attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    out += "\\x" + String(format: "%02X", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A class-name fragment: letters, digits and `-` only.
    static func cssClass(_ text: String) -> String {
        String(text.lowercased().unicodeScalars.map { scalar -> Character in
            (scalar.properties.isAlphabetic && scalar.isASCII) || ("0"..."9").contains(scalar) ? Character(scalar) : "-"
        })
    }

    /// `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// `850 ns`, `1.2 µs`, `3.4 ms`.
    static func nanoseconds(_ value: UInt64) -> String {
        if value < 1_000 { return "\(value) ns" }
        if value < 1_000_000 { return String(format: "%.1f µs", Double(value) / 1e3) }
        if value < 1_000_000_000 { return String(format: "%.1f ms", Double(value) / 1e6) }
        return String(format: "%.2f s", Double(value) / 1e9)
    }

    static func databaseLabel(_ database: LookupStatistics.Database) -> String {
        var label = database.side.map { $0 + ": " } ?? ""
        label += database.role.label
        if database.structure == "index" { label += " (in-memory index)" }
        return label
    }
}

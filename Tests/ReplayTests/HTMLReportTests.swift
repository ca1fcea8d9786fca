import Foundation
import RelayEngine
import Replay
import Scenarios
import TestSupport
import Testing

/// What a rendered `--html` page holds, as text.
enum HTMLPage {
    /// How many times `needle` occurs in `page`.
    static func count(_ needle: String, in page: String) -> Int {
        page.components(separatedBy: needle).count - 1
    }

    /// The values of every attribute that can load something (`src`, `href`, …; any quoting,
    /// any case) in the page's tags. Text is escaped, so every `<` followed by a letter opens a
    /// real tag.
    static func references(in page: String) -> [String] {
        let attribute = #/(?i)\s(?:src|href|xlink:href|action|formaction|poster|data|srcset|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/#
        return page.matches(of: #/<[a-zA-Z][^>]*>/#).flatMap { tag in
            tag.output.matches(of: attribute).map { match in
                String(match.output.1 ?? match.output.2 ?? match.output.3 ?? "")
            }
        }
    }

    /// The text between `start` and the next `end` after it.
    static func slice(_ page: String, from start: String, to end: String) -> String? {
        guard let lower = page.range(of: start), let upper = page.range(of: end, range: lower.upperBound..<page.endIndex) else {
            return nil
        }
        return String(page[lower.lowerBound..<upper.upperBound])
    }

    /// Checks what every page must be: one document, self-contained (nothing fetched: every
    /// reference is a fragment or a data: URL), locked down by a Content-Security-Policy, and
    /// with exactly one script element (the report's own).
    static func expectSelfContained(_ page: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(page.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"), sourceLocation: sourceLocation)
        #expect(page.hasSuffix("</html>\n"), sourceLocation: sourceLocation)
        #expect(
            page.contains(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            ), sourceLocation: sourceLocation)
        for reference in references(in: page) {
            #expect(reference.hasPrefix("#") || reference.hasPrefix("data:"), "external reference \(reference)", sourceLocation: sourceLocation)
        }
        let lower = page.lowercased()
        #expect(!lower.contains("src=\"http") && !lower.contains("href=\"http"), sourceLocation: sourceLocation)
        #expect(!lower.contains("@import") && !lower.contains("url("), sourceLocation: sourceLocation)
        #expect(count("<script", in: lower) == 1, sourceLocation: sourceLocation)
        #expect(count("</script>", in: lower) == 1, sourceLocation: sourceLocation)
        #expect(!lower.contains("<link") && !lower.contains("<iframe") && !lower.contains("<img"), sourceLocation: sourceLocation)
    }
}

/// The `--html` report's content for `relaylab replay`, `check` and `compare` (HTMLReport): the
/// summary figures, the decisions chart, the lookup latency histograms, the table of differences
/// with its filters, escaping of hostile text, and that the page loads nothing.
@Suite struct HTMLReportTests {
    // MARK: - Runs

    /// relay.pcap replayed with the office LAN's RELAYCLIENT removed, every lookup timed.
    static func changedReplay() throws -> (report: HTMLReport, summary: ReplaySummary, connections: [ReplayedConnection]) {
        let copy = try ReplayFixtures.changedCopy(of: ReplayFixtures.relay) { copy in
            try ReplayFixtures.edit(copy + "/tcp.smtp") { $0.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow") }
        }
        defer { try? FileManager.default.removeItem(atPath: copy) }
        var options = ReplayOptions()
        options.lookupSampleEvery = 1
        options.countDecisions = true
        let runner = ReplayRunner(
            listeners: ReplayListeners(single: ReplayFixtures.relaySpec(control: copy + "/control", rules: copy + "/tcp.smtp")),
            ptr: try ReplayFixtures.ptr(ReplayFixtures.relay), options: options, threads: 1)
        var summary = ReplaySummary()
        summary.lookups = LookupStatistics(sampleEvery: 1)
        var collector = HTMLReportCollector()
        var connections: [ReplayedConnection] = []
        summary.capture = try runner.run(files: [ReplayFixtures.relay + "/relay.pcap"]) { connection in
            summary.add(connection)
            collector.add(connection)
            connections.append(connection)
        }
        let report = HTMLReport.replay(
            summary, files: ["captures/qmail-relay/relay.pcap"], context: [("configuration", "changed tcp.smtp")], collector: collector)
        return (report, summary, connections)
    }

    /// Checks `files` with lookups sampled 1 in `sampleEvery`.
    static func check(_ files: [String], sampleEvery: Int) -> (report: HTMLReport, summary: ReportSummary) {
        var runner = CheckRunner(jobs: 1)
        runner.lookupSampleEvery = sampleEvery
        var collector = HTMLReportCollector()
        var warnings: [String] = []
        let summary = runner.run(files: files) { event in
            switch event {
            case .result(let result): collector.add(result)
            case .problem(let problem): warnings.append(problem.detail)
            }
        }
        return (HTMLReport.check(summary, paths: files, warnings: warnings, collector: collector), summary)
    }

    /// relay.pcap compared under relaylab.yaml and candidate-tightened.yaml, 1 lookup in 4 timed.
    static func tightenedComparison() throws -> (report: HTMLReport, summary: CompareSummary) {
        let relay = CompareFixtures.relay
        let runner = CompareRunner(
            baseline: try CompareFixtures.listeners(relay + "/relaylab.yaml"),
            candidate: try CompareFixtures.listeners(relay + "/candidate-tightened.yaml"),
            ptr: try ReplayPTRTable.load(path: relay + "/ptr.txt"), threads: 1)
        runner.lookupSampleEvery = 4
        var summary = CompareSummary()
        summary.lookups = LookupStatistics(sampleEvery: 4)
        var collector = HTMLReportCollector()
        summary.capture = try runner.run(captures: [relay + "/relay.pcap"], scenarios: []) { connection in
            summary.add(connection)
            collector.add(connection)
        }
        let report = HTMLReport.compare(
            summary, inputs: ["captures/qmail-relay/relay.pcap"], baseline: "relaylab.yaml", candidate: "candidate-tightened.yaml",
            collector: collector)
        return (report, summary)
    }

    // MARK: - replay

    @Test func replayReportShowsTheSummaryChartsLookupsAndDifferences() throws {
        let (report, summary, connections) = try Self.changedReplay()
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(page.contains("<title>relaylab replay: 36 connections in captures/qmail-relay/relay.pcap</title>"))
        #expect(page.contains("<h1 id=\"title\">36 connections in captures/qmail-relay/relay.pcap</h1>"))
        #expect(page.contains("<dt>configuration</dt><dd>changed tcp.smtp</dd>"))
        // The figures are the summary's.
        #expect(summary.connections == 36 && summary.differences == 6)
        #expect(page.contains("<div class=\"value\">36</div><div class=\"label\">connections</div><div class=\"detail\">36 compared, 0 unobservable, 0 skipped</div>"))
        #expect(page.contains("<div class=\"figure bad\"><div class=\"value\">6</div><div class=\"label\">differences</div><div class=\"detail\">in 2 connections</div>"))
        #expect(page.contains("<div class=\"value\">4</div><div class=\"label\">RCPT decisions changed</div><div class=\"detail\">of 47 compared</div>"))
        #expect(page.contains("<li class=\"bad\">would now refuse 4 recipients from 1 client</li>"))

        // One row per difference and per divergence, with the attributes the filters read.
        let differences = connections.reduce(0) { $0 + $1.differences.count }
        let divergences = connections.reduce(0) { $0 + $1.divergences.count }
        #expect(differences == 6 && divergences == 2)
        #expect(HTMLPage.count("<tr data-kind=", in: page) == differences + divergences)
        #expect(HTMLPage.count("<tr data-kind=\"refuse-recipient\" data-verdict=\"differs\">", in: page) == 4)
        #expect(HTMLPage.count("data-verdict=\"diverged\"", in: page) == 2)
        #expect(page.contains("<table id=\"differences\" data-shown=\"8\">"))
        #expect(page.contains("showing <span id=\"shown\">8</span> of <span id=\"total\">8</span>"))
        #expect(page.contains("RCPT TO:&lt;friend@elsewhere.example&gt;"))
        #expect(page.contains("10.1.2.15:"))
        #expect(page.contains("(ws15.office.example.net)"))
        // The filters: text, kind (with counts), verdict.
        #expect(page.contains("<input type=\"search\" id=\"q\""))
        #expect(page.contains("<select id=\"kind\"><option value=\"\">all kinds</option><option value=\"refuse-recipient\">refuse-recipient (4)</option>"))
        #expect(page.contains("<select id=\"verdict-filter\"><option value=\"\">all verdicts</option><option value=\"differs\">differs (6)</option><option value=\"diverged\">diverged (2)</option></select>"))
        // The kinds chart links to the filtered table (the only references on the page).
        #expect(HTMLPage.references(in: page) == ["#kind=refuse-recipient", "#kind=reply", "#kind=deny-connection"].filter { page.contains("\"\($0)\"") })
        #expect(HTMLPage.references(in: page).contains("#kind=refuse-recipient"))
        #expect(page.contains("<a href=\"#kind=refuse-recipient\" class=\"kind-link\">"))
        #expect(page.contains(">recipients refused</text>"))

        // Decisions by kind: every connection is one tcpserver decision.
        #expect(page.contains("<svg class=\"chart\" role=\"img\" aria-label=\"decisions by kind\""))
        let connectionBar = try #require(HTMLPage.slice(page, from: "<g class=\"bar\" data-label=\"connection\">", to: "</g>"))
        #expect(connectionBar.contains("class=\"total\">36</text>"))
        let rcptBar = try #require(HTMLPage.slice(page, from: "<g class=\"bar\" data-label=\"RCPT\">", to: "</g>"))
        #expect(rcptBar.contains("class=\"total\">47</text>") && rcptBar.contains("<title>RCPT: 20 refuse ("))
        for label in ["rblsmtpd", "greeting", "HELO/EHLO", "MAIL", "DATA/message"] {
            #expect(page.contains("<g class=\"bar\" data-label=\"\(label)\">"), "no bar for \(label)")
        }

        // Lookups: both databases, every lookup timed, a histogram each.
        let lookups = try #require(summary.lookups)
        #expect(lookups.databases.map(\.role) == [.rules, .moreRcptHosts])
        #expect(page.contains("<p class=\"note\" id=\"sampling\">every lookup timed ("))
        #expect(page.contains("<div class=\"detail\">every lookup timed, p99 ≤ "))
        #expect(HTMLPage.count("<figure class=\"histogram\">", in: page) == 2)
        #expect(page.contains("aria-label=\"lookup latency, tcpserver rules (in-memory index)\""))
        #expect(page.contains("aria-label=\"lookup latency, qmail-smtpd morercpthosts\""))
        #expect(HTMLPage.count("class=\"marker-label\">p50 ", in: page) == 2)
        #expect(HTMLPage.count("class=\"marker-label\">p99.9 ", in: page) == 2)
        #expect(HTMLPage.count("class=\"hbar\">", in: page) >= 2)
        #expect(HTMLPage.count("<tr><td class=\"db\">", in: page) == 2)
        #expect(lookups.totalLookups > 36 && lookups.totalLookups < 1000)
        #expect(page.contains("<div class=\"value\">\(lookups.totalLookups)</div><div class=\"label\">cdb lookups</div>"))
    }

    @Test func aReplayWithoutDifferencesSaysSo() throws {
        var options = ReplayOptions()
        options.countDecisions = true
        let runner = ReplayRunner(
            listeners: ReplayListeners(single: ReplayFixtures.relaySpec()), ptr: try ReplayFixtures.ptr(ReplayFixtures.relay),
            options: options, threads: 1)
        var summary = ReplaySummary()
        summary.lookups = LookupStatistics(sampleEvery: 0)
        var collector = HTMLReportCollector()
        summary.capture = try runner.run(files: [ReplayFixtures.relay + "/relay.pcap"]) { connection in
            summary.add(connection)
            collector.add(connection)
        }
        let page = HTMLReport.replay(summary, files: ["relay.pcap"], collector: collector).render()
        HTMLPage.expectSelfContained(page)
        #expect(page.contains("<li class=\"good\">no differences"))
        #expect(page.contains("<p class=\"empty\" id=\"no-differences\">No differences.</p>"))
        #expect(HTMLPage.count("<tr data-kind=", in: page) == 0)
        // Counted, not timed: no histogram bars, the table says so.
        #expect(page.contains("<p class=\"note\" id=\"sampling\">counted, not timed</p>"))
        #expect(HTMLPage.count("<p class=\"empty\">No lookup was timed.</p>", in: page) == 2)
        #expect(HTMLPage.count("class=\"hbar\"", in: page) == 0)
        #expect(page.contains("<div class=\"detail\">not timed</div>"))
    }

    // MARK: - check

    @Test func checkReportCountsPassesAndFailures() throws {
        let failing = TestSupport.fixture("Tests/Fixtures/check/failing.yaml")
        let classic = TestSupport.fixture("scenarios/classic.yaml")
        let (report, summary) = Self.check([classic, failing], sampleEvery: 16)
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(summary.failed == 1 && summary.passed > 10)
        #expect(page.contains("<h1 id=\"title\">\(summary.connections) connections in 2 paths</h1>"))
        #expect(page.contains("<div class=\"value\">\(summary.passed)</div><div class=\"label\">passed</div>"))
        #expect(page.contains("<div class=\"figure bad\"><div class=\"value\">1</div><div class=\"label\">failed</div>"))
        #expect(page.contains("<li class=\"bad\">1 connection failed</li>"))
        // The failing expectation is the table's one row.
        #expect(HTMLPage.count("<tr data-kind=", in: page) == 1)
        let row = try #require(HTMLPage.slice(page, from: "<tr data-kind=", to: "</tr>"))
        #expect(row.hasPrefix("<tr data-kind=\"rcpt\" data-verdict=\"failed\">"))
        #expect(row.contains("expects a relay that does not happen"))
        #expect(row.contains("<span class=\"side-label\">expected</span><pre>relay"))
        #expect(row.contains("failing.yaml:"))
        #expect(page.contains("<option value=\"rcpt\">rcpt (1)</option>"))
        // Decisions of every scenario connection; lookups sampled 1 in 16.
        let connectionBar = try #require(HTMLPage.slice(page, from: "<g class=\"bar\" data-label=\"connection\">", to: "</g>"))
        #expect(connectionBar.contains("class=\"total\">\(summary.connections)</text>"))
        #expect(page.contains("<p class=\"note\" id=\"sampling\">latency sampled 1 in 16 ("))
        #expect(page.contains("<div class=\"detail\">sampled 1 in 16"))
        let lookups = try #require(summary.lookups)
        #expect(lookups.sampleEvery == 16 && lookups.totalLookups > 0)
        #expect(HTMLPage.count("<figure class=\"histogram\">", in: page) == lookups.databases.count)
    }

    @Test func checkReportWithEveryExpectationHolding() {
        let (report, summary) = Self.check([TestSupport.fixture("scenarios/classic.yaml")], sampleEvery: 1)
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(summary.failed == 0)
        #expect(page.contains("<ul class=\"verdict\" id=\"verdict\">\n<li class=\"good\">every expectation holds</li>"))
        #expect(page.contains("<p class=\"empty\">No differences.</p>"))
    }

    @Test func hostileScenarioTextIsEscaped() throws {
        let folder = try TestSupport.temporaryDirectory("html-hostile")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/hostile.yaml"
        try TestSupport.write(
            """
            config:
              control_files: {me: mx.example.net, rcpthosts: example.com}
            connections:
              - name: "<b onmouseover='alert(1)'>x</b> & \\"quotes\\""
                client: 192.0.2.9
                steps:
                  - send: "HELO <script>alert('helo')</script>"
                    expect: "250 </pre><img src=x onerror=alert(2)>"
                  - send: "MAIL FROM:<a\\"><script>alert(3)</script>@example.com>"
                    expect: "999 <svg onload=alert(4)>"

            """, to: path)
        let (report, summary) = Self.check([path], sampleEvery: 0)
        #expect(summary.failed == 1)
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(HTMLPage.count("<tr data-kind=", in: page) == 2)
        // Every hostile piece arrives as text.
        #expect(page.contains("HELO &lt;script&gt;alert(&#39;helo&#39;)&lt;/script&gt;"))
        #expect(page.contains("250 &lt;/pre&gt;&lt;img src=x onerror=alert(2)&gt;"))
        #expect(page.contains("&lt;script&gt;alert(3)&lt;/script&gt;"))
        #expect(page.contains("999 &lt;svg onload=alert(4)&gt;"))
        #expect(page.contains("&lt;b onmouseover=&#39;alert(1)&#39;&gt;x&lt;/b&gt; &amp; &quot;quotes&quot;"))
        for raw in ["<script>alert", "<img", "<svg onload", "<b onmouseover", "onerror=alert(2)>"] {
            #expect(!page.contains(raw), "unescaped: \(raw)")
        }
    }

    @Test func everyFieldIsEscaped() {
        let evil = "<script>alert(\"x\")</script>&'\u{1B}[31m"
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\\x1B[31m"
        var report = HTMLReport(tool: "relaylab " + evil, title: evil)
        report.context = [(evil, evil)]
        report.figures = [HTMLReport.Figure(evil, evil, detail: evil, tone: .bad)]
        report.verdict = [(evil, .warn)]
        report.warnings = [evil]
        report.decisions = [HTMLReport.DecisionBar(label: evil, segments: [.init(outcome: evil, count: 3), .init(outcome: "refuse", count: 1)])]
        report.decisionsNote = evil
        report.kinds = [HTMLReport.KindCount(kind: "x\" onclick=\"alert(1)", label: evil, count: 2)]
        report.rows = [
            HTMLReport.Row(
                connection: evil, client: evil, source: evil, step: evil, subject: evil, kind: "x\" onclick=\"alert(1)", verdict: evil,
                leftLabel: evil, left: evil, rightLabel: evil, right: evil, explanation: [evil, evil])
        ]
        report.totalRows = 1
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(!page.contains("<script>alert"))
        #expect(!page.contains("\u{1B}"))
        #expect(!page.contains(" onclick=\""))
        #expect(page.contains("<tr data-kind=\"x&quot; onclick=&quot;alert(1)\" data-verdict=\"\(escaped)\">"))
        // The kind's link is percent-encoded: a fragment, never a way out of the attribute.
        #expect(page.contains("<a href=\"#kind=x%22%20onclick%3D%22alert%281%29\" class=\"kind-link\">"))
        // Title, context, figures, verdict, warning, chart labels, note, kinds label, and the
        // row's 14 fields (connection … two explanations; kind's CSS class and data excluded).
        #expect(HTMLPage.count(escaped, in: page) >= 25)
        #expect(HTMLReport.escape("a\tb\nc\u{0}\u{7F}\u{85}é") == "a\tb\nc\\x00\\x7F\\x85é")
    }

    @Test func theReferenceScannerSeesWhatWouldLoad() {
        let page = "<p>see http://x.example/</p><img SRC='http://a.example/x.png'><a\nhref=https://b.example>b</a>&lt;img src=x&gt;<link rel=stylesheet href=\"//c.example/s.css\">"
        #expect(HTMLPage.references(in: page) == ["http://a.example/x.png", "https://b.example", "//c.example/s.css"])
    }

    // MARK: - compare

    @Test func compareReportShowsBothSides() throws {
        let (report, summary) = try Self.tightenedComparison()
        let page = report.render()
        HTMLPage.expectSelfContained(page)
        #expect(summary.differing == 7 && summary.differences == 12)
        #expect(page.contains("<title>relaylab compare: 36 connections in captures/qmail-relay/relay.pcap</title>"))
        #expect(page.contains("<dt>baseline</dt><dd>relaylab.yaml</dd>\n<dt>candidate</dt><dd>candidate-tightened.yaml</dd>"))
        #expect(page.contains("<div class=\"value\">29</div><div class=\"label\">identical</div>"))
        #expect(page.contains("<div class=\"figure bad\"><div class=\"value\">7</div><div class=\"label\">differ</div><div class=\"detail\">12 differences</div>"))
        #expect(page.contains("<li class=\"bad\">the candidate would refuse 5 recipients from 2 clients</li>"))
        // Rows: the twelve differences, filterable by kind.
        #expect(HTMLPage.count("<tr data-kind=", in: page) == 12)
        #expect(HTMLPage.count("<tr data-kind=\"refuse-recipient\"", in: page) == 5)
        #expect(HTMLPage.count("<tr data-kind=\"deny-connection\"", in: page) == 2)
        #expect(page.contains("<option value=\"refuse-recipient\">refuse-recipient (5)</option>"))
        #expect(page.contains("<span class=\"side-label\">baseline</span>"))
        #expect(page.contains("<span class=\"side-label\">candidate</span>"))
        #expect(page.contains("<li>cause, "))
        // Decisions per side, side by side.
        let baseline = try #require(HTMLPage.slice(page, from: "<g class=\"bar\" data-label=\"connection · baseline\">", to: "</g>"))
        let candidate = try #require(HTMLPage.slice(page, from: "<g class=\"bar\" data-label=\"connection · candidate\">", to: "</g>"))
        #expect(baseline.contains("class=\"total\">36</text>") && candidate.contains("class=\"total\">36</text>"))
        // Two more connections denied: the two deny-connection differences.
        #expect(baseline.contains("<title>connection · baseline: 2 deny ("))
        #expect(candidate.contains("<title>connection · candidate: 4 deny ("))
        #expect(page.range(of: "data-label=\"RCPT · baseline\"")!.lowerBound < page.range(of: "data-label=\"RCPT · candidate\"")!.lowerBound)
        // Lookups: each side's two databases, a histogram each.
        let lookups = try #require(summary.lookups)
        #expect(lookups.databases.map { "\($0.side ?? "-") \($0.role.rawValue)" }.sorted() == [
            "baseline morercpthosts", "baseline rules", "candidate morercpthosts", "candidate rules",
        ])
        #expect(HTMLPage.count("<figure class=\"histogram\">", in: page) == 4)
        #expect(page.contains("aria-label=\"lookup latency, baseline: qmail-smtpd morercpthosts\""))
        #expect(page.contains("aria-label=\"lookup latency, candidate: tcpserver rules (in-memory index)\""))
        #expect(page.contains("<p class=\"note\" id=\"sampling\">latency sampled 1 in 4 ("))
    }

    @Test func theTableIsCappedAndSaysSo() {
        var collector = HTMLReportCollector(maximumRows: 2)
        let result = ConnectionResult(
            suite: "x.yaml", name: "c", client: Endpoint(ip: "192.0.2.1", port: 1000), server: Endpoint(ip: "192.0.2.25", port: 25),
            connection: ConnectionOutcome(decision: "deny"), steps: [],
            differences: (0..<5).map { index in
                Difference(position: nil, step: nil, subject: "connection", expected: "allow", actual: "deny \(index)", explanation: [])
            })
        collector.add(result)
        var summary = ReportSummary()
        summary.add(result)
        let page = HTMLReport.check(summary, paths: ["x.yaml"], collector: collector).render()
        #expect(HTMLPage.count("<tr data-kind=", in: page) == 2)
        #expect(page.contains("<p class=\"note\" id=\"capped\">The first 2 of 5 differences are listed;"))
        #expect(page.contains("<option value=\"connection\">connection (2)</option>"))
        #expect(page.contains(">5</text></a>"))
    }
}

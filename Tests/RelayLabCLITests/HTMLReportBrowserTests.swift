import Foundation
import TestSupport
import Testing

/// Headless Chromium (Debian's `chromium`, or `chromium-headless-shell`) on the `--html` reports
/// relaylab writes: the page's script runs without errors (it marks `<html data-script="ready">`),
/// its filters work (a URL fragment presets them; the dumped DOM shows the hidden rows and the
/// count), the charts are in the rendered document, hostile text stays text, nothing breaks the
/// Content-Security-Policy, and a screenshot can be taken (the README's command).
/// The headless browser, if installed.
enum Browser {
    static let chromium = TestSupport.which("chromium") ?? TestSupport.which("chromium-headless-shell")
}

@Suite(
    .serialized,
    .enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"),
    .enabled(if: Browser.chromium != nil, "chromium (Debian package chromium) is not installed")
)
struct HTMLReportBrowserTests {
    static let sample = "captures/qmail-relay"

    /// What the browser made of a page.
    struct Rendered {
        /// The DOM after the page's script ran (`--dump-dom`).
        var dom: String
        /// The page's console messages (errors, CSP violations).
        var console: [String]
    }

    /// Runs Chromium on `file` (with `fragment`, if any) and returns the rendered DOM.
    func render(_ file: String, fragment: String = "", screenshot: String? = nil) throws -> Rendered {
        let profile = try TestSupport.temporaryDirectory("chromium-profile")
        defer { try? FileManager.default.removeItem(atPath: profile) }
        var arguments = [
            "120", Browser.chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
            "--enable-logging=stderr", "--v=0",
        ]
        if let screenshot {
            arguments += ["--screenshot=" + screenshot, "--window-size=1280,2000", "--hide-scrollbars"]
        } else {
            arguments += ["--dump-dom"]
        }
        arguments.append(URL(fileURLWithPath: file).absoluteString + fragment)
        let result = try TestSupport.run("timeout", arguments)
        #expect(result.status == 0, "chromium failed: \(result.stderrText.suffix(2000))")
        let console = result.stderrText.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Rendered(dom: result.stdoutText, console: console)
    }

    func relaylab(_ arguments: [String]) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, currentDirectory: TestSupport.packageRoot)
    }

    func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// The page's script ran to its end, and nothing went wrong on the console.
    func expectScriptRan(_ rendered: Rendered, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(rendered.dom.contains("<html lang=\"en\" data-script=\"ready\">"), "the script did not finish", sourceLocation: sourceLocation)
        #expect(!rendered.dom.contains(" data-script-error=\""), "the script failed", sourceLocation: sourceLocation)
        #expect(rendered.console.isEmpty, "console: \(rendered.console)", sourceLocation: sourceLocation)
    }

    /// The rows the script left visible and hidden.
    func rows(_ dom: String) -> (shown: Int, hidden: Int) {
        let all = dom.components(separatedBy: "<tr data-kind=").dropFirst()
        let hidden = all.filter { row in row.prefix(while: { $0 != ">" }).contains(" hidden") }.count
        return (all.count - hidden, hidden)
    }

    @Test func compareReportFiltersInTheBrowser() throws {
        let folder = try TestSupport.temporaryDirectory("html-browser")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let page = folder + "/compare.html"
        let result = try relaylab([
            "compare", "--ptr", "\(Self.sample)/ptr.txt", "\(Self.sample)/relay.pcap", "--baseline", "\(Self.sample)/relaylab.yaml",
            "--candidate", "\(Self.sample)/candidate-tightened.yaml", "--html", page, "--lookup-sample", "1",
        ])
        #expect(result.status == 1, "\(result.stderrText)")

        // No filter: all twelve rows.
        let all = try render(page)
        expectScriptRan(all)
        #expect(rows(all.dom) == (12, 0))
        #expect(all.dom.contains("<table id=\"differences\" data-shown=\"12\" data-filter=\"||\">"))
        #expect(all.dom.contains("<span id=\"shown\">12</span> of <span id=\"total\">12</span>"))
        // The charts are in the document: decisions per side, kinds, four latency histograms.
        #expect(all.dom.contains("<svg class=\"chart\" role=\"img\" aria-label=\"decisions by kind\""))
        #expect(all.dom.contains("<svg class=\"chart\" role=\"img\" aria-label=\"differences by kind\""))
        #expect(count("<svg class=\"chart histogram-svg\"", in: all.dom) == 4)
        #expect(count("<g class=\"bar\" data-label=", in: all.dom) >= 12)
        #expect(count("<rect ", in: all.dom) > 30)
        #expect(count("class=\"marker-label\">p99 ", in: all.dom) == 4)

        // A kind from the fragment (as the kinds chart's links set it).
        let refused = try render(page, fragment: "#kind=refuse-recipient")
        expectScriptRan(refused)
        #expect(rows(refused.dom) == (5, 7))
        #expect(refused.dom.contains("data-shown=\"5\" data-filter=\"|refuse-recipient|\""))
        #expect(refused.dom.contains("<span id=\"shown\">5</span>"))

        // Text and verdict together: the office workstation's rows.
        let text = try render(page, fragment: "#q=ws15.office&kind=&verdict=differs%2C%20paths%20differ")
        expectScriptRan(text)
        #expect(text.dom.contains("<input type=\"search\" id=\"q\" placeholder=\"client, domain, reply, rule…\" autocomplete=\"off\" value=\"ws15.office\">"))
        #expect(rows(text.dom) == (6, 6))
        #expect(text.dom.contains("data-filter=\"ws15.office||differs, paths differ\""))

        // A kind that is not in the table: the filter falls back to all kinds.
        let unknown = try render(page, fragment: "#kind=no-such-kind")
        expectScriptRan(unknown)
        #expect(rows(unknown.dom) == (12, 0))
    }

    @Test func hostileTextStaysTextInTheBrowser() throws {
        let folder = try TestSupport.temporaryDirectory("html-browser")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try TestSupport.write(
            """
            config:
              control_files: {me: mx.example.net, rcpthosts: example.com}
            connections:
              - name: "</pre></td></tr></table><script>document.title='owned'</script>"
                client: 192.0.2.9
                steps:
                  - send: "HELO <img src=x onerror=\\"document.title='owned'\\">"
                    expect: "250 <script>document.documentElement.setAttribute('data-owned','1')</script>"

            """, to: folder + "/hostile.yaml")
        let page = folder + "/check.html"
        let result = try relaylab(["check", folder + "/hostile.yaml", "--html", page])
        #expect(result.status == 1, "\(result.stderrText)")
        let rendered = try render(page)
        expectScriptRan(rendered)
        #expect(!rendered.dom.contains(" data-owned=\""))
        #expect(!rendered.dom.contains("<title>owned</title>"))
        #expect(count("<script", in: rendered.dom) == 1)
        #expect(!rendered.dom.contains("<img"))
        #expect(rows(rendered.dom) == (1, 0))
        #expect(rendered.dom.contains("&lt;/pre&gt;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;"))
    }

    @Test func replayReportAndScreenshot() throws {
        let folder = try TestSupport.temporaryDirectory("html-browser")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let page = folder + "/report.html"
        let result = try relaylab([
            "replay", "\(Self.sample)/relay.pcap", "--config", "\(Self.sample)/relaylab.yaml", "--ptr", "\(Self.sample)/ptr.txt",
            "--html", page,
        ])
        #expect(result.status == 0, "\(result.stderrText)")
        let rendered = try render(page)
        expectScriptRan(rendered)
        #expect(rendered.dom.contains("<p class=\"empty\" id=\"no-differences\">No differences.</p>"))
        #expect(count("<svg class=\"chart histogram-svg\"", in: rendered.dom) == 2)

        // README's screenshot command.
        let png = folder + "/report.png"
        _ = try render(page, screenshot: png)
        let bytes = try TestSupport.read(png)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(bytes.count > 20_000)
        // IHDR: width and height, big-endian, at offsets 16 and 20.
        if bytes.count >= 24 {
            let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
            let height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
            #expect(width == 1280 && height == 2000)
        }
    }
}

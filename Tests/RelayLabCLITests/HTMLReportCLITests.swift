import Foundation
import TestSupport
import Testing

/// `--html FILE` on `relaylab check`, `replay` and `compare`, end to end with the built binary:
/// the page is written, exit statuses are those of the run, and the report never replaces an
/// input or a file that is not an HTML report (exit 2, one line on standard error).
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct HTMLReportCLITests {
    static let sample = "captures/qmail-relay"
    /// The replay command line of scripts/demo.
    static let replay = [
        "replay", "\(sample)/relay.pcap", "--config", "\(sample)/relaylab.yaml", "--ptr", "\(sample)/ptr.txt",
    ]
    static let compare = [
        "compare", "--ptr", "\(sample)/ptr.txt", "\(sample)/relay.pcap", "--baseline", "\(sample)/relaylab.yaml",
        "--candidate", "\(sample)/candidate-tightened.yaml",
    ]

    func relaylab(_ arguments: [String]) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, currentDirectory: TestSupport.packageRoot)
    }

    func page(_ path: String) throws -> String {
        String(decoding: try TestSupport.read(path), as: UTF8.self)
    }

    func rows(_ page: String) -> Int {
        page.components(separatedBy: "<tr data-kind=").count - 1
    }

    /// Standard error is one line naming the file and the problem.
    func expectOneLineError(_ result: TestSupport.ProcessResult, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "\(result.stdoutText)\(result.stderrText)", sourceLocation: sourceLocation)
        #expect(result.stderrText.hasSuffix("\n"), sourceLocation: sourceLocation)
        #expect(result.stderrText.split(separator: "\n", omittingEmptySubsequences: false).count == 2, "\(result.stderrText)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(result.stderrText.contains(fragment), "\(result.stderrText)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - Written, exit statuses unchanged

    @Test func checkWritesTheReport() throws {
        let folder = try TestSupport.temporaryDirectory("html-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let passing = try relaylab(["check", "--html", folder + "/check.html", "scenarios"])
        let plain = try relaylab(["check", "scenarios"])
        #expect(passing.status == 0 && plain.status == 0, "\(passing.stderrText)")
        #expect(passing.stderrText.isEmpty)
        let text = try page(folder + "/check.html")
        #expect(text.hasPrefix("<!DOCTYPE html>"))
        #expect(text.contains("<div class=\"tool\">relaylab check</div>"))
        #expect(text.contains("<li class=\"good\">every expectation holds</li>"))
        #expect(text.contains("<section id=\"lookups\" class=\"card\">"))
        #expect(text.contains("latency sampled 1 in 16 ("))
        #expect(rows(text) == 0)
        // A failing expectation: exit 1 with or without --html, one row.
        let failing = try relaylab(["check", "--html", folder + "/check.html", "scenarios/classic.yaml", "Tests/Fixtures/check/failing.yaml"])
        #expect(failing.status == 1, "\(failing.stderrText)")
        let failed = try page(folder + "/check.html")
        #expect(rows(failed) == 1)
        #expect(failed.contains("<tr data-kind=\"rcpt\" data-verdict=\"failed\">"))
        // Nothing is left behind but the report.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["check.html"])
    }

    @Test func replayWritesTheReport() throws {
        let folder = try TestSupport.temporaryDirectory("html-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let same = try relaylab(Self.replay + ["--html", folder + "/replay.html", "--lookup-sample", "1"])
        #expect(same.status == 0, "\(same.stdoutText)\(same.stderrText)")
        #expect(same.stdoutText.contains("no differences"))
        let text = try page(folder + "/replay.html")
        #expect(text.contains("<h1 id=\"title\">36 connections in captures/qmail-relay/relay.pcap</h1>"))
        #expect(text.contains("<dt>configuration</dt><dd>captures/qmail-relay/relaylab.yaml</dd>"))
        #expect(text.contains("every lookup timed ("))
        #expect(text.components(separatedBy: "<figure class=\"histogram\">").count - 1 == 2)
        #expect(text.contains("<g class=\"bar\" data-label=\"connection\">"))
        #expect(rows(text) == 0)
        // The what-if of scripts/demo: differences, exit 1, the rows in the report.
        let rules = String(decoding: try TestSupport.read(TestSupport.fixture(Self.sample + "/tcp.smtp")), as: UTF8.self)
        try TestSupport.write(rules.replacingOccurrences(of: "10.1.:allow,RELAYCLIENT=\"\"", with: "10.1.:allow"), to: folder + "/tcp.smtp")
        let changed = try relaylab(Self.replay + ["--rules", folder + "/tcp.smtp", "--html", folder + "/replay.html"])
        #expect(changed.status == 1, "\(changed.stderrText)")
        let differences = try page(folder + "/replay.html")
        #expect(rows(differences) == 8)
        #expect(differences.contains("<option value=\"refuse-recipient\">refuse-recipient (4)</option>"))
        // JSON output and the report together.
        let json = try relaylab(Self.replay + ["--format", "json", "--html", folder + "/replay.html"])
        #expect(json.status == 0)
        #expect(json.stdoutText.split(separator: "\n").last?.contains("\"lookups\":{\"sample_every\":16,") == true)
    }

    @Test func compareWritesTheReport() throws {
        let folder = try TestSupport.temporaryDirectory("html-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try relaylab(Self.compare + ["--html", folder + "/compare.html"])
        #expect(result.status == 1, "\(result.stderrText)")
        let text = try page(folder + "/compare.html")
        #expect(text.contains("<div class=\"tool\">relaylab compare</div>"))
        #expect(rows(text) == 12)
        #expect(text.contains("data-label=\"connection · candidate\""))
        #expect(text.components(separatedBy: "<figure class=\"histogram\">").count - 1 == 4)
        let same = try relaylab(
            ["compare", "\(Self.sample)/relay.pcap", "--baseline", "\(Self.sample)/relaylab.yaml", "--candidate",
             "\(Self.sample)/relaylab.yaml", "--html", folder + "/compare.html"])
        #expect(same.status == 0, "\(same.stderrText)")
        #expect(rows(try page(folder + "/compare.html")) == 0)
    }

    // MARK: - Refused targets

    @Test func neverOverAnInput() throws {
        let folder = try TestSupport.temporaryDirectory("html-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A capture, a scenario file and a rules file that look like HTML reports are still inputs.
        let fake = Array("<!DOCTYPE html>\n".utf8)
        try TestSupport.write(fake, to: folder + "/in.html")
        let check = try relaylab(["check", "--html", folder + "/in.html", folder + "/in.html"])
        expectOneLineError(check, ["relaylab check: ", folder + "/in.html: refusing to write the HTML report over "])
        #expect(try TestSupport.read(folder + "/in.html") == fake)

        let capture = folder + "/relay.pcap"
        try FileManager.default.copyItem(atPath: TestSupport.fixture(Self.sample + "/relay.pcap"), toPath: capture)
        let replay = try relaylab(["replay", capture, "--config", "\(Self.sample)/relaylab.yaml", "--html", capture])
        expectOneLineError(replay, ["relaylab replay: ", "refusing to write the HTML report over ", "which this run reads"])
        #expect(replay.stdoutText.isEmpty)
        #expect(try TestSupport.read(capture) == TestSupport.read(TestSupport.fixture(Self.sample + "/relay.pcap")))

        let compare = try relaylab(Self.compare + ["--html", "\(Self.sample)/ptr.txt"])
        expectOneLineError(compare, ["relaylab compare: ", "\(Self.sample)/ptr.txt: refusing to write the HTML report over "])
        #expect(compare.stdoutText.isEmpty)

        // Nor into a folder the run reads.
        let into = try relaylab(["check", "--html", "scenarios/report.html", "scenarios"])
        expectOneLineError(into, ["scenarios/report.html: refusing to write the HTML report into scenarios, a folder this run reads"])
        #expect(!FileManager.default.fileExists(atPath: TestSupport.fixture("scenarios/report.html")))
    }

    @Test func neverOverAnotherKindOfFile() throws {
        let folder = try TestSupport.temporaryDirectory("html-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let notes = Array("my notes, not a report\n".utf8)
        try TestSupport.write(notes, to: folder + "/notes.html")
        for arguments in [
            ["check", "scenarios/classic.yaml", "--html", folder + "/notes.html"],
            Self.replay + ["--html", folder + "/notes.html"],
            Self.compare + ["--html", folder + "/notes.html"],
        ] {
            let result = try relaylab(arguments)
            expectOneLineError(result, [folder + "/notes.html: refusing to replace an existing file that is not the HTML report relaylab writes"])
            #expect(result.stdoutText.isEmpty)
            #expect(try TestSupport.read(folder + "/notes.html") == notes)
        }
        // A folder, a missing folder: refused before the run.
        let directory = try relaylab(["check", "scenarios/classic.yaml", "--html", folder])
        expectOneLineError(directory, ["relaylab check: "])
        let missing = try relaylab(Self.replay + ["--html", folder + "/no/such/report.html"])
        expectOneLineError(missing, ["relaylab replay: ", "does not exist"])
        // An earlier report is replaced.
        #expect(try relaylab(["check", "scenarios/classic.yaml", "--html", folder + "/report.html"]).status == 0)
        let compare = try relaylab(Self.compare + ["--html", folder + "/report.html"])
        #expect(compare.status == 1)
        #expect(try page(folder + "/report.html").contains("<div class=\"tool\">relaylab compare</div>"))
        #expect(try relaylab(["check", "--lookup-sample", "-1", "scenarios"]).status == 2)
    }
}

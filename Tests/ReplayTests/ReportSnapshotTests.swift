import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Replay
import Scenarios
import TestSupport
import Testing

/// Golden files: every report format for the same run (Tests/Fixtures/check/golden.yaml plus a
/// malformed file), compared with Tests/Snapshots/ReplayTests/. Run with RECORD_SNAPSHOTS=1 to
/// re-record them after an intended change, then review the diff.
struct ReportSnapshotTests {
    /// The events of checking the golden file and the malformed one, with stable display paths.
    static let events: [CheckEvent] = {
        var events: [CheckEvent] = []
        let folder = TestSupport.fixture("Tests/Fixtures/check")
        for name in ["golden.yaml", "malformed.yaml"] {
            let text = (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
            CheckRunner.check(source: YAMLSource(text: text, path: name, directory: folder)) { events.append($0) }
        }
        return events
    }()

    func render(_ writer: some ReportWriter) -> String {
        var writer = writer
        var summary = ReportSummary()
        var out = writer.begin()
        for event in ReportSnapshotTests.events {
            switch event {
            case .result(let result):
                summary.add(result)
                out += writer.write(result)
            case .problem(let problem):
                if !problem.isWarning { summary.errors += 1 }
                out += writer.write(problem)
            }
        }
        return out + writer.finish(summary)
    }

    @Test func theRunHasWhatTheSnapshotsNeed() {
        let results = ReportSnapshotTests.events.compactMap { event -> ConnectionResult? in
            if case .result(let result) = event { return result }
            return nil
        }
        #expect(results.count == 7)
        #expect(results.map(\.passed) == [true, false, false, true, false, true, false])
        #expect(ReportSnapshotTests.events.count == 8)
    }

    @Test func human() {
        Snapshot.assert(render(HumanReportWriter()), named: "golden.human.txt")
    }

    @Test func humanExplain() {
        Snapshot.assert(render(HumanReportWriter(explain: true)), named: "golden.human-explain.txt")
    }

    @Test func humanColour() {
        Snapshot.assert(render(HumanReportWriter(colour: true)), named: "golden.human-colour.txt")
    }

    @Test func colourOnlyOnATerminalAndNeverWithNoColor() {
        #expect(HumanReportWriter.usesColour(isTerminal: true, environment: [:]))
        #expect(!HumanReportWriter.usesColour(isTerminal: false, environment: [:]))
        #expect(!HumanReportWriter.usesColour(isTerminal: true, environment: ["NO_COLOR": "1"]))
        #expect(!HumanReportWriter.usesColour(isTerminal: true, environment: ["NO_COLOR": ""]))
        #expect(!render(HumanReportWriter()).contains("\u{1B}["))
        #expect(render(HumanReportWriter(colour: true)).contains("\u{1B}[32m✓\u{1B}[0m"))
    }

    @Test func jsonLines() throws {
        let text = render(JSONLinesReportWriter())
        Snapshot.assert(text, named: "golden.jsonl")
        // Every line is a JSON object; the last is the summary with exactly the contract's fields.
        let lines = text.split(separator: "\n")
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "\(line)")
        }
        #expect(
            lines.last
                == #"{"type":"summary","connections":7,"passed":3,"failed":4,"steps":36,"compared":7,"unobservable":0,"skipped":0,"skipped_reasons":{}}"#)
    }

    @Test func junit() {
        let text = render(JUnitReportWriter())
        Snapshot.assert(text, named: "golden.junit.xml")
        let parser = XMLParser(data: Data(text.utf8))
        #expect(parser.parse(), "not well-formed XML: \(String(describing: parser.parserError))")
    }

    @Test func github() {
        Snapshot.assert(render(GitHubReportWriter()), named: "golden.github.txt")
    }
}

/// Golden-file comparison with a re-record switch (`RECORD_SNAPSHOTS=1`).
enum Snapshot {
    static let folder = TestSupport.fixture("Tests/Snapshots/ReplayTests")

    static func assert(_ actual: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = folder + "/" + name
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try Data(actual.utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                Issue.record("cannot record \(path): \(error)", sourceLocation: sourceLocation)
            }
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            Issue.record("no snapshot \(path); record it with RECORD_SNAPSHOTS=1", sourceLocation: sourceLocation)
            return
        }
        let expected = String(decoding: data, as: UTF8.self)
        if actual == expected { return }
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let first = Array(zip(actualLines, expectedLines)).firstIndex { $0 != $1 } ?? min(actualLines.count, expectedLines.count)
        let got = first < actualLines.count ? String(actualLines[first]) : "(end)"
        let wanted = first < expectedLines.count ? String(expectedLines[first]) : "(end)"
        Issue.record(
            "\(name) differs from the snapshot at line \(first + 1):\n  snapshot: \(wanted)\n  actual:   \(got)\n(re-record with RECORD_SNAPSHOTS=1 if the change is intended)",
            sourceLocation: sourceLocation)
    }
}

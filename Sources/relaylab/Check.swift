import ArgumentParser
import Foundation
import Replay
import Scenarios

extension RelayLab {
    /// `relaylab check PATH...`: runs scenario files through the simulation and reports every
    /// decision that differs from what the files expect.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check scenario files: simulate every connection and compare each reply and decision with the file.",
            discussion: """
                PATH is a scenario file or a folder, searched recursively for *.yaml and *.yml (names \
                starting with '.' or '_' are skipped). Files are checked in parallel and reported in \
                order. See scenarios/README.md for the format.

                Exit status: 0 when every expectation holds, 1 when any differs, 2 on usage, \
                configuration or input errors.
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case human, json, github
        }

        @Argument(help: "Scenario files or folders.")
        var paths: [String]

        @Option(help: "Report format: human, json (JSON Lines, one record per connection, then a summary) or github (workflow annotations).")
        var format: Format = .human

        @Option(help: ArgumentHelp("Also write a JUnit XML report (one test case per connection) to this file.", valueName: "file"))
        var junit: String?

        @Flag(help: "Show the explanation chain of every decision, not only of differences (human format).")
        var explain = false

        @Option(help: "How many files to check at once (default: one per processor).")
        var jobs: Int?

        @OptionGroup var lookupFlags: LookupTimingFlags

        @OptionGroup var htmlFlags: HTMLReportFlags
        @OptionGroup(title: "Limits") var inputLimits: InputLimitFlags

        func run() throws {
            if let jobs, jobs < 1 {
                FileHandle.standardError.write(Data("relaylab check: --jobs must be at least 1\n".utf8))
                throw ExitCode(2)
            }
            do {
                try lookupFlags.check()
                try htmlFlags.check()
            } catch let error as ValidationError {
                FileHandle.standardError.write(Data("relaylab check: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
            let files: [String]
            do {
                files = try ScenarioDiscovery.files(for: paths)
            } catch {
                FileHandle.standardError.write(Data("relaylab check: \(error.summary)\n".utf8))
                throw ExitCode(2)
            }
            do {
                if let junit { try OutputFile.check(junit, kind: .junitReport, inputs: paths + files) }
                if let html = htmlFlags.html { try OutputFile.check(html, kind: .htmlReport, inputs: paths + files) }
            } catch {
                FileHandle.standardError.write(Data("relaylab check: \(error)\n".utf8))
                throw ExitCode(2)
            }
            let colour = HumanReportWriter.usesColour(
                isTerminal: isatty(STDOUT_FILENO) == 1, environment: ProcessInfo.processInfo.environment)
            let reportFormat = ReportFormat(rawValue: format.rawValue) ?? .human
            var writer = reportFormat.makeWriter(explain: explain, colour: colour, tool: "relaylab check")
            var junitWriter = junit.map { _ in JUnitReportWriter(name: "relaylab check") }
            let output = _Output()
            var collector = HTMLReportCollector()
            var htmlWarnings: [String] = []
            output.write(writer.begin())
            var runner = CheckRunner(jobs: jobs, maxFileBytes: inputLimits.scenarioBytes, limits: inputLimits.engine)
            runner.lookupSampleEvery = lookupFlags.lookupSample
            // Read once, not for every connection: reading an option through its property
            // wrapper costs about 1,300 instructions.
            let collectsHTML = htmlFlags.html != nil
            // Passing connections are made in full only for reports that show them in full.
            runner.detail = writer.showsPassingDetails || collectsHTML ? .everyStep : .failuresOnly
            let summary = runner.run(files: files) { event in
                switch event {
                case .result(let result):
                    output.write(writer.write(result))
                    if collectsHTML { collector.add(result) }
                    _ = junitWriter?.write(result)
                case .problem(let problem):
                    let text = writer.write(problem)
                    if writer.problemsGoToStandardError { output.writeError(text) } else { output.write(text) }
                    if collectsHTML { htmlWarnings.append(problem.detail) }
                    _ = junitWriter?.write(problem)
                }
            }
            output.write(writer.finish(summary))
            output.flush()
            try htmlFlags.write(
                HTMLReport.check(summary, paths: paths, warnings: htmlWarnings, collector: collector).render(),
                tool: "relaylab check", inputs: paths + files)
            if let junit, var junitWriter {
                let xml = junitWriter.finish(summary)
                do {
                    try OutputFile.write(Array(xml.utf8), to: junit, kind: .junitReport, inputs: paths + files)
                } catch {
                    FileHandle.standardError.write(Data("relaylab check: \(error)\n".utf8))
                    throw ExitCode(2)
                }
            }
            if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
        }
    }
}

/// Buffered standard output (reports can be large), flushed before anything goes to standard error.
final class _Output {
    private var buffer: [UInt8] = []

    func write(_ text: String) {
        guard !text.isEmpty else { return }
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func writeError(_ text: String) {
        flush()
        FileHandle.standardError.write(Data(text.utf8))
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

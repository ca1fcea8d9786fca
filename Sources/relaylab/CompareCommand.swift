import ArgumentParser
import Capture
import Foundation
import Replay
import Scenarios

extension RelayLab {
    /// `relaylab compare INPUT... --baseline CFG --candidate CFG`: the same traffic through two
    /// configurations side by side, and every decision that differs.
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare",
            abstract: "Simulate the same traffic (captures, scenario files) against two configurations and report every decision that differs.",
            discussion: """
                INPUT is a capture (pcap or pcapng; '-' reads standard input), a scenario file, or a folder of \
                scenario files. Each side is a configuration file (--baseline FILE.yaml, --candidate FILE.yaml, \
                as relaylab replay --config reads it), run scripts (--baseline-run), or flags \
                (--baseline-control DIR --baseline-rules FILE …, and --candidate-…). --baseline-rev REV reads \
                the baseline's files from a git revision of the current repository; without other --baseline \
                flags it is the candidate's configuration as it was at REV.

                Both configurations run in one pass. A captured connection is replayed through each as \
                relaylab replay does (where a side answers so that the client would have stopped, that side \
                follows the client); a scenario connection reacts to each side's answers, and its own config \
                and expectations are ignored. Differences are grouped by client prefix, recipient domain and \
                the rule line or control entry responsible, with both sides' explanations.

                Examples:
                  relaylab compare day.pcap --baseline relaylab.yaml --candidate relaylab-new.yaml
                  relaylab compare scenarios/ --candidate relaylab.yaml --baseline-rev HEAD
                  relaylab compare day.pcap --baseline-control /var/qmail/control --baseline-rules tcp.smtp.cdb \\
                      --candidate-control new/control --candidate-rules new/tcp.smtp --format json

                Exit status: 0 when both configurations answer alike, 1 when anything differs, 2 on usage, \
                configuration or input errors.
                """)

        enum Format: String, CaseIterable {
            case human, json, github
        }

        @Argument(help: ArgumentHelp("Captures and scenario files or folders.", valueName: "input"))
        var inputs: [String] = []

        @OptionGroup(title: "Baseline") var baselineFlags: BaselineFlags
        @OptionGroup(title: "Candidate") var candidateFlags: CandidateFlags

        @Option(help: ArgumentHelp("Client IP → PTR name for captures, one 'IP NAME' per line.", valueName: "FILE"))
        var ptr: String?

        @Option(name: .customLong("port"), help: ArgumentHelp("A TCP port whose captured connections are SMTP (repeatable; default 25, 587, 2525, plus the listeners' ports).", valueName: "N"))
        var ports: [Int] = []

        @Option(help: ArgumentHelp("A BPF filter expression for reading the captures.", valueName: "EXPRESSION"))
        var filter: String?

        @Option(help: ArgumentHelp("Report format: human (counts, groups, examples), json (JSON Lines: connection and difference records, then a summary) or github (workflow annotations).", valueName: "human|json|github"))
        var format: String = "human"

        @Option(help: ArgumentHelp("Also write a JUnit XML report (one test case per connection) to this file.", valueName: "FILE"))
        var junit: String?

        @Option(help: ArgumentHelp("Threads replaying captured connections (default: one per processor).", valueName: "N"))
        var threads: Int?

        @OptionGroup var lookupFlags: LookupTimingFlags

        @OptionGroup var htmlFlags: HTMLReportFlags
        @OptionGroup(title: "Limits") var inputLimits: InputLimitFlags
        @OptionGroup(title: "Capture limits") var captureLimits: CaptureLimitFlags

        /// Checks the arguments (in run(), not validate(): ArgumentParser validates for --help too).
        func checkArguments() throws {
            do {
                if inputs.isEmpty { throw ValidationError("give at least one capture or scenario file") }
                if Format(rawValue: format) == nil {
                    throw ValidationError("--format must be human, json or github (got \"\(format)\")")
                }
                if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
                try lookupFlags.check()
                try htmlFlags.check()
                try captureLimits.check()
                for port in ports where !(1...65535).contains(port) {
                    throw ValidationError("--port \(port) is out of range (1-65535)")
                }
                let baseline = baselineFlags.values
                let candidate = candidateFlags.values
                if baseline.isEmpty && baseline.rev == nil {
                    throw ValidationError("give the baseline: --baseline FILE.yaml, --baseline-control DIR (and --baseline-rules FILE, …), --baseline-run SCRIPT, or --baseline-rev REV")
                }
                if candidate.isEmpty && candidate.rev == nil {
                    throw ValidationError("give the candidate: --candidate FILE.yaml, --candidate-control DIR (and --candidate-rules FILE, …), --candidate-run SCRIPT, or --candidate-rev REV")
                }
                if baseline.isEmpty && candidate.isEmpty {
                    throw ValidationError("with only git revisions, give one side's configuration (e.g. --candidate FILE.yaml --baseline-rev HEAD)")
                }
                for (name, side) in [("baseline", baseline), ("candidate", candidate)] where !side.isEmpty {
                    do {
                        try ReplayConfigurationFlags.parse(side.arguments).check()
                    } catch let error as ValidationError {
                        // Name the side's own flags: --config is --baseline, --control is --baseline-control.
                        let message = error.message.replacingOccurrences(of: "--config", with: "\u{0}")
                            .replacingOccurrences(of: "--no-", with: "--no-\(name)-")
                            .replacingOccurrences(of: "--", with: "--\(name)-")
                            .replacingOccurrences(of: "--no-\(name)-\(name)-", with: "--no-\(name)-")
                            .replacingOccurrences(of: "\u{0}", with: "--\(name)")
                        throw ValidationError("\(name): " + message)
                    }
                }
            } catch let error as ValidationError {
                FileHandle.standardError.write(Data("relaylab compare: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }

        func run() throws {
            try checkArguments()
            let output = _Output()
            var revisions: [CompareRevision] = []
            func fail(_ message: String) -> ExitCode {
                output.flush()
                FileHandle.standardError.write(Data("relaylab compare: \(message)\n".utf8))
                return ExitCode(2)
            }
            // The two sides' settings; a git revision side reads its files from the revision.
            var sides: [CompareSideValues] = [baselineFlags.values, candidateFlags.values]
            var headings = sides.map(\.summary)
            let sideListeners: [ReplayListeners]
            let captures: [String]
            let scenarios: [String]
            let ptrTable: ReplayPTRTable?
            do {
                for index in 0..<2 {
                    guard let rev = sides[index].rev else { continue }
                    let revision = try CompareRevision(rev)
                    revisions.append(revision)
                    var values = sides[index].isEmpty ? sides[1 - index] : sides[index]
                    values.rev = nil
                    headings[index] = "\(rev): " + values.summary
                    values = try values.mappingPaths(revision.map)
                    values.rev = rev
                    sides[index] = values
                }
                sideListeners = try sides.map { side in
                    try ReplayConfigurationFlags.parse(side.arguments).listeners(maxFileBytes: inputLimits.scenarioBytes)
                }
                for listeners in sideListeners { listeners.limits = inputLimits.engine }
                (captures, scenarios) = try Compare.classify(inputs)
                ptrTable = try ptr.map { path throws(ReplayInputError) in try ReplayPTRTable.load(path: path) }
            } catch {
                throw fail(ReplayCLIError.message(error))
            }
            func label(_ text: String) -> String { revisions.reduce(text) { $1.label($0) } }
            // Files and folders this run reads: never written to.
            let inputPaths = inputs + [ptr].compactMap { $0 } + sideListeners.flatMap(\.inputPaths)
            do {
                if let junit { try OutputFile.check(junit, kind: .junitReport, inputs: inputPaths) }
                if let html = htmlFlags.html { try OutputFile.check(html, kind: .htmlReport, inputs: inputPaths) }
            } catch {
                throw fail("\(error)")
            }

            var captureOptions = CaptureOptions()
            if !ports.isEmpty { captureOptions.smtpPorts = Set(ports) }
            for listeners in sideListeners {
                for listener in listeners.listeners { if let port = listener.port { captureOptions.smtpPorts.insert(port) } }
            }
            captureOptions.filter = filter
            captureOptions.limits = captureLimits.limits(lineLength: inputLimits.maxLineLength)
            let runner = CompareRunner(
                baseline: sideListeners[0], candidate: sideListeners[1], ptr: ptrTable, captureOptions: captureOptions,
                threads: threads ?? ReplayRunner.defaultThreads)
            runner.lookupSampleEvery = lookupFlags.lookupSample
            runner.maxFileBytes = inputLimits.scenarioBytes
            let reportFormat = Format(rawValue: format) ?? .human
            var summary = CompareSummary()
            summary.lookups = LookupStatistics(sampleEvery: lookupFlags.lookupSample)
            var collector = HTMLReportCollector()
            var jsonWriter = JSONLinesReportWriter()
            var githubWriter = GitHubReportWriter(tool: "relaylab compare")
            var junitWriter = junit.map { _ in JUnitReportWriter(name: "relaylab compare") }
            do {
                summary.capture = try runner.run(captures: captures, scenarios: scenarios) { connection in
                    summary.add(connection)
                    if htmlFlags.html != nil { collector.add(connection) }
                    if reportFormat == .human && junitWriter == nil { return }
                    let result = connection.connectionResult()
                    switch reportFormat {
                    case .json: output.write(label(jsonWriter.write(result) + connection.differenceRecords))
                    case .github: output.write(label(githubWriter.write(result)))
                    case .human: break
                    }
                    _ = junitWriter?.write(result)
                }
            } catch {
                throw fail(label(ReplayCLIError.message(error)))
            }
            let warnings = zip(["baseline", "candidate"], sideListeners).flatMap { name, listeners in
                listeners.warnings.map { "\(name): \($0.summary)" }
            }
            switch reportFormat {
            case .human:
                let colour = HumanReportWriter.usesColour(
                    isTerminal: isatty(STDOUT_FILENO) == 1, environment: ProcessInfo.processInfo.environment)
                let report = CompareHumanReport(colour: colour).render(
                    summary, inputs: inputs, baseline: headings[0], candidate: headings[1], warnings: warnings)
                output.write(label(report))
            case .json:
                for warning in warnings {
                    output.write(label(jsonWriter.write(ReportProblem(file: "configuration", message: warning, isWarning: true))))
                }
                output.write(label(summary.jsonRecord))
            case .github:
                for warning in warnings {
                    output.write(label(githubWriter.write(ReportProblem(file: "configuration", message: warning, isWarning: true))))
                }
                output.write(githubWriter.finish(summary.reportSummary))
            }
            output.flush()
            try htmlFlags.write(
                label(
                    HTMLReport.compare(
                        summary, inputs: inputs, baseline: headings[0], candidate: headings[1], warnings: warnings,
                        collector: collector
                    ).render()),
                tool: "relaylab compare", inputs: inputPaths)
            if let junit, var junitWriter {
                let xml = label(junitWriter.finish(summary.reportSummary))
                do {
                    try OutputFile.write(Array(xml.utf8), to: junit, kind: .junitReport, inputs: inputPaths)
                } catch {
                    throw fail("\(error)")
                }
            }
            withExtendedLifetime(revisions) {}
            if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
        }

        /// Splits the inputs into captures (by their first bytes: pcap or pcapng; `-` is standard
        /// input) and scenario files (folders searched for *.yaml / *.yml).
        static func classify(_ inputs: [String]) throws -> (captures: [String], scenarios: [String]) {
            var captures: [String] = []
            var scenarios: [String] = []
            for input in inputs {
                if input == "-" {
                    captures.append(input)
                    continue
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                    throw ReplayInputError(file: input, message: "no such file or directory")
                }
                if isDirectory.boolValue {
                    scenarios += try ScenarioDiscovery.files(for: [input])
                    continue
                }
                guard let handle = FileHandle(forReadingAtPath: input) else {
                    throw ReplayInputError(file: input, message: "cannot be read")
                }
                let magic = [UInt8](handle.readData(ofLength: 4))
                try? handle.close()
                let captureMagics: [[UInt8]] = [
                    [0xD4, 0xC3, 0xB2, 0xA1], [0xA1, 0xB2, 0xC3, 0xD4], [0x4D, 0x3C, 0xB2, 0xA1], [0xA1, 0xB2, 0x3C, 0x4D],
                    [0x0A, 0x0D, 0x0D, 0x0A],
                ]
                if captureMagics.contains(magic) {
                    captures.append(input)
                } else if input.hasSuffix(".yaml") || input.hasSuffix(".yml") {
                    scenarios.append(input)
                } else {
                    throw ReplayInputError(file: input, message: "neither a capture (pcap, pcapng) nor a scenario file (*.yaml)")
                }
            }
            return (captures, scenarios)
        }
    }
}

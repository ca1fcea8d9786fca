import ArgumentParser
import Capture
import Foundation
import Replay
import Scenarios

extension RelayLab {
    /// `relaylab replay CAPTURE...`: replays captured production traffic through the simulated
    /// chain with a configuration and reports every decision that would change.
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Replay captured SMTP traffic (pcap/pcapng) through the simulation and report what a configuration would change.",
            discussion: """
                Every SMTP connection of the captures is reconstructed and replayed through the simulated \
                tcpserver → rblsmtpd → qmail-smtpd chain: the client's exact bytes are fed in, and each reply \
                is compared with the one the production server really sent. Steps the capture cannot show \
                (one direction, lost segments, TLS) are unobservable and never counted. Where the simulation \
                takes another path (DATA or AUTH refused, the connection dropped), the replay follows what \
                a real client would have seen and reports a divergence.

                Several files are read as one traffic stream; '-' is standard input.

                Examples:
                  relaylab replay day.pcap --control /var/qmail/control --rules /etc/tcp.smtp.cdb --rblsmtpd --ptr ptr.txt
                  relaylab replay day.pcap --config relaylab.yaml --format json
                  relaylab replay day.pcap --run /service/smtpd/run --run /service/submission/run

                Exit status: 0 when nothing differs, 1 when something differs, 2 on usage, configuration \
                or input errors.
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case human, json
        }

        @Argument(help: ArgumentHelp("Capture files (pcap or pcapng); '-' reads standard input.", valueName: "capture"))
        var captures: [String] = []

        @OptionGroup var configurationFlags: ReplayConfigurationFlags

        @Option(name: .customLong("port"), help: ArgumentHelp("A TCP port whose connections are SMTP (repeatable; default 25, 587, 2525, plus the listeners' ports).", valueName: "N"))
        var ports: [Int] = []

        @Option(help: ArgumentHelp("A BPF filter expression for reading the captures, e.g. 'port 25 or port 587'.", valueName: "EXPRESSION"))
        var filter: String?

        @Flag(name: .customLong("ignore-greeting"), help: "Compare only the greeting's reply code, not its text.")
        var ignoreGreeting = false

        @Option(name: .customLong("match"), help: ArgumentHelp("What must be equal: exact (the reply bytes, `250 ok <time> qp <pid>` normalised) or code (reply codes only).", valueName: "exact|code"))
        var matching: String = "exact"

        @Option(help: "Report format: human (a summary, then the differences by client and by domain) or json (JSON Lines: one record per connection, then a summary).")
        var format: Format = .human

        @Option(help: ArgumentHelp("Also write a JUnit XML report (one test case per replayed connection) to this file.", valueName: "FILE"))
        var junit: String?

        @Option(help: ArgumentHelp("Threads replaying connections (default: one per processor; 1 = everything on one thread).", valueName: "N"))
        var threads: Int?

        @Option(name: .customLong("capture-threads"), help: ArgumentHelp("Threads reconstructing SMTP dialogues while the capture is read (default: 0 up to 4 processors, else 1).", valueName: "N"))
        var captureThreads: Int?

        @Flag(inversion: .prefixedNo, help: "Show progress on standard error (default: when it is a terminal).")
        var progress: Bool?

        @OptionGroup var lookupFlags: LookupTimingFlags

        @OptionGroup var htmlFlags: HTMLReportFlags

        @OptionGroup(title: "Limits") var inputLimits: InputLimitFlags
        @OptionGroup(title: "Capture limits") var captureLimits: CaptureLimitFlags

        /// Usage errors exit with 2 (checked in `run`, so that `--help` is not disturbed).
        func checkUsage() throws {
            do {
                if captures.isEmpty { throw ValidationError("give at least one capture file") }
                try configurationFlags.check()
                if ReplayOptions.Matching(rawValue: matching) == nil {
                    throw ValidationError("--match must be exact or code (got \"\(matching)\")")
                }
                if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
                if let captureThreads, captureThreads < 0 { throw ValidationError("--capture-threads must be 0 or more") }
                try lookupFlags.check()
                try htmlFlags.check()
                try captureLimits.check()
                for port in ports where !(1...65535).contains(port) {
                    throw ValidationError("--port \(port) is out of range (1-65535)")
                }
            } catch let error as ValidationError {
                FileHandle.standardError.write(Data("relaylab replay: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }

        func run() throws {
            try checkUsage()
            let listeners: ReplayListeners
            let ptr: ReplayPTRTable?
            do {
                listeners = try configurationFlags.listeners(maxFileBytes: inputLimits.scenarioBytes)
                listeners.limits = inputLimits.engine
                let inputs = captures + configurationFlags.inputPaths + listeners.inputPaths
                if let junit { try OutputFile.check(junit, kind: .junitReport, inputs: inputs) }
                if let html = htmlFlags.html { try OutputFile.check(html, kind: .htmlReport, inputs: inputs) }
                ptr = try configurationFlags.ptrTable()
                try listeners.validate()
            } catch {
                FileHandle.standardError.write(Data("relaylab replay: \(ReplayCLIError.message(error))\n".utf8))
                throw ExitCode(2)
            }
            var captureOptions = CaptureOptions()
            if !ports.isEmpty { captureOptions.smtpPorts = Set(ports) }
            for listener in listeners.listeners { if let port = listener.port { captureOptions.smtpPorts.insert(port) } }
            captureOptions.filter = filter
            captureOptions.reconstructionThreads = captureThreads ?? (ReplayRunner.defaultThreads > 4 ? 1 : 0)
            captureOptions.limits = captureLimits.limits(lineLength: inputLimits.maxLineLength)
            var options = ReplayOptions(
                matching: ReplayOptions.Matching(rawValue: matching) ?? .exact, ignoreGreeting: ignoreGreeting,
                keepAllSteps: format == .json)
            options.lookupSampleEvery = lookupFlags.lookupSample
            options.countDecisions = htmlFlags.html != nil
            var collector = HTMLReportCollector()
            let runner = ReplayRunner(
                listeners: listeners, ptr: ptr, options: options, captureOptions: captureOptions,
                threads: threads ?? ReplayRunner.defaultThreads)

            let output = _Output()
            var summary = ReplaySummary()
            summary.lookups = LookupStatistics(sampleEvery: lookupFlags.lookupSample)
            var jsonWriter = JSONLinesReportWriter()
            var junitWriter = junit.map { _ in JUnitReportWriter(name: "relaylab replay") }
            var junitSummary = ReportSummary()
            let showProgress = progress ?? (isatty(STDERR_FILENO) == 1)
            let meter = ReplayProgressLine()
            // Read once, not for every connection: reading an option through its property
            // wrapper costs about 1,300 instructions.
            let writesJSON = format == .json
            let collectsHTML = htmlFlags.html != nil
            do {
                summary.capture = try runner.run(
                    files: captures, progress: showProgress ? { meter.show($0) } : nil
                ) { connection in
                    summary.add(connection)
                    if collectsHTML { collector.add(connection) }
                    if case .skipped = connection.disposition { return }
                    if writesJSON || junitWriter != nil {
                        let result = connection.connectionResult()
                        if writesJSON { output.write(jsonWriter.write(result)) }
                        if junitWriter != nil {
                            _ = junitWriter!.write(result)
                            junitSummary.add(result)
                        }
                    }
                }
            } catch {
                meter.clear()
                output.flush()
                FileHandle.standardError.write(Data("relaylab replay: \(ReplayCLIError.message(error))\n".utf8))
                throw ExitCode(2)
            }
            meter.clear()
            let warnings = listeners.warnings.map(\.summary)
            if let capture = summary.capture, !capture.damage.isEmpty, format == .json {
                for damage in capture.damage { FileHandle.standardError.write(Data("relaylab replay: warning: \(damage)\n".utf8)) }
            }
            switch format {
            case .human:
                let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                output.write(ReplayHumanReport(colour: colour).render(summary, files: captures, warnings: warnings))
            case .json:
                for warning in warnings {
                    output.write(jsonWriter.write(ReportProblem(file: listeners.origin, message: warning, isWarning: true)))
                }
                output.write(summary.jsonRecord)
            }
            output.flush()
            try htmlFlags.write(
                HTMLReport.replay(
                    summary, files: captures, context: [("configuration", listeners.origin)], warnings: warnings,
                    collector: collector
                ).render(),
                tool: "relaylab replay", inputs: captures + configurationFlags.inputPaths + listeners.inputPaths)
            if let junit, var junitWriter {
                let xml = junitWriter.finish(junitSummary)
                do {
                    try OutputFile.write(
                        Array(xml.utf8), to: junit, kind: .junitReport,
                        inputs: captures + configurationFlags.inputPaths + listeners.inputPaths)
                } catch {
                    FileHandle.standardError.write(Data("relaylab replay: \(error)\n".utf8))
                    throw ExitCode(2)
                }
            }
            if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
        }
    }
}

/// The progress line on standard error: bytes read, connections, rate, ETA.
final class ReplayProgressLine {
    private var shown = false

    func show(_ progress: ReplayProgress) {
        if progress.final { return }
        var text = "\r\u{1B}[K"
        let rate = progress.elapsed > 0 ? Double(progress.connections) / progress.elapsed : 0
        if let read = progress.bytesRead, let total = progress.totalBytes, total > 0 {
            let percent = Int(Double(read) * 100 / Double(total))
            text += "\(Self.megabytes(read)) of \(Self.megabytes(total)) (\(percent)%), "
            text += "\(progress.connections) connections, \(Int(rate)) conn/s"
            if read > 0, progress.elapsed > 0.5 {
                let remaining = Double(total - read) / (Double(read) / progress.elapsed)
                text += ", ETA \(Self.duration(remaining))"
            }
        } else {
            text += "\(progress.connections) connections, \(Int(rate)) conn/s, \(Self.duration(progress.elapsed))"
        }
        FileHandle.standardError.write(Data(text.utf8))
        shown = true
    }

    func clear() {
        guard shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }

    static func megabytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_000_000
        return value < 10 ? String(format: "%.1f MB", value) : "\(Int(value)) MB"
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 60 ? "\(total / 60)m\(String(format: "%02d", total % 60))s" : "\(total)s"
    }
}

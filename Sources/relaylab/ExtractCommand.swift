import ArgumentParser
import Capture
import Foundation
import Replay
import Scenarios

extension RelayLab {
    /// `relaylab extract CAPTURE... -o FILE.yaml`: turns captured connections into a scenario
    /// file whose expectations are the recorded replies, for `relaylab check`.
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extract",
            abstract: "Write captured SMTP connections as a scenario file (expectations = the recorded replies) for relaylab check.",
            discussion: """
                Every connection of the captures becomes a scenario connection: the client's exact commands, \
                messages and pipelined batches as steps, and the replies the production server sent as \
                expectations. AUTH credentials are replaced by placeholders (the scenario's checkpassword \
                accepts the placeholders of the attempts that succeeded). The configuration given (--config, \
                --run or the flags) is written into the scenario, so that `relaylab check FILE.yaml` replays \
                the traffic against it — a regression suite made of production traffic.

                Example:
                  relaylab extract day.pcap --config relaylab.yaml --ptr ptr.txt -o scenarios/production.yaml
                  relaylab check scenarios/production.yaml
                """)

        @Argument(help: ArgumentHelp("Capture files (pcap or pcapng); '-' reads standard input.", valueName: "capture"))
        var captures: [String] = []

        @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("The scenario file to write.", valueName: "FILE.yaml"))
        var output: String?

        @OptionGroup var configurationFlags: ReplayConfigurationFlags

        @Option(name: .customLong("port"), help: ArgumentHelp("A TCP port whose connections are SMTP (repeatable; default 25, 587, 2525, plus the listeners' ports).", valueName: "N"))
        var ports: [Int] = []

        @Option(help: ArgumentHelp("A BPF filter expression for reading the captures.", valueName: "EXPRESSION"))
        var filter: String?

        @Flag(name: .customLong("ignore-greeting"), help: "Expect only the greeting's reply code, not its text.")
        var ignoreGreeting = false

        @Option(help: ArgumentHelp("The suite's name (default: after the capture files).", valueName: "NAME"))
        var name: String?

        /// Usage errors exit with 2 (checked in `run`, so that `--help` is not disturbed).
        func checkUsage() throws {
            do {
                if captures.isEmpty { throw ValidationError("give at least one capture file") }
                if output == nil { throw ValidationError("give the scenario file to write with -o FILE.yaml") }
                try configurationFlags.check()
                if configurationFlags.runScripts.count > 1 {
                    throw ValidationError("several run scripts: list them in a configuration file (listeners with run: SCRIPT) and give --config")
                }
                for port in ports where !(1...65535).contains(port) {
                    throw ValidationError("--port \(port) is out of range (1-65535)")
                }
            } catch let error as ValidationError {
                FileHandle.standardError.write(Data("relaylab extract: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }

        func run() throws {
            try checkUsage()
            let output = self.output!
            let listeners: ReplayListeners
            let ptr: ReplayPTRTable?
            let reference: ScenarioExtractor.Configuration
            do {
                listeners = try configurationFlags.listeners()
                ptr = try configurationFlags.ptrTable()
                try listeners.validate()
                let overrides = try configurationFlags.spec()
                if let config = configurationFlags.config {
                    reference = .file(path: config, overrides: overrides, rblFixture: configurationFlags.rblFixture)
                } else if let script = listeners.listeners.first, !configurationFlags.runScripts.isEmpty {
                    var spec = script.configuration.merged(with: overrides)
                    if let words = overrides.tcpserver { spec.tcpserver = (script.configuration.tcpserver ?? []) + words }
                    spec.server = ServerSpec()
                    reference = .inline(spec, rblFixture: configurationFlags.rblFixture)
                } else {
                    reference = .inline(overrides, rblFixture: configurationFlags.rblFixture)
                }
            } catch {
                FileHandle.standardError.write(Data("relaylab extract: \(ReplayCLIError.message(error))\n".utf8))
                throw ExitCode(2)
            }
            var captureOptions = CaptureOptions()
            if !ports.isEmpty { captureOptions.smtpPorts = Set(ports) }
            for listener in listeners.listeners { if let port = listener.port { captureOptions.smtpPorts.insert(port) } }
            captureOptions.filter = filter

            var extractor = ScenarioExtractor(outputPath: output, configuration: reference, ignoreGreeting: ignoreGreeting)
            let file: OutputFile
            do {
                file = try OutputFile(
                    path: output, kind: .extractedScenario,
                    inputs: captures + configurationFlags.inputPaths + listeners.inputPaths)
            } catch {
                FileHandle.standardError.write(Data("relaylab extract: \(error)\n".utf8))
                throw ExitCode(2)
            }
            var buffer = extractor.header(captures: captures, name: name)
            do {
                _ = try CaptureReader(options: captureOptions).read(files: captures) { dialogue in
                    let target = try listeners.target(for: dialogue.server)
                    let name = ReplayRunner.clientName(for: dialogue, ptr: ptr)
                    if case .extracted(let text) = extractor.connection(dialogue, clientName: name, target: target) {
                        buffer += text
                        if buffer.utf8.count >= 1 << 16 {
                            try file.write(Array(buffer.utf8))
                            buffer = ""
                        }
                    }
                }
                buffer += extractor.footer()
                try file.write(Array(buffer.utf8))
            } catch {
                file.discard()
                FileHandle.standardError.write(Data("relaylab extract: \(ReplayCLIError.message(error))\n".utf8))
                throw ExitCode(2)
            }
            guard extractor.extracted > 0 else {
                file.discard()
                var message = "relaylab extract: no connection could be extracted"
                if let first = extractor.skipped.first { message += " (#\(first.index): \(first.reason))" }
                FileHandle.standardError.write(Data((message + "\n").utf8))
                throw ExitCode(2)
            }
            do {
                try file.commit()
            } catch {
                FileHandle.standardError.write(Data("relaylab extract: \(error)\n".utf8))
                throw ExitCode(2)
            }
            var summary = "relaylab extract: wrote \(extractor.extracted) connection\(extractor.extracted == 1 ? "" : "s") to \(output)"
            if !extractor.skipped.isEmpty { summary += " (\(extractor.skipped.count) left out; see the end of the file)" }
            FileHandle.standardError.write(Data((summary + "\n").utf8))
        }
    }
}

import ArgumentParser
import Foundation
import Replay
import Scenarios

extension RelayLab {
    /// `relaylab audit`: static findings about a configuration, each open relay proven by a
    /// session the engine really relays.
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Audit a qmail configuration for open relays, stale databases and entries that never match.",
            discussion: """
                Every finding gives a severity (error, warning, info), file:line, what it does to mail and how \
                to fix it. Open relays (rcpthosts missing; RELAYCLIENT granted by the empty rule, by '=', by a \
                broad prefix or inherited from tcpserver's environment) come with a proof: a client and a \
                recipient the simulated chain relays for, with the session. The tcpserver rules are checked \
                by the same linter as 'relaylab rules lint'.

                Examples:
                  relaylab audit --control /var/qmail/control --rules /etc/tcp.smtp
                  relaylab audit --run /service/qmail-smtpd/run
                  relaylab audit --config relaylab.yaml --format json

                Exit status: 0 when no finding is a warning or an error, 1 when one is, 2 on usage, \
                configuration or input errors.
                """)

        enum Format: String, CaseIterable {
            case human, json
        }

        @OptionGroup var configurationFlags: ReplayConfigurationFlags

        @Option(help: ArgumentHelp("Report format: human or json (one JSON object).", valueName: "human|json"))
        var format: String = "human"

        /// Checks the arguments (in run(), not validate(): ArgumentParser validates for --help too).
        func checkArguments() throws {
            do {
                try configurationFlags.check()
                if Format(rawValue: format) == nil { throw ValidationError("--format must be human or json (got \"\(format)\")") }
                if configurationFlags.ptr != nil { throw ValidationError("--ptr is for replaying captures; audit does not use it") }
            } catch let error as ValidationError {
                FileHandle.standardError.write(Data("relaylab audit: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }

        func run() throws {
            try checkArguments()
            let report: AuditReport
            do {
                let listeners = try configurationFlags.listeners()
                let targets = listeners.listeners.map { listener in
                    AuditTarget(
                        name: listeners.listeners.count > 1 ? listener.name : nil,
                        spec: listeners.effectiveSpec(listener, serverIP: listener.ip))
                }
                report = try Auditor.audit(targets, subject: subject)
            } catch {
                FileHandle.standardError.write(Data("relaylab audit: \(ReplayCLIError.message(error))\n".utf8))
                throw ExitCode(2)
            }
            switch Format(rawValue: format) ?? .human {
            case .human:
                let colour = HumanReportWriter.usesColour(
                    isTerminal: isatty(STDOUT_FILENO) == 1, environment: ProcessInfo.processInfo.environment)
                FileHandle.standardOutput.write(Data(report.humanText(colour: colour).utf8))
            case .json:
                FileHandle.standardOutput.write(Data(report.jsonText.utf8))
            }
            if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
        }

        /// What is audited, for the heading.
        var subject: String {
            let flags = configurationFlags
            if let config = flags.config { return config }
            if !flags.runScripts.isEmpty { return flags.runScripts.joined(separator: ", ") }
            var parts = ["control \(flags.control ?? "?")"]
            parts.append(flags.rules.map { "rules \($0)" } ?? "no rules (-x not given)")
            return parts.joined(separator: ", ")
        }
    }
}

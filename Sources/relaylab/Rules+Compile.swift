import ArgumentParser
import Foundation
import TCPRules

extension Rules {
    /// `relaylab rules compile tcp.smtp [-o tcp.smtp.cdb]`.
    struct Compile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compile tcprules source into a cdb byte-identical to tcprules' (atomic; nothing written on error).",
            discussion: """
                Reads SOURCE ('-' for standard input) and writes the cdb under a temporary name, then renames it over \
                OUTPUT, so tcpserver never sees a half-written file. On a line tcprules would refuse, it prints \
                file:line, the reason and the line, writes nothing and exits 2.
                """
        )

        @Argument(help: "The tcprules source file (e.g. /etc/tcp.smtp), or '-' for standard input.")
        var source: String

        @Option(name: [.short, .customLong("output")], help: "The cdb to write (default: SOURCE.cdb).")
        var output: String?

        @Option(name: .long, help: "The temporary file (default: OUTPUT.tmp<pid>, next to OUTPUT).")
        var temporary: String?

        @OptionGroup var dialectOptions: RulesDialectOptions

        @Flag(name: [.short, .long], help: "Print nothing on success.")
        var quiet = false

        func run() throws {
            let parsed: RulesSource
            let outputPath: String
            do {
                if source == "-" {
                    guard let output else { throw RulesCLI.fail("compile", "reading standard input needs -o OUTPUT") }
                    outputPath = output
                    let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
                    do {
                        parsed = try RulesSource(parsing: bytes, path: "-", dialect: dialectOptions.parsing)
                    } catch {
                        throw RulesError.syntax(error)
                    }
                } else {
                    outputPath = output ?? RulesSource.defaultCDBPath(for: source)
                    parsed = try RulesSource(contentsOf: source, dialect: dialectOptions.parsing)
                }
            } catch let error as RulesError {
                throw RulesCLI.fail("compile", error.diagnostic)
            }
            do {
                let inputs = source == "-" ? [] : [source]
                try OutputFile.checkNotInput(outputPath, what: "the cdb", inputs: inputs)
                if let temporary { try OutputFile.checkNotInput(temporary, what: "the temporary file", inputs: inputs + [outputPath]) }
            } catch {
                throw RulesCLI.fail("compile", "\(error)")
            }
            do {
                try parsed.compile(to: outputPath, temporaryPath: temporary)
            } catch {
                throw RulesCLI.fail("compile", "unable to write \(outputPath): \(error)")
            }
            if !quiet {
                let rules = parsed.rules.count
                let keys = parsed.recordCount
                RulesCLI.write(
                    "\(outputPath): \(rules) rule\(rules == 1 ? "" : "s"), \(keys) key\(keys == 1 ? "" : "s")\n")
            }
        }
    }
}

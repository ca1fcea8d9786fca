import ArgumentParser

@main
struct RelayLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relaylab",
        abstract: "Replay SMTP traffic through a byte-exact simulation of qmail's relay chain.",
        version: "0.1.0",
        subcommands: [Rules.self, Session.self, Check.self, Replay.self, Extract.self, Compare.self, Audit.self, Cdb.self, Bench.self]
    )

    /// ArgumentParser's `main()`, except that usage errors exit 2 (DEVELOPERS.md: 2 = usage,
    /// config or input error) instead of ArgumentParser's 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                cdbPrintError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

import ArgumentParser

@main
struct RelayLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relaylab",
        abstract: "Replay SMTP traffic through a byte-exact simulation of qmail's relay chain.",
        version: "0.1.0",
        subcommands: [Rules.self, Session.self, Check.self, Replay.self, Compare.self, Audit.self]
    )
}

import ArgumentParser

/// `relaylab bench …`: high-volume measurements an administrator can run on their own data.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure lookup throughput and latency on your own files.",
        subcommands: [BenchCdb.self]
    )
}

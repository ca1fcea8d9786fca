import ArgumentParser
import Capture
import RelayEngine
import Scenarios

/// A byte count on the command line: `65536`, `64k`, `16M`, `1G` (powers of 1024).
struct ByteCount: ExpressibleByArgument, Sendable {
    let value: Int

    init?(argument: String) {
        var text = Substring(argument.lowercased())
        if text.hasSuffix("ib") { text = text.dropLast(2) } else if text.hasSuffix("b") { text = text.dropLast() }
        var multiplier = 1
        switch text.last {
        case "k": multiplier = 1 << 10
        case "m": multiplier = 1 << 20
        case "g": multiplier = 1 << 30
        default: break
        }
        if multiplier > 1 { text = text.dropLast() }
        guard let number = Int(text), number >= 0, number <= Int.max / multiplier else { return nil }
        value = number * multiplier
    }

    var defaultValueDescription: String { "\(value)" }
}

/// Limits on what relaylab keeps of its input: lines and messages the engine simulates, and
/// scenario files (`relaylab check`, `compare`, `replay --config`). See README: "Hostile input,
/// limits and fuzzing".
struct InputLimitFlags: ParsableArguments {
    @Option(
        name: .customLong("max-line-length"),
        help: ArgumentHelp(
            "Bytes of one client line kept for analysis (default 1M, at least 1k); the rest is counted. Captures: longer steps are unobservable. Simulation: the reply stays exact unless the cut part could change it (then the step is marked).",
            valueName: "BYTES"))
    var maxLineLength: ByteCount?

    @Option(
        name: .customLong("max-message-bytes"),
        help: ArgumentHelp(
            "Bytes of one message (after 354) the simulation keeps (default 64M); the rest is counted, so databytes decisions stay exact.",
            valueName: "BYTES"))
    var maxMessageBytes: ByteCount?

    @Option(
        name: .customLong("max-scenario-bytes"),
        help: ArgumentHelp(
            "Largest scenario or configuration file read, and largest file one names (default 64M).", valueName: "BYTES"))
    var maxScenarioBytes: ByteCount?

    /// The engine's limits.
    var engine: RelayLimits {
        var limits = RelayLimits()
        if let maxLineLength { limits.maxLineLength = maxLineLength.value }
        if let maxMessageBytes { limits.maxMessageBytes = maxMessageBytes.value }
        return limits
    }

    /// The most bytes read from a scenario or configuration file.
    var scenarioBytes: Int { maxScenarioBytes?.value ?? YAMLSource.defaultMaxFileBytes }
}

/// Limits on what the capture reader keeps (`relaylab replay`, `compare`).
struct CaptureLimitFlags: ParsableArguments {
    @Option(
        name: .customLong("max-live-connections"),
        help: ArgumentHelp(
            "Connections tracked at once (default 100000); beyond, the least recently active are flushed and counted as evicted.",
            valueName: "N"))
    var maxLiveConnections: Int?

    @Option(
        name: .customLong("max-out-of-order-bytes"),
        help: ArgumentHelp(
            "Out-of-order bytes buffered per connection direction while waiting for missing data (default 1M); beyond, the missing data is declared lost.",
            valueName: "BYTES"))
    var maxOutOfOrderBytes: ByteCount?

    @Option(
        name: .customLong("max-connection-bytes"),
        help: ArgumentHelp(
            "Client plus server bytes kept per connection (default 64M); the rest of the connection is unobservable.",
            valueName: "BYTES"))
    var maxConnectionBytes: ByteCount?

    /// The capture reader's limits, with the line length of `input`.
    func limits(lineLength: ByteCount?) -> CaptureLimits {
        var limits = CaptureLimits()
        if let maxLiveConnections { limits.maxLiveConnections = max(1, maxLiveConnections) }
        if let maxOutOfOrderBytes { limits.maxOutOfOrderBytes = maxOutOfOrderBytes.value }
        if let maxConnectionBytes { limits.maxBytesPerConnection = maxConnectionBytes.value }
        if let lineLength { limits.maxLineLength = max(1, lineLength.value) }
        return limits
    }

    func check() throws {
        if let maxLiveConnections, maxLiveConnections < 1 { throw ValidationError("--max-live-connections must be at least 1") }
    }
}

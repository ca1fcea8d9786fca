import Capture
import RelayEngine

/// The human report of `relaylab replay`: a summary a person reads in ten seconds, then the
/// differences grouped by client and by recipient domain, each with the engine's explanation.
///
///     relaylab replay: 36 connections in captures/qmail-relay/relay.pcap
///       connections  36 seen = 36 compared + 0 unobservable + 0 skipped
///       commands     201 compared, 3 differ; 0 unobservable; 1 not replayed (1 divergence)
///       RCPT         44 decisions compared, 2 changed
///
///       would now refuse 2 recipients from 2 clients
///
///     Differences by client
///       10.1.2.15 (ws15.office.example.net): 1 connection, 2 differences
///         #3 10.1.2.15:40004 → 192.0.2.25:25  (relay.pcap#60)
///           step 4  RCPT TO:<friend@elsewhere.example>
///             recorded  250 ok  (accept)
///             now       553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)  (refuse)
///             because   rule "10.1." matched: allow (tcp.smtp:12)
///     …
public struct ReplayHumanReport: Sendable {
    /// Use ANSI colours.
    public var colour: Bool

    public init(colour: Bool = false) {
        self.colour = colour
    }

    /// The whole report.
    ///
    /// - Parameters:
    ///   - files: the capture files, as given.
    ///   - warnings: configuration and input warnings to show first.
    public func render(_ summary: ReplaySummary, files: [String], warnings: [String] = []) -> String {
        var out = headline(summary, files: files)
        for warning in warnings { out += "  " + paint("warning:", .yellow) + " " + warning + "\n" }
        out += overview(summary)
        out += "\n" + verdict(summary)
        if !summary.clients.isEmpty || summary.clientsNotGrouped > 0 {
            out += "\n" + paint("Differences by client", .bold) + "\n"
            out += byClient(summary)
        }
        if !summary.domains.isEmpty || summary.domainsNotGrouped > 0 {
            out += "\n" + paint("Recipient changes by domain", .bold) + "\n"
            out += byDomain(summary)
        }
        return out
    }

    // MARK: - Summary

    func headline(_ summary: ReplaySummary, files: [String]) -> String {
        let what = files.count == 1 ? files[0] : "\(files.count) capture files"
        return paint("relaylab replay:", .bold) + " \(plural(summary.connections, "connection")) in \(what)\n"
    }

    func overview(_ summary: ReplaySummary) -> String {
        let counts = summary.counts
        var out = "  connections  \(summary.connections) seen = \(summary.compared) compared + \(summary.unobservableConnections) unobservable + \(summary.skipped) skipped\n"
        for (reason, count) in summary.skippedReasons.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            out += "               skipped \(count): \(reason)\n"
        }
        for (reason, count) in summary.unobservableReasons.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            out += "               unobservable \(count): \(reason)\n"
        }
        out += "  commands     \(counts.compared) compared, "
        out += paint("\(counts.differingSteps) differ", counts.differingSteps > 0 ? .red : .plain)
        out += "; \(counts.unobservable) unobservable; \(counts.notReplayed) not replayed"
        out += " (\(plural(counts.diverged, "divergence")))\n"
        out += "  RCPT         \(plural(counts.rcptCompared, "decision")) compared, "
        out += paint("\(counts.rcptChanged) changed", counts.rcptChanged > 0 ? .red : .plain) + "\n"
        out += "  greetings    \(plural(counts.connectionCompared, "connection decision")) (greeting or silent deny) compared, "
        out += paint("\(counts.connectionDiffers) differ", counts.connectionDiffers > 0 ? .red : .plain) + "\n"
        if let capture = summary.capture {
            for damage in capture.damage { out += "  " + paint("damaged:", .yellow) + " \(damage)\n" }
            let limits = capture.limitsHit.filter { $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
            for (kind, count) in limits {
                out += "  " + paint("limit:", .yellow) + " \(kind.explanation) (\(plural(count, "time")))\n"
            }
        }
        return out
    }

    /// One line per kind of change, the heart of the report.
    func verdict(_ summary: ReplaySummary) -> String {
        guard summary.differences > 0 || summary.counts.diverged > 0 else {
            var out = "  " + paint("no differences", .green)
            if summary.counts.compared + summary.counts.connectionCompared == 0 {
                out += ": nothing could be compared\n"
            } else {
                out += ": this configuration answers every compared command as the recorded server did\n"
            }
            return out
        }
        var out = ""
        for change in ReplayChange.allCases {
            guard let tally = summary.changes[change], tally.count > 0 else { continue }
            let clients = clientsText(tally)
            switch change {
            case .connectionDenied:
                out += "  would now " + paint("deny connections", .red) + " from \(clients) (\(plural(tally.count, "connection")))\n"
            case .connectionAccepted:
                out += "  would now " + paint("accept connections", .red) + " from \(clients) (\(plural(tally.count, "connection"))) that were dropped\n"
            case .recipientRefused:
                out += "  would now " + paint("refuse", .red) + " \(plural(tally.count, "recipient")) from \(clients)\n"
            case .recipientDeferred:
                out += "  would now " + paint("defer (4xx)", .red) + " \(plural(tally.count, "recipient")) from \(clients)\n"
            case .recipientRelayed:
                out += "  would now " + paint("relay", .red) + " \(plural(tally.count, "recipient")) from \(clients)\n"
            case .recipientAccepted:
                out += "  would now " + paint("accept", .red) + " \(plural(tally.count, "recipient")) from \(clients) that were refused\n"
            case .messageRefused:
                out += "  would now " + paint("refuse", .red) + " \(plural(tally.count, "message")) from \(clients)\n"
            case .messageAccepted:
                out += "  would now " + paint("accept", .red) + " \(plural(tally.count, "message")) from \(clients) that were refused\n"
            case .reply:
                let parts = summary.otherDifferences.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \($0.value)" }
                out += "  \(plural(tally.count, "other reply", "other replies")) would change (\(parts.joined(separator: ", "))) in \(plural(tally.connections, "connection"))\n"
            }
        }
        if summary.counts.diverged > 0 {
            out += "  \(plural(summary.connectionsDiverged, "connection")) took another path (\(plural(summary.counts.diverged, "divergence"))); later comparisons follow what the client would have seen\n"
        }
        return out
    }

    func clientsText(_ tally: ReplaySummary.Tally) -> String {
        (tally.clientsOverflow ? "more than " : "") + plural(tally.clients.count, "client")
    }

    // MARK: - Groups

    func byClient(_ summary: ReplaySummary) -> String {
        var out = ""
        let groups = summary.clients.values.sorted {
            ($1.differences, $0.ip) < ($0.differences, $1.ip)
        }
        for group in groups {
            out += "  " + paint(group.ip, .bold)
            if let name = group.name { out += " (\(name))" }
            out += ": \(plural(group.connections, "connection")), \(plural(group.differences, "difference"))\n"
            for connection in group.examples { out += describe(connection) }
            let more = group.connections - group.examples.count
            if more > 0 { out += "    " + paint("… and \(plural(more, "more connection"))", .dim) + "\n" }
        }
        if summary.clientsNotGrouped > 0 {
            out += "  " + paint("… and \(plural(summary.clientsNotGrouped, "more connection")) from other clients (not grouped)", .dim) + "\n"
        }
        return out
    }

    func byDomain(_ summary: ReplaySummary) -> String {
        var out = ""
        let groups = summary.domains.values.sorted { ($1.total, $0.domain) < ($0.total, $1.domain) }
        for group in groups {
            let kinds = group.changes.sorted { $0.key < $1.key }.map { change, count in
                "\(ReplayHumanReport.verb(change)) \(plural(count, "recipient"))"
            }
            let clients = (group.clientsOverflow ? "more than " : "") + plural(group.clientCount, "client")
            out += "  " + paint(group.domain, .bold) + ": would now \(kinds.joined(separator: ", ")) from \(clients)\n"
            for example in group.examples {
                let difference = example.difference
                out += "    #\(example.connection) \(example.client)  \(difference.subject): "
                out += "\(firstLine(difference.recorded)) → \(firstLine(difference.simulated))"
                if let outcome = difference.simulatedOutcome { out += "  (\(outcome.rawValue))" }
                out += "\n"
            }
            let more = group.total - group.examples.count
            if more > 0 { out += "    " + paint("… and \(more) more", .dim) + "\n" }
        }
        if summary.domainsNotGrouped > 0 {
            out += "  " + paint("… and \(plural(summary.domainsNotGrouped, "more change")) in other domains (not grouped)", .dim) + "\n"
        }
        return out
    }

    static func verb(_ change: ReplayChange) -> String {
        switch change {
        case .recipientRefused: "refuse"
        case .recipientDeferred: "defer"
        case .recipientRelayed: "relay"
        case .recipientAccepted: "accept"
        case .connectionDenied: "deny"
        case .connectionAccepted: "accept"
        case .messageRefused: "refuse"
        case .messageAccepted: "accept"
        case .reply: "change"
        }
    }

    /// One connection: its differences and divergences, in step order.
    public func describe(_ connection: ReplayedConnection) -> String {
        var out = "    " + paint("#\(connection.index)", .cyan) + " \(connection.client) → \(connection.server)"
        out += paint("  (\(connection.source))", .dim)
        if let listener = connection.listener { out += paint("  listener \(listener)", .dim) }
        out += "\n"
        var items: [(step: Int, order: Int, text: String)] = []
        for (order, difference) in connection.differences.enumerated() {
            items.append((difference.step ?? 0, order, describe(difference)))
        }
        for (order, divergence) in connection.divergences.enumerated() {
            var text = "        " + paint("diverged", .yellow) + "  "
            if let step = divergence.step, step > 0 { text += "at step \(step): " }
            text += divergence.reason + "\n"
            items.append((divergence.step ?? 0, 1_000_000 + order, text))
        }
        items.sort { ($0.step, $0.order) < ($1.step, $1.order) }
        for item in items { out += item.text }
        return out
    }

    func describe(_ difference: ReplayDifference) -> String {
        var out = "      "
        if let step = difference.step { out += paint("step \(step)", .dim) + "  " }
        out += difference.subject
        if difference.afterDivergence { out += paint("  (after a divergence)", .dim) }
        out += "\n"
        out += block("recorded", difference.recorded, outcome: difference.recordedOutcome)
        out += block("now", difference.simulated, outcome: difference.simulatedOutcome)
        for (index, fact) in difference.explanation.enumerated() {
            out += "        " + (index == 0 ? paint("because ", .yellow) : "        ") + "  " + paint(fact, .dim) + "\n"
        }
        return out
    }

    func block(_ label: String, _ text: String, outcome: Decision.Outcome?) -> String {
        var out = ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let head = index == 0 ? paint(label + String(repeating: " ", count: max(0, 8 - label.count)), .yellow) : "        "
            out += "        " + head + "  " + line
            if index == lines.count - 1, let outcome { out += "  (\(outcome.rawValue))" }
            out += "\n"
        }
        return out
    }

    func firstLine(_ text: String) -> String {
        String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    // MARK: - Text

    func plural(_ count: Int, _ word: String, _ words: String? = nil) -> String {
        "\(count) " + (count == 1 ? word : words ?? word + "s")
    }

    enum Style: String {
        case plain = ""
        case bold = "1"
        case dim = "2"
        case red = "31"
        case green = "32"
        case yellow = "33"
        case cyan = "36"
    }

    func paint(_ text: String, _ style: Style) -> String {
        guard colour, style != .plain else { return text }
        return "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m"
    }
}

import Capture
import RelayEngine
import Scenarios

/// The human report of `relaylab compare`: counts first (what would change, for how many
/// clients), then the differences grouped by client prefix, by recipient domain and by the rule
/// line or control entry responsible, then examples with both sides' explanation chains.
///
///     relaylab compare: 36 connections in captures/qmail-relay/relay.pcap
///       baseline     captures/qmail-relay/relaylab.yaml
///       candidate    captures/qmail-relay/candidate-no-lan-relay.yaml
///       connections  36 compared, 0 skipped: 34 identical, 2 differ
///       steps        201 client steps sent to both sides, 47 RCPT decisions among them
///
///       the candidate would refuse 4 recipients (baseline: relay …) from 1 client
///     …
public struct CompareHumanReport: Sendable {
    /// Use ANSI colours.
    public var colour: Bool

    public init(colour: Bool = false) {
        self.colour = colour
    }

    /// The whole report.
    ///
    /// - Parameters:
    ///   - inputs: the captures and scenario files, as given.
    ///   - baseline: how the baseline was given (a file, flags, a git revision).
    ///   - candidate: how the candidate was given.
    ///   - warnings: configuration warnings to show first.
    public func render(
        _ summary: CompareSummary, inputs: [String], baseline: String, candidate: String, warnings: [String] = []
    ) -> String {
        let what = inputs.count == 1 ? inputs[0] : "\(inputs.count) inputs"
        var out = paint("relaylab compare:", .bold) + " \(plural(summary.connections, "connection")) in \(what)\n"
        out += "  baseline     \(baseline)\n"
        out += "  candidate    \(candidate)\n"
        for warning in warnings { out += "  " + paint("warning:", .yellow) + " " + warning + "\n" }
        out += "  connections  \(summary.connections) seen = \(summary.compared) compared + 0 unobservable + \(summary.skipped) skipped: \(summary.identical) identical, "
        out += paint("\(summary.differing) differ", summary.differing > 0 ? .red : .plain) + "\n"
        for (reason, count) in summary.skippedReasons.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            out += "               skipped \(count): \(reason)\n"
        }
        out += "  steps        \(plural(summary.stepsCompared, "client step")) sent to both sides, "
        out += "\(plural(summary.rcptCompared, "RCPT decision")) among them\n"
        if let capture = summary.capture {
            for damage in capture.damage { out += "  " + paint("damaged:", .yellow) + " \(damage)\n" }
            for (kind, count) in capture.limitsHit.filter({ $0.value > 0 }).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                out += "  " + paint("limit:", .yellow) + " \(kind.explanation) (\(plural(count, "time")))\n"
            }
        }
        if let lookups = summary.lookups { out += lookups.humanText(dim: { paint($0, .dim) }) }
        out += "\n" + verdict(summary)
        guard summary.differences > 0 else { return out }
        out += "\n" + paint("By client prefix", .bold) + "\n" + byPrefix(summary)
        if !summary.byDomain.isEmpty {
            out += "\n" + paint("By recipient domain", .bold) + "\n" + byDomain(summary)
        }
        out += "\n" + paint("By rule line and control entry responsible", .bold) + "\n" + byCause(summary)
        if summary.groupsNotKept > 0 {
            out += "  " + paint("(\(summary.groupsNotKept) differences in further groups are counted above, not grouped)", .dim) + "\n"
        }
        out += "\n" + paint("Examples", .bold) + "\n" + examples(summary)
        return out
    }

    // MARK: - Counts

    func verdict(_ summary: CompareSummary) -> String {
        guard summary.differences > 0 else {
            if summary.compared == 0 { return "  " + paint("no differences", .green) + ": nothing was compared\n" }
            return "  " + paint("no differences", .green) + ": both configurations answer every connection alike\n"
        }
        var out = "  \(plural(summary.differences, "difference")) in \(plural(summary.differing, "connection")):\n"
        for change in CompareChange.allCases {
            guard let tally = summary.changes[change], tally.count > 0 else { continue }
            let clients = (tally.clientsOverflow ? "more than " : "") + plural(tally.clients.count, "client")
            out += "    the candidate would "
            switch change {
            case .connectionDenied:
                out += paint("deny", .red) + " \(plural(tally.count, "connection")) from \(clients) that the baseline lets in\n"
            case .connectionAllowed:
                out += paint("allow", .red) + " \(plural(tally.count, "connection")) from \(clients) that the baseline drops\n"
            case .blocklist:
                out += paint("change rblsmtpd's answer", .red) + " for \(plural(tally.count, "connection")) from \(clients)\n"
            case .recipientRefused, .recipientDeferred, .recipientRelayed, .recipientAccepted:
                out += paint(change.verb, .red) + " \(plural(tally.count, "recipient")) from \(clients)\n"
            case .messageRefused, .messageAccepted:
                out += paint(change.verb, .red) + " \(plural(tally.count, "message")) from \(clients)\n"
            case .reply:
                let parts = summary.otherReplies.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \($0.value)" }
                out += "answer \(plural(tally.count, "other step")) differently (\(parts.joined(separator: ", ")))\n"
            }
        }
        if summary.connectionsWithNotes > 0 {
            out += "  in \(plural(summary.connectionsWithNotes, "connection")) the two sessions took different paths (see the notes)\n"
        }
        return out
    }

    func changeList(_ changes: [CompareChange: Int]) -> String {
        changes.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
    }

    // MARK: - Groups

    func byPrefix(_ summary: CompareSummary) -> String {
        var out = ""
        for group in summary.byPrefix.values.sorted(by: { ($1.differences, $0.key) < ($0.differences, $1.key) }) {
            out += "  " + paint(group.key, .bold) + "  \(plural(group.connections, "connection")) from "
            out += "\(plural(group.clients.count, "client")), \(plural(group.differences, "difference")): \(changeList(group.changes))\n"
        }
        return out
    }

    func byDomain(_ summary: CompareSummary) -> String {
        var out = ""
        for group in summary.byDomain.values.sorted(by: { ($1.differences, $0.key) < ($0.differences, $1.key) }) {
            let kinds = group.changes.sorted { $0.key < $1.key }.map { "\($0.key.verb) \($0.value)" }.joined(separator: ", ")
            out += "  " + paint(group.key, .bold) + "  \(plural(group.differences, "recipient")): \(kinds) "
            out += "(\(plural(group.clients.count, "client")))\n"
            for example in group.differenceExamples {
                let difference = example.difference
                let name = example.connection.hasPrefix("#") ? String(example.connection.prefix { $0 != " " }) : "\"\(example.connection)\""
                out += "    \(name) from \(example.client)  \(difference.subject): \(difference.baseline.summary) → \(difference.candidate.summary)\n"
            }
            let more = group.differences - group.differenceExamples.count
            if more > 0 { out += "    " + paint("… and \(more) more", .dim) + "\n" }
        }
        return out
    }

    func byCause(_ summary: CompareSummary) -> String {
        var out = ""
        for group in summary.byCause.values.sorted(by: { ($1.differences, $0.key) < ($0.differences, $1.key) }) {
            out += "  \(plural(group.differences, "difference")) in \(plural(group.connections, "connection")): \(changeList(group.changes))\n"
            for line in group.key.split(separator: "\n") { out += "    " + paint(String(line), .cyan) + "\n" }
        }
        return out
    }

    // MARK: - Examples

    func examples(_ summary: CompareSummary) -> String {
        var out = ""
        for group in summary.byPrefix.values.sorted(by: { ($1.differences, $0.key) < ($0.differences, $1.key) }) {
            for connection in group.connectionExamples { out += describe(connection) }
            let more = group.connections - group.connectionExamples.count
            if more > 0 { out += "  " + paint("… and \(plural(more, "more connection")) from \(group.key)", .dim) + "\n" }
        }
        return out
    }

    /// One connection: its differences with both sides' answers and explanations, then the notes.
    public func describe(_ connection: ComparedConnection) -> String {
        var out = "  " + paint(connection.name, .cyan)
        if connection.name.hasPrefix("#") {
            if let source = connection.source { out += paint("  (\(source))", .dim) }
        } else {
            out += "  \(connection.client.description) → \(connection.server.description)"
            if let position = connection.position { out += paint("  (\(connection.suite):\(position.line))", .dim) }
        }
        if let listener = connection.baselineListener ?? connection.candidateListener, listener != "default" {
            out += paint("  listener \(listener)", .dim)
        }
        out += "\n"
        for difference in connection.differences {
            out += "    " + (difference.step.map { paint("step \($0)", .dim) + "  " } ?? "") + difference.subject
            out += "  " + paint(difference.change.rawValue, .dim) + "\n"
            for side in CompareSideName.allCases {
                let answer = difference.answer(side)
                let label = side.rawValue + String(repeating: " ", count: max(0, 10 - side.rawValue.count))
                let lines = answer.reply.split(separator: "\n", omittingEmptySubsequences: false)
                for (index, line) in lines.enumerated() {
                    out += "      " + (index == 0 ? paint(label, .yellow) : "          ") + " " + line
                    if index == lines.count - 1, let outcome = answer.outcome { out += "  (\(outcome.rawValue))" }
                    out += "\n"
                }
                for (index, fact) in answer.explanation.enumerated() {
                    out += "                 " + (index == 0 ? "because " : "        ") + paint(fact.description, .dim) + "\n"
                }
            }
        }
        for note in connection.notes { out += "    " + paint("note", .yellow) + "  " + note + "\n" }
        return out
    }

    // MARK: - Text

    func plural(_ count: Int, _ word: String) -> String {
        "\(count) " + (count == 1 ? word : word + "s")
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

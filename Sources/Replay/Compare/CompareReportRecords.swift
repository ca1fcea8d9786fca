import Capture
import RelayEngine
import Scenarios

// `relaylab compare` reports through the writers `relaylab check` uses (JSON Lines, JUnit,
// GitHub annotations): each compared connection becomes a ``ConnectionResult`` whose steps are
// the candidate's session and whose expectations are the baseline's answers. JSON Lines add one
// `difference` record per difference, with both sides' replies and explanation chains, and end
// with the comparison's own summary record.

extension ComparedConnection {
    /// The connection in the report model shared with `relaylab check`: the candidate's session,
    /// each differing step failed with the baseline's answer as what was expected.
    public func connectionResult() -> ConnectionResult {
        let base = candidateResult ?? baselineResult
        var connection = base?.connection ?? ConnectionOutcome(decision: "deny")
        var steps: [StepResult] = (base?.steps ?? []).map { step in
            var step = step
            step.expected = nil
            step.verdict = .passed
            return step
        }
        connection.expected = baselineResult?.connection.decision ?? "(not taken)"
        connection.verdict = differences.contains { $0.step == nil } ? .failed : .passed
        var reportDifferences: [Difference] = []
        for difference in differences {
            let expected = ComparedConnection.sideText(difference.baseline)
            let actual = ComparedConnection.sideText(difference.candidate)
            var index = 0
            if let step = difference.candidateStep, let found = steps.firstIndex(where: { $0.index == step }) {
                index = found
            }
            if difference.step == nil || difference.candidateStep != nil, index < steps.count {
                steps[index].verdict = .failed
                steps[index].expected = expected
            }
            reportDifferences.append(
                Difference(
                    position: steps.indices.contains(index) ? steps[index].position : position,
                    step: steps.indices.contains(index) ? steps[index].index : nil, subject: difference.subject,
                    expected: expected, actual: actual,
                    explanation: difference.baseline.explanation.map { "baseline: \($0.description)" }
                        + difference.candidate.explanation.map { "candidate: \($0.description)" }))
        }
        var warnings = notes
        if let skipped { warnings.insert("skipped: \(skipped)", at: 0) }
        return ConnectionResult(
            suite: suite, name: name, position: position, client: client, server: server,
            listener: candidateListener ?? baselineListener, connection: connection, steps: steps,
            differences: reportDifferences, warnings: warnings)
    }

    /// `553 sorry, …  (refuse)`, reply lines joined with LF.
    static func sideText(_ answer: CompareAnswer) -> String {
        answer.reply + (answer.outcome.map { "  (\($0.rawValue))" } ?? "")
    }

    /// The `difference` records of JSON Lines, one per difference (field names are a contract):
    ///
    ///     {"type":"difference","file":"relay.pcap","line":null,"connection":"#4 …",
    ///      "client":{"ip":"10.1.2.15","port":40004,"ptr":"ws15.office.example.net"},
    ///      "server":{"ip":"192.0.2.25","port":25},"step":3,"subject":"RCPT TO:<friend@elsewhere.example>",
    ///      "change":"refuse-recipient","domain":"elsewhere.example",
    ///      "baseline":{"reply":["250 ok"],"decision":"relay","explanation":["…"]},
    ///      "candidate":{"reply":["553 sorry, …"],"decision":"refuse","explanation":["…"]},
    ///      "causes":["baseline: rule sets RELAYCLIENT=\"\" (tcp.smtp:11)"],"notes":["…"]}
    public var differenceRecords: String {
        var out = ""
        for difference in differences {
            out += "{\"type\":\"difference\",\"file\":" + ByteText.json(position?.file ?? suite)
            out += ",\"line\":" + (position.map { String($0.line) } ?? "null")
            out += ",\"connection\":" + ByteText.json(name)
            out += ",\"client\":{\"ip\":\(ByteText.json(client.ip)),\"port\":\(client.port),\"ptr\":\(ByteText.json(client.name))}"
            out += ",\"server\":{\"ip\":\(ByteText.json(server.ip)),\"port\":\(server.port)}"
            out += ",\"step\":" + (difference.step.map(String.init) ?? "null")
            out += ",\"subject\":" + ByteText.json(difference.subject)
            out += ",\"change\":" + ByteText.json(difference.change.rawValue)
            out += ",\"domain\":" + ByteText.json(difference.domain)
            for side in CompareSideName.allCases {
                let answer = difference.answer(side)
                out += ",\"\(side.rawValue)\":{\"reply\":" + ByteText.json(answer.reply.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
                out += ",\"decision\":" + ByteText.json(answer.outcome?.rawValue)
                out += ",\"explanation\":" + ByteText.json(answer.explanation.map(\.description)) + "}"
            }
            out += ",\"causes\":" + ByteText.json(difference.causes.map(\.description))
            out += ",\"notes\":" + ByteText.json(notes) + "}\n"
        }
        return out
    }
}

extension CompareSummary {
    /// The summary record that ends `relaylab compare --format json`. The first fields are those
    /// of `relaylab check` (`passed`: connections answered alike, `failed`: connections with a
    /// difference, `steps`: client steps sent to both sides), then the comparison's own:
    ///
    ///     {"type":"summary","connections":N,"passed":N,"failed":N,"steps":N,"skipped":N,
    ///      "differences":N,"rcpt_decisions_compared":N,"changes":{"refuse-recipient":{"count":N,"clients":N},…},
    ///      "compared":N,"unobservable":0,"skipped_reasons":{"REASON":N,…}}
    ///
    /// where `connections = compared + unobservable + skipped` (a compared connection is sent to
    /// both sides; none is unobservable) and `compared = passed + failed`; then `"limits_hit"`
    /// for captures and `"lookups":{…}` (per side and database: ``LookupStatistics/json``) when collected.
    public var jsonRecord: String {
        var out = "{\"type\":\"summary\",\"connections\":\(connections),\"passed\":\(identical),\"failed\":\(differing)"
        out += ",\"steps\":\(stepsCompared),\"skipped\":\(skipped),\"differences\":\(differences)"
        out += ",\"rcpt_decisions_compared\":\(rcptCompared),\"changes\":{"
        out += CompareChange.allCases.compactMap { change -> String? in
            guard let tally = changes[change], tally.count > 0 else { return nil }
            return ByteText.json(change.rawValue) + ":{\"count\":\(tally.count),\"clients\":\(tally.clients.count)}"
        }.joined(separator: ",")
        out += "},\"compared\":\(compared),\"unobservable\":0"
        out += ",\"skipped_reasons\":" + ReplaySummary.jsonCounts(skippedReasons)
        if let capture { out += ",\"limits_hit\":" + ReplaySummary.jsonCounts(capture.limitsHitByName) }
        if let lookups { out += ",\"lookups\":" + lookups.json }
        out += "}\n"
        return out
    }

    /// The counts in the report model shared with `relaylab check` (JUnit, GitHub).
    public var reportSummary: ReportSummary {
        var summary = ReportSummary()
        summary.connections = connections
        summary.passed = identical
        summary.failed = differing
        summary.skipped = skipped
        summary.skippedReasons = skippedReasons
        summary.steps = stepsCompared
        return summary
    }
}

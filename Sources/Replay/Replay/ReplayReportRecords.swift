import Capture
import RelayEngine

// `relaylab replay` reports through the writers `relaylab check` uses (JSON Lines, JUnit): each
// replayed connection becomes a ``ConnectionResult`` whose expectations are the recorded replies,
// and the JSON Lines end with the replay's own summary record.

extension ReplayedConnection {
    /// `#3 10.1.2.15:40004 → 192.0.2.25:25`.
    public var name: String { "#\(index) \(client) → \(server)" }

    /// The connection in the report model shared with `relaylab check`: the greeting (step 0)
    /// and every client step, with the recorded reply as what was expected; steps that were not
    /// compared carry a ``StepResult/note`` saying why.
    ///
    /// - Parameter suite: the group in reports (the capture file).
    public func connectionResult(suite: String? = nil) -> ConnectionResult {
        let decision = connectionDecision
        var outcome = ConnectionOutcome(decision: "allow")
        if let decision {
            let facts = decision.tcpserver.reasons + (decision.blocklist?.reasons ?? []) + (decision.smtpd?.reasons ?? [])
            outcome = ConnectionOutcome(
                decision: decision.tcpserver.outcome == .deny ? "deny" : "allow", rule: decision.ruleKey,
                ruleSource: decision.ruleSource?.description,
                blocklist: decision.blocklist.map { $0.outcome == .accept ? "pass" : $0.outcome.rawValue },
                reasons: ReplayReplies.redacted(facts))
        }
        let connectionDifference = differences.first { $0.step == nil }
        if recordedGreeting != nil {
            outcome.expected = "allow"
        } else if connectionDifference?.recordedOutcome == .deny || (decision?.tcpserver.outcome == .deny && counts.connectionCompared > 0) {
            outcome.expected = "deny"
        }
        if outcome.expected != nil {
            outcome.verdict = connectionDifference?.change == .connectionDenied || connectionDifference?.change == .connectionAccepted ? .failed : .passed
        }

        var results: [StepResult] = []
        results.reserveCapacity(steps.count + 1)
        // Step 0: the greeting (or the silent close).
        var greeting = StepResult(
            index: 0, kind: .greeting, clientText: "(connect)", replyBytes: simulatedGreeting ?? [],
            closed: decision?.tcpserver.outcome == .deny, stage: decision.map { Self.stageName($0.finalStage) },
            decision: decision.map { $0.tcpserver.outcome == .deny ? "deny" : ($0.blocklist.map { $0.outcome.rawValue } ?? "accept") },
            subject: "connection")
        if let recordedGreeting {
            greeting.expected = ReplayReplies.text(recordedGreeting)
            greeting.verdict = connectionDifference == nil ? .passed : .failed
        } else if outcome.expected == "deny" {
            greeting.expected = "(connection closed without a byte)"
            greeting.verdict = connectionDifference == nil ? .passed : .failed
        } else {
            greeting.note = "unobservable: no greeting was captured"
        }
        if let divergence = divergences.first(where: { $0.step == nil }) { greeting.note = "diverged: " + divergence.reason }
        results.append(greeting)

        for step in steps {
            var result = StepResult(
                index: step.number, kind: Self.kind(step), client: step.clientBytes ?? [], clientText: step.line,
                replyBytes: step.simulated ?? [], closed: step.simulatedClosed, stage: step.stage.map(Self.stageName),
                decision: step.decision?.outcome.rawValue, subject: step.decision?.subject.rawValue,
                reasons: ReplayReplies.redacted(step.decision?.reasons ?? []),
                expected: step.recorded.map { ReplayReplies.text($0) })
            var notes: [String] = []
            switch step.status {
            case .matched: result.verdict = .passed
            case .differs: result.verdict = .failed
            case .unobservable(let reason): notes.append("unobservable: " + reason)
            case .notReplayed(let reason): notes.append("not replayed: " + reason)
            }
            if let divergence = divergences.first(where: { $0.step == step.number }) {
                notes.append("diverged: " + divergence.reason)
            } else if step.afterDivergence {
                notes.append("after a divergence")
            }
            if !notes.isEmpty { result.note = notes.joined(separator: "; ") }
            results.append(result)
        }

        let reportDifferences = differences.map { difference in
            var expected = difference.recorded
            if let outcome = difference.recordedOutcome { expected += "  (\(outcome.rawValue))" }
            var actual = difference.simulated
            if let outcome = difference.simulatedOutcome { actual += "  (\(outcome.rawValue))" }
            return Difference(
                position: nil, step: difference.step ?? 0, subject: difference.subject, expected: expected, actual: actual,
                explanation: difference.explanation)
        }
        var warnings = problems
        if let reason = disposition.reason { warnings.insert("\(disposition.word): \(reason)", at: 0) }
        return ConnectionResult(
            suite: suite ?? sourceFile, name: name, position: nil,
            client: Endpoint(ip: client.ip, port: client.port, name: clientName),
            server: Endpoint(ip: server.ip, port: server.port), listener: listener, connection: outcome,
            steps: results, differences: reportDifferences, warnings: warnings)
    }

    static func kind(_ step: ReplayedStep) -> StepResult.Kind {
        switch step.kind {
        case .command, .bdatChunk: step.clientBytes == nil ? .authResponse : .command
        case .dataBody: .message
        case .authResponse: .authResponse
        }
    }

    static func stageName(_ stage: Stage) -> String { stage.rawValue }
}

extension ReplaySummary {
    /// The summary record that ends `relaylab replay --format json`. The first fields are a
    /// contract, in this order:
    ///
    ///     {"type":"summary","connections":N,"commands_compared":N,"differences":N,
    ///      "rcpt_decisions_compared":N,"rcpt_decisions_changed":N,"unobservable":N,"diverged":N,…}
    ///
    /// `unobservable` counts client steps the capture cannot tell about, `diverged` the points
    /// where the simulation took another path. The accounting follows: `compared`,
    /// `unobservable_connections` and `skipped` connections (which add up to `connections`),
    /// `skipped_reasons` and `unobservable_reasons` (reason → connections), `commands` (client
    /// steps of the replayed connections; `= commands_compared + unobservable + not_replayed`), `not_replayed`,
    /// `connection_decisions_compared`, `connection_decisions_changed`, `changes` (kind →
    /// `{"count":N,"clients":N}`), `packets`, `bytes`, `damage` and `limits_hit` (capture limit →
    /// times exceeded; each affected connection is still counted above); then `lookups` (see
    /// ``LookupStatistics/json``) when collected.
    public var jsonRecord: String {
        var out = "{\"type\":\"summary\",\"connections\":\(connections),\"commands_compared\":\(counts.compared)"
        out += ",\"differences\":\(differences),\"rcpt_decisions_compared\":\(counts.rcptCompared)"
        out += ",\"rcpt_decisions_changed\":\(counts.rcptChanged),\"unobservable\":\(counts.unobservable)"
        out += ",\"diverged\":\(counts.diverged)"
        out += ",\"compared\":\(compared),\"unobservable_connections\":\(unobservableConnections),\"skipped\":\(skipped)"
        out += ",\"skipped_reasons\":" + Self.jsonCounts(skippedReasons)
        out += ",\"unobservable_reasons\":" + Self.jsonCounts(unobservableReasons)
        out += ",\"commands\":\(counts.steps),\"not_replayed\":\(counts.notReplayed)"
        out += ",\"connection_decisions_compared\":\(counts.connectionCompared)"
        out += ",\"connection_decisions_changed\":\(counts.connectionDiffers)"
        out += ",\"changes\":{"
        var first = true
        for change in ReplayChange.allCases {
            guard let tally = changes[change], tally.count > 0 else { continue }
            if !first { out += "," }
            first = false
            out += ByteText.json(change.rawValue) + ":{\"count\":\(tally.count),\"clients\":\(tally.clients.count)}"
        }
        out += "}"
        if let capture {
            out += ",\"packets\":\(capture.packets),\"bytes\":\(capture.bytes)"
            out += ",\"damage\":" + ByteText.json(capture.damage.map(\.description))
            out += ",\"limits_hit\":" + Self.jsonCounts(capture.limitsHitByName)
        }
        if let lookups { out += ",\"lookups\":" + lookups.json }
        out += "}\n"
        return out
    }

    static func jsonCounts(_ counts: [String: Int]) -> String {
        let parts = counts.sorted { $0.key < $1.key }.map { ByteText.json($0.key) + ":\($0.value)" }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

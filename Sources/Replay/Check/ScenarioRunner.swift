public import CDB
import Foundation
public import RelayEngine
public import Scenarios

/// Runs scenario connections through the simulated chain and compares every reply and decision
/// with what the scenario expects.
public enum ScenarioRunner {
    /// How much of a result to make.
    public enum Detail: Sendable, Hashable {
        /// Every step and the connection's details, for every connection.
        case everyStep
        /// Only what a passing connection's one report line needs: its name, verdict and step
        /// count (``ConnectionResult/steps`` empty; ``ConnectionResult/connection`` with its
        /// decision only, unless the scenario expects something of the connection). A
        /// connection with a difference is run again with ``everyStep``, so its result is
        /// complete. Reports that show passing connections in full (JSON
        /// Lines, `--explain`, HTML) need ``everyStep``; see ``ReportWriter/showsPassingDetails``.
        case failuresOnly
    }

    /// Whether an expectation of `connection` reads a decision's explanation (`reason`).
    static func readsExplanations(_ connection: borrowing ScenarioConnection) -> Bool {
        if connection.expectation?.greeting?.reason != nil { return true }
        for index in connection.steps.indices {
            for expectation in connection.steps[index].expectations where expectation.reason != nil { return true }
        }
        return false
    }

    /// Runs one connection of a scenario against `configuration` (its resolved configuration).
    ///
    /// The client connects, takes its steps in order and finally closes its side (if the server
    /// has not closed first). Every exchange becomes a ``StepResult``; every expectation that
    /// does not hold becomes a ``Difference`` with the engine's explanation chain.
    ///
    /// - Parameters:
    ///   - warnings: the configuration's warnings as report text, when the caller has them
    ///     already (they are the same for every connection of a configuration).
    ///   - lookupTiming: time one cdb lookup in N (``ConnectionResult/lookups`` counts them all).
    ///   - detail: how much of the result to make for a connection that passes.
    public static func run(
        _ connection: borrowing ScenarioConnection, configuration: RelayConfiguration, suite: String,
        warnings: [String]? = nil, lookupTiming: CDBLookupRecorder.Sampling? = nil, detail: Detail = .everyStep
    ) -> ConnectionResult {
        // The connection, its steps and the client are large structs: read in place, not copied.
        let server = connection.server
        let clientEndpoint = Endpoint(ip: connection.client.ip, port: connection.client.port, name: connection.client.ptr)
        let serverEndpoint = Endpoint(
            ip: server.ip ?? ServerSpec.defaultIP, port: server.port ?? ServerSpec.defaultPort, name: server.hostname)
        let client = ClientConnection(
            clientIP: clientEndpoint.ip, clientPort: clientEndpoint.port, serverIP: serverEndpoint.ip,
            serverPort: serverEndpoint.port, ptrName: connection.client.ptr, ptrAddresses: connection.client.ptrAddresses,
            identInfo: connection.client.info, serverName: server.hostname)
        var session = RelaySession(configuration: configuration, connection: client, lookupTiming: lookupTiming)
        // A passing connection shows as one line: unless an expectation reads an explanation
        // (`reason`), its decisions need no words (a failing one is run again in full).
        if detail == .failuresOnly, !ScenarioRunner.readsExplanations(connection) { session.explainsDecisions = false }
        var run = _ConnectionRun(session: session, keepsSteps: detail == .everyStep)
        run.start()
        if run.keepsSteps { run.steps.reserveCapacity(connection.steps.count + 2) }

        // The greeting.
        let greetingExpectation = connection.expectation?.greeting
        let greetings = run.session.exchanges[...]
        run.record(
            greetings, expectations: greetingExpectation.map { [$0] } ?? [], targets: .leading(greetingExpectation == nil ? 0 : 1),
            position: connection.position, pendingText: "(connect)", subject: "greeting")

        for index in connection.steps.indices {
            run.take(
                connection.steps[index].action, expectations: connection.steps[index].expectations,
                position: connection.steps[index].position, expectsNoReply: connection.steps[index].expectsNoReply)
        }
        if !run.session.isClosed { run.session.clientClosed() }

        let outcome = run.connectionOutcome(expectation: connection.expectation)
        if !run.keepsSteps, !run.differences.isEmpty {
            // A difference is reported in full: the same connection again (the simulation gives
            // the same exchanges every time), this time keeping every step.
            return ScenarioRunner.run(
                connection, configuration: configuration, suite: suite, warnings: warnings, lookupTiming: lookupTiming,
                detail: .everyStep)
        }
        return ConnectionResult(
            suite: suite, name: connection.name, position: connection.position, client: clientEndpoint,
            server: serverEndpoint, listener: connection.listener, connection: outcome, steps: run.steps,
            stepCount: run.stepCount, differences: run.differences,
            warnings: warnings ?? ScenarioRunner.warningTexts(run.session.warnings), lookups: run.session.lookups)
    }

    /// Configuration warnings as report lines: `file:line: message`.
    public static func warningTexts(_ warnings: [ConfigurationWarning]) -> [String] {
        warnings.map { warning in warning.source.map { "\($0): \(warning.message)" } ?? warning.message }
    }
}

/// Which exchange each expectation of a step applies to (`self[i]`: the index among the step's
/// exchanges, nil for none); the usual case, expectation i to exchange i, needs no array.
enum _Targets {
    /// Expectation i applies to exchange i when i < count.
    case leading(Int)
    /// As listed (nil beyond the list).
    case listed([Int?])

    subscript(index: Int) -> Int? {
        switch self {
        case .leading(let count): index < count ? index : nil
        case .listed(let targets): index < targets.count ? targets[index] : nil
        }
    }
}

/// One connection being run.
struct _ConnectionRun {
    var session: RelaySession
    /// Whether step results are made (``ScenarioRunner/Detail/everyStep``); without them,
    /// only the verdict and the count are kept.
    let keepsSteps: Bool
    var steps: [StepResult] = []
    /// How many steps there were (``steps``' count when they are kept).
    var stepCount = 0
    var differences: [Difference] = []
    /// The message the current step queued, if any.
    var queued: QueuedMessage?
    /// Whether tcpserver denied the connection (known once the session started).
    var denied = false

    init(session: RelaySession, keepsSteps: Bool = true) {
        self.session = session
        self.keepsSteps = keepsSteps
    }

    /// Starts the session (its greeting is the first exchange).
    mutating func start() {
        _ = session.start()
        // Only a session without rblsmtpd or qmail-smtpd (tcpserver did not run them) greets with
        // tcpserver's own decision, which says whether it denied the connection; reading it
        // there costs less than building the connection's whole decision.
        if session.exchanges.first?.stage == .tcpserver {
            denied = session.exchanges[0].decision?.outcome == .deny
        } else {
            denied = session.exchanges.isEmpty && session.connectionDecision.tcpserver.outcome == .deny
        }
    }

    // MARK: - Steps

    /// Takes one step, given by its parts (read field by field from the connection's steps: a
    /// whole step, handed over, was copied first).
    mutating func take(
        _ action: ScenarioStep.Action, expectations: [ReplyExpectation], position: FilePosition, expectsNoReply: Bool
    ) {
        let before = session.exchanges.count
        let envelopesBefore = session.envelopes.count
        var targets = _Targets.listed([])
        switch action {
        case .send(let bytes):
            _ = session.receive(bytes)
            let count = session.exchanges.count - before
            targets = .leading(count)
        case .data(let body, let force):
            _ = session.receive(_ConnectionRun.dataCommand)
            let dataReplies = session.exchanges.count - before
            let goAhead = dataReplies > 0 && lastReplyCode == 354
            if !session.isClosed, dataReplies > 0, goAhead || force {
                _ = session.receive(body)
            }
            let count = session.exchanges.count - before
            let messageReply: Int? = (goAhead || force) && count > dataReplies ? count - 1 : nil
            let dataReply: Int? = dataReplies > 0 ? 0 : nil
            if expectations.count == 1 {
                targets = .listed([goAhead ? messageReply : dataReply])
            } else if expectations.count == 2 {
                targets = .listed([dataReply, messageReply])
            }
        case .auth(let exchange):
            authenticate(exchange)
            let count = session.exchanges.count - before
            if expectations.count == 1 {
                targets = .listed([count > 0 ? count - 1 : nil])
            } else {
                targets = .leading(count)
            }
        case .wait(let seconds):
            _ = session.idle(seconds: seconds)
            let count = session.exchanges.count - before
            targets = .leading(count)
        case .close:
            session.clientClosed()
        }
        let new = session.exchanges[before...]
        queued = session.envelopes.count > envelopesBefore ? session.envelopes.last : nil
        record(
            new, expectations: expectations, targets: targets, position: position,
            pendingText: _ConnectionRun.text(of: action), subject: nil)
        queued = nil
        let extraReplies = expectsNoReply ? !new.isEmpty : (isSend(action) && !expectations.isEmpty && new.count > expectations.count)
        if extraReplies, !steps.isEmpty { steps[steps.count - 1].verdict = .failed }
        if expectsNoReply, !new.isEmpty {
            differences.append(
                Difference(
                    position: position, step: stepCount > 0 ? stepCount - 1 : nil, subject: _ConnectionRun.text(of: action),
                    expected: "no reply",
                    actual: new.map { ByteText.replyLines($0.reply).joined(separator: "\n") }.joined(separator: "\n"),
                    explanation: new.last.map { explanation(for: $0).map(\.description) } ?? []))
        }
        if case .send = action, !expectations.isEmpty, new.count > expectations.count {
            differences.append(
                Difference(
                    position: position, step: stepCount > 0 ? stepCount - 1 : nil, subject: _ConnectionRun.text(of: action),
                    expected: "\(expectations.count) repl\(expectations.count == 1 ? "y" : "ies")",
                    actual: "\(new.count) replies: " + new.map { ByteText.replyLines($0.reply).first ?? "(none)" }.joined(separator: ", "),
                    explanation: ["give one expectation per reply (a list) to check each of them"]))
        }
    }

    static let dataCommand: [UInt8] = Array("DATA\r\n".utf8)

    func isSend(_ action: ScenarioStep.Action) -> Bool {
        if case .send = action { return true }
        return false
    }

    /// What a step sends, for reports.
    static func text(of action: ScenarioStep.Action) -> String {
        switch action {
        case .send(let bytes): return ByteText.display(line: bytes)
        case .data: return "DATA"
        case .auth(let exchange): return "AUTH \(exchange.mechanism.rawValue)"
        case .wait(let seconds): return "(idle \(ByteText.seconds(seconds)))"
        case .close: return "(close)"
        }
    }

    /// The code of the last reply's last line, if any.
    var lastReplyCode: Int? {
        guard let reply = session.exchanges.last?.reply, reply.count >= 3 else { return nil }
        return Int(String(decoding: reply.prefix(3), as: UTF8.self))
    }

    var lastReplyIsPrompt: Bool { !session.isClosed && lastReplyCode == 334 }

    mutating func send(_ line: String) {
        _ = session.receive(Array((line + "\r\n").utf8))
    }

    /// An AUTH exchange, answering each 334 prompt as a client does.
    mutating func authenticate(_ auth: AuthExchange) {
        func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
        let user = Array(auth.user.utf8)
        let password = Array(auth.password.utf8)
        switch auth.mechanism {
        case .plain:
            let response = base64([0] + user + [0] + password)
            if auth.initialResponse {
                send("AUTH PLAIN \(response)")
            } else {
                send("AUTH PLAIN")
                if lastReplyIsPrompt { send(response) }
            }
        case .login:
            if auth.initialResponse {
                send("AUTH LOGIN \(base64(user))")
            } else {
                send("AUTH LOGIN")
                if lastReplyIsPrompt { send(base64(user)) }
            }
            if lastReplyIsPrompt { send(base64(password)) }
        case .cramMD5:
            send("AUTH CRAM-MD5")
            guard lastReplyIsPrompt, let reply = session.exchanges.last?.reply else { return }
            var encoded = Array(reply.dropFirst(4))
            while let last = encoded.last, last == 10 || last == 13 { encoded.removeLast() }
            let challenge = Data(base64Encoded: Data(encoded)).map { [UInt8]($0) } ?? []
            let digest = MD5.hex(MD5.hmac(key: password, message: challenge))
            send(base64(user + Array(" \(digest)".utf8)))
        }
    }

    // MARK: - Results

    /// Turns new exchanges into step results, checking the expectations aimed at them
    /// (`targets[i]` is the index in `exchanges` expectation `i` applies to, nil for none).
    mutating func record(
        _ exchanges: ArraySlice<Exchange>, expectations: [ReplyExpectation], targets: _Targets, position: FilePosition,
        pendingText: @autoclosure () -> String, subject: String?
    ) {
        // Expectation i applies to exchange targets[i], unless an earlier one does; the others
        // got no reply. (One expectation, the usual case, needs no table.)
        var singleTarget: Int? = nil
        var byExchange: [Int: Int] = [:]
        var unmatched: [Int] = []
        if expectations.count == 1 {
            singleTarget = targets[0]
            if singleTarget == nil { unmatched = [0] }
        } else {
            for index in expectations.indices {
                if let target = targets[index], byExchange[target] == nil {
                    byExchange[target] = index
                } else {
                    unmatched.append(index)
                }
            }
        }
        // Which expectation applies to exchange `offset` (an index: an expectation is a large
        // struct, read where it is).
        func expectationIndex(for offset: Int) -> Int? {
            if expectations.count == 1 { return singleTarget == offset ? 0 : nil }
            return byExchange[offset]
        }
        for offset in 0..<exchanges.count {
            let index = stepCount
            stepCount += 1
            // Built in place, and the exchange read where it is: both are large structs, and
            // copying them costs more than the rest. Without step results, only whether the
            // expectation holds matters.
            if keepsSteps { appendStepResult(exchanges[exchanges.startIndex + offset], position: position) }
            guard !expectations.isEmpty, let which = expectationIndex(for: offset) else { continue }
            let last = steps.count - 1
            if keepsSteps { steps[last].expected = expectations[which].written }
            let failure =
                _ConnectionRun.holds(expectations[which], decisionOf: exchanges[exchanges.startIndex + offset])
                ? nil : check(expectations[which], exchange: exchanges[exchanges.startIndex + offset])
            if keepsSteps { steps[last].verdict = failure == nil ? .passed : .failed }
            if let failure {
                // (Without step results the connection is run again in full, so its subject
                // here is never shown.)
                differences.append(
                    Difference(
                        position: expectations[which].position, step: index,
                        subject: subject ?? (keepsSteps ? steps[last].clientText : ""), expected: expectations[which].written,
                        actual: failure.actual, explanation: failure.explanation))
            }
        }
        for index in unmatched {
            let expectation = expectations[index]
            let pendingText = pendingText()
            // Nothing answered (the connection is closed, or the line was incomplete).
            var step = StepResult(
                index: stepCount, position: position, kind: .none, clientText: pendingText, closed: session.isClosed,
                expected: expectation.written)
            stepCount += 1
            if let failure = check(expectation, exchange: nil) {
                step.verdict = .failed
                differences.append(
                    Difference(
                        position: expectation.position, step: step.index, subject: subject ?? pendingText,
                        expected: expectation.written, actual: failure.actual, explanation: failure.explanation))
            } else {
                step.verdict = .passed
                if denied { step.decision = "deny" }
            }
            if keepsSteps { steps.append(step) }
        }
    }

    /// Appends the step result of `exchange` (built in place: a step result is a large struct).
    /// Its client text is worked out only if a report shows it (``StepResult/clientText``).
    mutating func appendStepResult(_ exchange: borrowing Exchange, position: FilePosition) {
        // Its index: `record` has counted it already.
        let kind: StepResult.Kind
        var client = exchange.clientBytes
        switch exchange.kind {
        case .greeting: kind = .greeting
        case .command: kind = .command
        case .messageBody: kind = .message
        case .authResponse:
            kind = .authResponse
            client = []
        case .timeout: kind = .timeout
        }
        let reasons = exchange.decision == nil ? [] : explanation(of: exchange)
        let step = StepResult(
            index: stepCount - 1, position: position, kind: kind, client: client, replyBytes: exchange.reply,
            closed: exchange.closedAfter, stage: exchange.stage.rawValue, decision: exchange.decision?.outcome.rawValue,
            subject: exchange.decision?.subject.rawValue, reasons: reasons)
        steps.append(consume step)
    }

    /// The usual case, decided without building anything: whether `expectation` is only a
    /// decision word that the reply's own decision matches (false: ask ``check(_:exchange:)``).
    static func holds(_ expectation: borrowing ReplyExpectation, decisionOf exchange: borrowing Exchange) -> Bool {
        guard let wanted = expectation.outcome, wanted != .closed, wanted != .deny, !exchange.reply.isEmpty,
            let outcome = exchange.decision?.outcome, expectation.code == nil, expectation.isCodeOrDecisionOnly
        else { return false }
        return outcome.rawValue == wanted.rawValue
    }

    /// Why `expectation` does not hold for `exchange` (nil: it holds).
    func check(_ expectation: ReplyExpectation, exchange: Exchange?) -> (actual: String, explanation: [String])? {
        // The usual case first: a decision word for a reply that carries its decision.
        if let exchange, _ConnectionRun.holds(expectation, decisionOf: exchange) { return nil }
        let lines = exchange.map { ByteText.replyLines($0.reply) } ?? []
        let decision = exchange?.decision
        let outcome: String? =
            decision?.outcome.rawValue ?? (lines.isEmpty ? (denied ? "deny" : nil) : _ConnectionRun.outcome(ofCode: lines.last!))
        var ok = true
        if let wanted = expectation.outcome {
            switch wanted {
            case .closed:
                ok = lines.isEmpty && (exchange?.closedAfter ?? true) && session.isClosed
            case .deny:
                ok = lines.isEmpty && outcome == "deny"
            default:
                ok = !lines.isEmpty && outcome == wanted.rawValue
            }
        }
        if ok, let code = expectation.code {
            ok = lines.last.flatMap { Int($0.prefix(3)) } == code && lines.allSatisfy { $0.hasPrefix(String(code)) }
        }
        if ok, let reply = expectation.reply { ok = lines == reply }
        if ok, let text = expectation.text {
            ok = lines.map { String($0.dropFirst(min(4, $0.count))) }.joined(separator: "\n") == text
        }
        if ok, let fragment = expectation.contains { ok = lines.contains { $0.contains(fragment) } }
        var envelopeText: String? = nil
        if expectation.concernsEnvelope {
            if let queued {
                if ok, let sender = expectation.sender { ok = queued.senderText == sender }
                if ok, let recipients = expectation.recipients { ok = queued.recipientTexts == recipients }
                if ok, let received = expectation.received { ok = queued.receivedText == received }
                envelopeText = "queued from <\(queued.senderText)> to " + queued.recipientTexts.map { "<\($0)>" }.joined(separator: ", ")
                if expectation.received != nil { envelopeText! += "\n" + queued.receivedText }
            } else {
                ok = false
                envelopeText = "no message was queued"
            }
        }
        // The explanation is built only when it is needed (a reason to match, or a failure).
        if ok, let reason = expectation.reason {
            let haystack = (decision.map { [$0.description] } ?? []) + explanation(for: exchange).map(\.description)
            ok = haystack.contains { $0.range(of: reason, options: .caseInsensitive) != nil }
        }
        if ok { return nil }
        let explanationLines = explanation(for: exchange).map(\.description)
        var actual: String
        if lines.isEmpty {
            if exchange == nil {
                actual = session.isClosed ? "no reply: the connection is closed" : "no reply (the line is incomplete)"
            } else {
                actual = "no reply"
                if exchange!.closedAfter { actual += "; connection closed" }
            }
            if denied { actual += " (tcpserver denied it)" }
        } else {
            actual = lines.joined(separator: "\n")
        }
        if let outcome { actual += "  (\(outcome))" }
        if let envelopeText { actual += "\n" + envelopeText }
        return (actual, explanationLines)
    }

    /// Why an exchange went the way it did: its decision's facts; for rblsmtpd's answers (whose
    /// decisions carry no facts of their own) and for steps that got no reply, the connection's.
    func explanation(for exchange: Exchange?) -> [Fact] {
        guard let exchange else { return connectionFacts }
        return explanation(of: exchange)
    }

    /// ``explanation(for:)`` of an exchange there is (read in place).
    func explanation(of exchange: borrowing Exchange) -> [Fact] {
        if let reasons = exchange.decision?.reasons, !reasons.isEmpty { return reasons }
        if exchange.stage == .rblsmtpd, let blocklist = session.blocklist { return blocklist.reasons }
        if exchange.stage == .tcpserver { return connectionFacts }
        return []
    }

    static func outcome(ofCode line: String) -> String? {
        switch line.first {
        case "2", "3": return "accept"
        case "4": return "tempfail"
        case "5": return "refuse"
        default: return nil
        }
    }

    var connectionFacts: [Fact] {
        _ConnectionRun.facts(of: session.connectionDecision)
    }

    static func facts(of decision: ConnectionDecision) -> [Fact] {
        var reasons = decision.tcpserver.reasons
        // Room for all of them at once (appending would grow the array twice).
        reasons.reserveCapacity(reasons.count + (decision.blocklist?.reasons.count ?? 0) + (decision.smtpd?.reasons.count ?? 0))
        if let blocklist = decision.blocklist { reasons += blocklist.reasons }
        if let smtpd = decision.smtpd { reasons += smtpd.reasons }
        return reasons
    }

    // MARK: - Connection

    mutating func connectionOutcome(expectation: ConnectionExpectation?) -> ConnectionOutcome {
        // Without details and with nothing expected of the connection, only its decision.
        if !keepsSteps, expectation == nil {
            return ConnectionOutcome(decision: session.deniedByTCPServer ? "deny" : "allow")
        }
        let decision = session.connectionDecision
        let facts = _ConnectionRun.facts(of: decision)
        var outcome = ConnectionOutcome(
            decision: decision.tcpserver.outcome == .deny ? "deny" : "allow", rule: decision.ruleKey,
            ruleSource: decision.ruleSource?.description, blocklist: decision.blocklist.map { _ConnectionRun.blocklistWord($0.outcome) },
            reasons: facts)
        guard let expectation else { return outcome }
        outcome.expected = expectation.written
        var problems: [(String, String)] = []
        if let allowed = expectation.allowed, allowed != (decision.tcpserver.outcome != .deny) {
            problems.append((allowed ? "allow" : "deny", outcome.decision))
        }
        if let rule = expectation.rule, rule != decision.ruleKey {
            problems.append((_ConnectionRun.ruleText(rule), _ConnectionRun.ruleText(decision.ruleKey)))
        }
        for (name, wanted) in expectation.environment.sorted(by: { $0.key < $1.key }) {
            let actual = decision.environment[name]
            if actual != wanted {
                problems.append(("\(name)=\(_ConnectionRun.quoted(wanted))", "\(name)=\(_ConnectionRun.quoted(actual))"))
            }
        }
        if let blocklist = expectation.blocklist {
            let actual = decision.blocklist?.outcome ?? .accept
            if actual != blocklist {
                problems.append(("rblsmtpd \(_ConnectionRun.blocklistWord(blocklist))", "rblsmtpd \(_ConnectionRun.blocklistWord(actual))"))
            }
        }
        if let status = expectation.exitStatus, Int32(status) != session.exitStatus {
            problems.append(("exit status \(status)", "exit status " + (session.exitStatus.map { String($0) } ?? "(none)")))
        }
        if expectation.greeting != nil, steps.first?.verdict == .failed {
            outcome.verdict = .failed
        }
        outcome.verdict = problems.isEmpty && outcome.verdict != .failed ? .passed : .failed
        if !problems.isEmpty {
            differences.insert(
                Difference(
                    position: expectation.position, step: nil, subject: "connection",
                    expected: problems.map(\.0).joined(separator: ", "), actual: problems.map(\.1).joined(separator: ", "),
                    explanation: facts.map(\.description)),
                at: 0)
        }
        return outcome
    }

    static func ruleText(_ key: String??) -> String {
        switch key {
        case .none: return "any rule"
        case .some(.none): return "no rule (default)"
        case .some(.some(let key)): return key.isEmpty ? "rule \":\" (catch-all)" : "rule \"\(key)\""
        }
    }

    static func ruleText(_ key: String?) -> String { ruleText(.some(key)) }

    static func quoted(_ value: String?) -> String {
        guard let value else { return "(unset)" }
        return "\"\(value)\""
    }

    static func blocklistWord(_ outcome: Decision.Outcome) -> String {
        switch outcome {
        case .accept: return "pass"
        default: return outcome.rawValue
        }
    }
}

extension ByteText {
    /// `5 s`, `0.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

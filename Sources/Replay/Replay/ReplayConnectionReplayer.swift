public import Capture
import CDB
import RelayEngine

/// Replays one reconstructed connection through the simulated chain and compares every reply
/// with the one the production server really sent.
///
/// The client's exact bytes of each step are fed in order; the expectation is the recorded reply.
/// Where the simulation answers differently at a point where a real client waits for the answer,
/// the replay follows what a real client would have seen:
///
/// - DATA: recorded `354` but the simulation refuses → the message is not sent (the client would
///   not have sent it); simulated `354` where the recording was refused → the capture holds no
///   message, so the rest of the connection is not replayed.
/// - AUTH: the simulation ends an exchange the recording continued → the client's remaining AUTH
///   responses are not sent; it asks for credentials the capture does not hold → the rest is not
///   replayed.
/// - The simulated server closes the connection (tcpserver deny, 421, a hang-up) → the client's
///   remaining steps are not sent; the recorded server closed it first → likewise.
///
/// Each such point is a ``ReplayDivergence`` and every later step is marked `afterDivergence`.
/// Steps the capture cannot tell about (one direction, lost segments, TLS) are unobservable:
/// never counted as matches or mismatches. AUTH: the recorded outcome of each attempt
/// (235 / 535) is taken as given.
public struct ConnectionReplayer: Sendable {
    public var options: ReplayOptions

    public init(options: ReplayOptions = ReplayOptions()) {
        self.options = options
    }

    /// Replays `dialogue` against `target` (nil: no listener takes it; `skipReason` says why).
    ///
    /// - Parameter clientName: the client's PTR name, or nil for none.
    public func replay(
        _ dialogue: Dialogue, target: ReplayTarget?, clientName: String?, skipReason: String? = nil
    ) -> ReplayedConnection {
        replay(dialogue, target: target, clientName: clientName, skipReason: skipReason, cache: nil)
    }

    /// See ``replay(_:target:clientName:skipReason:)``; with `cache`, a client's tcpserver
    /// decision is reused for its next connections (a thread's own cache).
    func replay(
        _ dialogue: Dialogue, target: ReplayTarget?, clientName: String?, skipReason: String?, cache: _ReplayAcceptCache?
    ) -> ReplayedConnection {
        var result = ReplayedConnection(
            index: dialogue.index, client: dialogue.client, server: dialogue.server, clientName: clientName,
            sourceFile: dialogue.sourceFile, sourcePacket: dialogue.sourcePacket, startTime: dialogue.startTime,
            listener: target?.name, disposition: .compared)
        // One return, of the variable filled in place: the result is moved out, not copied.
        fill(&result, dialogue, target: target, clientName: clientName, skipReason: skipReason, cache: cache)
        return result
    }

    private func fill(
        _ result: inout ReplayedConnection, _ dialogue: Dialogue, target: ReplayTarget?, clientName: String?,
        skipReason: String?, cache: _ReplayAcceptCache?
    ) {
        if !dialogue.problems.isEmpty { result.problems = dialogue.problems.map(\.message) }
        guard let target else {
            result.disposition = .skipped(reason: skipReason ?? "no listener takes connections to \(dialogue.server)")
            return
        }
        if dialogue.midstream {
            result.disposition = .skipped(
                reason: "the capture started after the connection opened: the server's state is unknown")
            return
        }
        var run = _DialogueRun(dialogue: dialogue, target: target, clientName: clientName, options: options, cache: cache)
        run.run(dialogue)
        result.reusedTCPServerDecision = run.reusedDecision
        if run.fast, !run.differences.isEmpty || !run.divergences.isEmpty {
            // The shortcut gives the same replies and outcomes but no explanations (its sessions
            // do not explain their decisions, nor name tcpserver's rule): replay it in full.
            // (A second run, not a reassignment: the common case's run is built in place.)
            var lookups = run.lookups
            var full = _DialogueRun(dialogue: dialogue, target: target, clientName: clientName, options: options, cache: nil)
            full.run(dialogue)
            lookups.add(full.lookups)
            result.lookups = lookups
            complete(&result, with: &full, dialogue: dialogue)
        } else {
            result.lookups = run.lookups
            complete(&result, with: &run, dialogue: dialogue)
        }
    }

    /// Moves a finished run's counts, differences and (when they matter) step details into `result`.
    private func complete(_ result: inout ReplayedConnection, with run: inout _DialogueRun, dialogue: Dialogue) {
        if options.countDecisions { result.decisions = DecisionCounts(session: run.session, denied: run.simulatedDenied) }
        run.counts.steps = dialogue.steps.count
        result.counts = run.counts
        result.differences = run.differences
        result.divergences = run.divergences
        if run.counts.compared == 0 && run.counts.connectionCompared == 0 {
            result.disposition = .unobservable(reason: _DialogueRun.unobservableReason(dialogue))
        }
        if options.keepAllSteps || result.isNotable {
            assert(!run.fast, "the fast path keeps no step records: such a connection is replayed in full")
            result.recordedGreeting = dialogue.greeting.map { Array($0.bytes) }
            result.simulatedGreeting = run.simulatedGreeting
            result.connectionDecision = run.session.connectionDecision
            result.steps = run.detailedSteps(dialogue)
        }
    }
}

/// One dialogue being replayed. The dialogue itself is handed to each method rather than
/// kept: a run mutates itself while it reads the dialogue's steps, so a dialogue it held would be
/// copied (with each step read).
struct _DialogueRun {
    /// A step's outcome, kept compact until details are needed.
    struct Record {
        var simulated: [UInt8]?
        var closed = false
        var decision: Decision?
        var stage: Stage?
        var status: ReplayStepStatus
        var afterDivergence: Bool
    }

    let options: ReplayOptions
    var session: RelaySession
    var simulatedGreeting: [UInt8] = []
    var counts = ReplayCounts()
    var differences: [ReplayDifference] = []
    var divergences: [ReplayDivergence] = []
    /// Each step's outcome, for ``detailedSteps(_:)``; not kept on the fast path (a connection
    /// whose details matter is replayed again in full).
    var records: [Record] = []

    /// Set once the rest of the connection cannot be replayed.
    var stop: String?
    /// Set once lost client data leaves the simulation's state unknown.
    var lost: String?
    var afterDivergence = false
    /// The simulation answered 354 to DATA / 334 to AUTH and waits for the client.
    var awaitsBody = false
    var awaitsAuth = false
    var lastTime: Double
    /// See ``closedFrom(_:)``.
    let closedFrom: Int?

    /// The session started after tcpserver, with a cached decision (see ``_ReplayAcceptCache``).
    var fast = false
    /// That decision had been made before, for an earlier connection of the client.
    var reusedDecision = false
    /// The rules lookups made for the cache (on its first sight of the client).
    var cacheLookups = CDBLookupRecorder()

    /// The cdb lookups made for this run of the connection.
    var lookups: SessionLookups {
        var lookups = session.lookups
        lookups.rules.add(cacheLookups)
        return lookups
    }

    /// The session a run starts from: renewed from the thread's cache for an allowed client
    /// (`fast`), else set up in full.
    private static func makeSession(
        dialogue: Dialogue, target: ReplayTarget, clientName: String?, options: ReplayOptions, cache: _ReplayAcceptCache?,
        timing: CDBLookupRecorder.Sampling?, cacheLookups: inout CDBLookupRecorder, reused: inout Bool, fast: inout Bool
    ) -> RelaySession {
        let clock = dialogue.startTime >= 1 ? Int64(dialogue.startTime) : target.configuration.clock
        let connection = ClientConnection(
            clientIP: dialogue.client.ip, clientPort: dialogue.client.port, serverIP: dialogue.server.ip,
            serverPort: dialogue.server.port, ptrName: clientName, serverName: target.serverName)
        if let cache, !options.keepAllSteps, target.configuration.auth == nil,
            let session = cache.session(
                for: connection, configuration: target.configuration, server: dialogue.server, clock: clock,
                lookupTiming: timing, recording: &cacheLookups, reused: &reused)
        {
            // The common case: a session set up once for the client, renewed (no configuration copy).
            fast = true
            return session
        }
        var configuration = target.configuration
        if clock != configuration.clock { configuration.clock = clock }
        if configuration.auth != nil {
            configuration.auth?.credentials = .recorded(_DialogueRun.authOutcomes(dialogue))
        }
        if let cache, !options.keepAllSteps,
            let environment = cache.environment(
                for: connection, configuration: configuration, server: dialogue.server, recording: &cacheLookups,
                reused: &reused)
        {
            fast = true
            var session = RelaySession(configuration: configuration, childEnvironment: environment, lookupTiming: timing)
            session.explainsDecisions = false
            return session
        }
        return RelaySession(configuration: configuration, connection: connection, lookupTiming: timing)
    }

    /// The outcome of each AUTH attempt that reached checkpassword in the recording.
    static func authOutcomes(_ dialogue: Dialogue) -> [Bool] {
        var outcomes: [Bool] = []
        for step in dialogue.steps where step.kind == .authResponse || _DialogueRun.isCommand(step, "AUTH") {
            switch step.reply.flatMap({ $0.code }) {
            case 235: outcomes.append(true)
            case 535: outcomes.append(false)
            default: break
            }
        }
        return outcomes
    }

    static func recordedDenied(_ dialogue: Dialogue) -> Bool {
        dialogue.greeting == nil && dialogue.end == .serverClosedSilently
    }

    var simulatedDenied: Bool { session.deniedByTCPServer }

    /// Why nothing of this connection could be compared.
    static func unobservableReason(_ dialogue: Dialogue) -> String {
        if dialogue.problems.contains(where: { $0.kind == .oneDirection }) {
            return "one direction only: no packets from the server were captured"
        }
        if let reason = dialogue.steps.lazy.compactMap(\.unobservable).first { return reason }
        if dialogue.greeting == nil { return "no reply from the server was captured" }
        return "nothing to compare"
    }

    // MARK: - Running

    mutating func run(_ dialogue: Dialogue) {
        if !fast { records.reserveCapacity(dialogue.steps.count) }
        simulatedGreeting = session.start()
        compareConnection(dialogue)
        for index in dialogue.steps.indices {
            take(index, of: dialogue)
        }
        if !session.isClosed { session.clientClosed() }
    }

    /// The greeting, or the silent close of a tcpserver deny, compared as the connection's decision.
    mutating func compareConnection(_ dialogue: Dialogue) {
        let denied = simulatedDenied
        if _DialogueRun.recordedDenied(dialogue) {
            counts.connectionCompared += 1
            guard !denied else { return }
            counts.connectionDiffers += 1
            differences.append(
                ReplayDifference(
                    step: nil, subject: "connection", change: .connectionAccepted,
                    recorded: _DialogueRun.deniedText, recordedOutcome: .deny,
                    simulated: ReplayReplies.text(simulatedGreeting), simulatedOutcome: connectionOutcome,
                    explanation: connectionExplanation))
            if !dialogue.steps.isEmpty {
                diverge(at: nil, "the recorded server dropped the connection at once; the simulation accepts it, but the capture holds nothing the client would have sent next")
                stop = "the recorded server dropped the connection"
            }
            return
        }
        guard let greeting = dialogue.greeting, greeting.isComplete else {
            // No greeting captured: a simulated deny still differs if the recorded server answered.
            if denied, dialogue.steps.contains(where: { $0.reply != nil }) {
                counts.connectionCompared += 1
                counts.connectionDiffers += 1
                differences.append(
                    ReplayDifference(
                        step: nil, subject: "connection", change: .connectionDenied,
                        recorded: "(the server answered the client's commands)", recordedOutcome: .accept,
                        simulated: _DialogueRun.deniedText, simulatedOutcome: .deny, explanation: connectionExplanation))
                diverge(at: nil, "the simulated tcpserver drops the connection: none of the client's steps is sent")
                stop = "the simulated tcpserver drops the connection"
            }
            return
        }
        counts.connectionCompared += 1
        if denied {
            counts.connectionDiffers += 1
            differences.append(
                ReplayDifference(
                    step: nil, subject: "connection", change: .connectionDenied, recorded: ReplayReplies.text(greeting.bytes),
                    recordedOutcome: .accept, simulated: _DialogueRun.deniedText, simulatedOutcome: .deny,
                    explanation: connectionExplanation))
            if !dialogue.steps.isEmpty {
                diverge(at: nil, "the simulated tcpserver drops the connection: none of the client's \(dialogue.steps.count) steps is sent")
                stop = "the simulated tcpserver drops the connection"
            }
            return
        }
        if !ReplayReplies.same(recorded: greeting.bytes, simulated: simulatedGreeting, options: options, greeting: true) {
            counts.connectionDiffers += 1
            differences.append(
                ReplayDifference(
                    step: nil, subject: "greeting", change: .reply, recorded: ReplayReplies.text(greeting.bytes),
                    recordedOutcome: ReplayReplies.outcome(ofCode: greeting.code),
                    simulated: ReplayReplies.text(simulatedGreeting),
                    simulatedOutcome: ReplayReplies.outcome(ofCode: ReplayReplies.code(simulatedGreeting)),
                    explanation: connectionExplanation))
        }
    }

    static let deniedText = "(connection closed without a byte: tcpserver deny)"

    var connectionOutcome: Decision.Outcome {
        let decision = session.connectionDecision
        if decision.tcpserver.outcome == .deny { return .deny }
        if let blocklist = decision.blocklist, blocklist.outcome != .accept { return blocklist.outcome }
        return decision.smtpd?.outcome ?? .accept
    }

    var connectionExplanation: [String] {
        let decision = session.connectionDecision
        var facts = decision.tcpserver.reasons
        if let blocklist = decision.blocklist { facts += blocklist.reasons }
        if let smtpd = decision.smtpd { facts += smtpd.reasons }
        return ReplayReplies.explanation(facts)
    }

    mutating func diverge(at step: Int?, _ reason: String) {
        counts.diverged += 1
        divergences.append(ReplayDivergence(step: step, reason: reason))
        afterDivergence = true
    }

    // MARK: - Steps

    mutating func record(
        _ status: ReplayStepStatus, simulated: [UInt8]? = nil, decision: Decision? = nil, stage: Stage? = nil, label: Bool
    ) {
        switch status {
        case .matched:
            counts.compared += 1
            counts.matched += 1
        case .differs:
            counts.compared += 1
            counts.differingSteps += 1
        case .unobservable: counts.unobservable += 1
        case .notReplayed: counts.notReplayed += 1
        }
        guard !fast else { return }
        records.append(
            Record(
                simulated: simulated, closed: session.isClosed, decision: decision, stage: stage, status: status,
                afterDivergence: label))
    }

    /// The first step from which on no step has a recorded reply because the recorded server
    /// had closed the connection (nil: it did not close first).
    static func closedFrom(_ dialogue: Dialogue) -> Int? {
        switch dialogue.end {
        case .serverClosed, .serverReset, .serverClosedSilently: break
        default: return nil
        }
        var first = dialogue.steps.count
        while first > 0, dialogue.steps[first - 1].reply == nil, dialogue.steps[first - 1].unobservableReason == nil {
            first -= 1
        }
        return first
    }

    mutating func take(_ index: Int, of dialogue: Dialogue) {
        let step = dialogue.steps[index]
        let number = index + 1
        let label = afterDivergence
        if let stop {
            record(.notReplayed(reason: stop), label: label)
            return
        }
        if let lost {
            record(.unobservable(reason: lost), label: label)
            return
        }
        let recordedClosed = closedFrom.map { index >= $0 } ?? false
        if session.isClosed {
            if recordedClosed {
                record(.notReplayed(reason: "sent after the server closed the connection"), label: label)
            } else {
                let remaining = dialogue.steps.count - index
                let why = "the simulated server closed the connection"
                diverge(at: number, "\(why) before step \(number): the client's remaining \(remaining) step\(remaining == 1 ? " is" : "s are") not sent")
                stop = why
                record(.notReplayed(reason: why), label: label)
            }
            return
        }
        if recordedClosed {
            let why = "the recorded server closed the connection"
            diverge(at: number, "\(why) before step \(number); the simulation keeps it open")
            stop = why
            record(.notReplayed(reason: why), label: label)
            return
        }
        switch step.kind {
        case .dataBody where !awaitsBody:
            record(.notReplayed(reason: "the simulation did not accept DATA, so the client would not have sent its message"), label: label)
            return
        case .authResponse where !awaitsAuth:
            record(.notReplayed(reason: "the simulation did not ask for AUTH credentials, so the client would not have sent them"), label: label)
            return
        default:
            break
        }
        // Time passes as it did in the capture (timeouts, rblsmtpd -t).
        if options.replayIdleTime {
            let gap = step.time - lastTime
            if gap >= 1 {
                _ = session.idle(seconds: gap)
                if session.isClosed {
                    let why = "the simulated server timed out during the client's \(Int(gap)) s pause"
                    diverge(at: number, "\(why) before step \(number)")
                    stop = why
                    record(.notReplayed(reason: why), label: label)
                    return
                }
            }
            if step.time > lastTime { lastTime = step.time }
        }
        if step.lostBytes > 0 {
            feedIncomplete(step, label: label)
            return
        }
        let before = session.exchanges.count
        let reply = session.receive(step.clientBytes)
        // The exchanges this step made, looked at in place: copying a decision (its reasons)
        // is left to the cases that keep it (details, differences).
        let after = session.exchanges.count
        var decisionAt: Int? = nil
        var cutAt: Int? = nil
        var position = before
        while position < after {
            if session.exchanges[position].decision != nil { decisionAt = position }
            if cutAt == nil, session.exchanges[position].truncation?.affectsOutcome == true { cutAt = position }
            position += 1
        }
        let stage = after > before ? session.exchanges[after - 1].stage : nil
        let closed = session.isClosed
        let simulatedCode = ReplayReplies.code(reply)
        awaitsBody = !closed && simulatedCode == 354
        awaitsAuth = !closed && simulatedCode == 334

        if let cutAt, let cut = session.exchanges[cutAt].truncation {
            // The engine kept only part of a line whose rest could change the answer (RelayLimits).
            let reason = "the line has \(cut.totalBytes) bytes, more than the simulation keeps (--max-line-length): its answer is not known"
            lost = "after a line longer than the simulation keeps, its state is not known"
            record(.unobservable(reason: reason), simulated: reply, decisionAt: decisionAt, stage: stage, label: label)
        } else if let reason = step.unobservable {
            record(.unobservable(reason: reason), simulated: reply, decisionAt: decisionAt, stage: stage, label: label)
        } else if step.reply != nil {
            // The recorded reply is read through `step.reply!` rather than bound: no copy of it.
            let challenge = _DialogueRun.isCommand(step, "AUTH") && _DialogueRun.isCramMD5(step.clientBytes)
            let same = step.reply!.isComplete
                && ReplayReplies.same(recorded: step.reply!.bytes, simulated: reply, options: options, challenge: challenge)
            compare(step, number: number, reply: reply, decisionAt: decisionAt, stage: stage, same: same, label: label)
        } else {
            record(
                .unobservable(reason: "no reply from the server was captured"), simulated: reply, decisionAt: decisionAt,
                stage: stage, label: label)
        }
        let next = index + 1 < dialogue.steps.count ? dialogue.steps[index + 1].kind : nil
        checkDecisionPoint(step, index: index, next: next, reply: simulatedCode)
    }

    /// ``record(_:simulated:decision:stage:label:)`` with the decision of the exchange at
    /// `decisionAt`, copied only when the record is kept.
    mutating func record(
        _ status: ReplayStepStatus, simulated: [UInt8], decisionAt: Int?, stage: Stage?, label: Bool
    ) {
        let decision = fast ? nil : decisionAt.flatMap { session.exchanges[$0].decision }
        record(status, simulated: simulated, decision: decision, stage: stage, label: label)
    }

    /// A step some of whose client bytes were not captured: fed as far as known only when the
    /// simulation's state afterwards is still known (a message), never compared.
    mutating func feedIncomplete(_ step: DialogueStep, label: Bool) {
        let reason = step.unobservable ?? "lost segment: \(step.lostBytes) bytes of client data were not captured"
        if step.kind == .dataBody {
            let before = session.exchanges.count
            var reply = session.receive(step.clientBytes)
            if session.exchanges.count == before, !session.isClosed {
                // The end of the message was lost: end it, so that the next command is a command.
                reply += session.receive(Array("\r\n.\r\n".utf8))
            }
            awaitsBody = false
            awaitsAuth = false
            record(.unobservable(reason: reason), simulated: reply, label: label)
            return
        }
        lost = "after lost client data the simulation cannot know what the server saw"
        record(.unobservable(reason: reason), label: label)
    }

    mutating func compare(
        _ step: DialogueStep, number: Int, reply: [UInt8], decisionAt: Int?, stage: Stage?, same: Bool, label: Bool
    ) {
        let isRcpt = _DialogueRun.isCommand(step, "RCPT")
        let recordedOutcome = ReplayReplies.outcome(ofCode: step.reply!.code)
        let simulatedOutcome =
            decisionAt.flatMap { session.exchanges[$0].decision?.outcome } ?? ReplayReplies.outcome(ofCode: ReplayReplies.code(reply))
        let changed = !ReplayReplies.sameClass(recordedOutcome, simulatedOutcome)
        if isRcpt {
            counts.rcptCompared += 1
            if changed { counts.rcptChanged += 1 }
        }
        guard !same else {
            record(.matched, simulated: reply, decisionAt: decisionAt, stage: stage, label: label)
            return
        }
        let decision = decisionAt.flatMap { session.exchanges[$0].decision }
        var change = ReplayChange.reply
        var domain: String? = nil
        if isRcpt {
            let address = decision?.address ?? ReplayReplies.address(ofCommand: step.line)
            domain = ReplayReplies.domain(ofAddress: address)
            if changed {
                switch simulatedOutcome {
                case .refuse?: change = .recipientRefused
                case .tempfail?: change = .recipientDeferred
                case .relay?: change = .recipientRelayed
                case .accept?: change = .recipientAccepted
                default: change = .reply
                }
            }
        }
        if step.kind == .dataBody, changed {
            switch simulatedOutcome {
            case .refuse?, .tempfail?: change = .messageRefused
            case .accept?: change = .messageAccepted
            default: break
            }
        }
        var simulatedText = ReplayReplies.text(reply)
        if reply.isEmpty { simulatedText = session.isClosed ? "(no reply: the connection is closed)" : "(no reply)" }
        differences.append(
            ReplayDifference(
                step: number, subject: step.line, change: change, domain: domain, recorded: ReplayReplies.text(step.reply!.bytes),
                recordedOutcome: recordedOutcome, simulated: simulatedText, simulatedOutcome: simulatedOutcome,
                explanation: ReplayReplies.explanation((decision?.reasons ?? []) + ruleFacts(for: decision)),
                afterDivergence: label))
        record(.differs, simulated: reply, decision: decision, stage: stage, label: label)
    }

    /// For a recipient decision, tcpserver's rule (and the RELAYCLIENT it set), unless the
    /// decision already names them: they say why the client may or may not relay.
    func ruleFacts(for decision: Decision?) -> [Fact] {
        guard let decision, decision.subject == .rcpt else { return [] }
        let own = Set(decision.reasons)
        return session.connectionDecision.tcpserver.reasons.filter { fact in
            switch fact.kind {
            case .ruleMatched, .noRuleMatched: !own.contains(fact)
            case .ruleSetVariable(let name, _), .inheritedVariable(let name, _): name == "RELAYCLIENT" && !own.contains(fact)
            default: false
            }
        }
    }

    /// DATA and AUTH are where a client waits for the answer before going on.
    /// `next`: the kind of the dialogue's next step, if any.
    mutating func checkDecisionPoint(_ step: DialogueStep, index: Int, next: DialogueStep.Kind?, reply simulatedCode: Int?) {
        guard !session.isClosed else { return }
        let isData = _DialogueRun.isCommand(step, "DATA")
        guard isData || step.kind == .authResponse || _DialogueRun.isCommand(step, "AUTH") else { return }
        let number = index + 1
        let recordedCode = step.reply?.code
        var shown: String { simulatedCode.map(String.init) ?? "no reply" }
        if isData {
            let recordedGoAhead = next == .dataBody || recordedCode == 354
            if recordedGoAhead && !awaitsBody {
                diverge(at: number, "DATA: the recording got 354, the simulation answers \(shown): the client's message is not sent")
            } else if !recordedGoAhead && awaitsBody && (recordedCode != nil || next != nil) {
                let why = "DATA: the simulation answers 354 where the recording got \(recordedCode.map(String.init) ?? "no 354"); the capture holds no message for it"
                diverge(at: number, why + ", so the rest of the connection is not replayed")
                stop = "the simulation accepted DATA, but the capture holds no message"
            }
        } else {
            let recordedPrompt = next == .authResponse || recordedCode == 334
            if recordedPrompt && !awaitsAuth {
                diverge(at: number, "AUTH: the recording got 334, the simulation answers \(shown): the client's remaining AUTH responses are not sent")
            } else if !recordedPrompt && awaitsAuth && (recordedCode != nil || next != nil) {
                diverge(at: number, "AUTH: the simulation asks for credentials (334) the capture does not hold, so the rest of the connection is not replayed")
                stop = "the simulation asked for AUTH credentials the capture does not hold"
            }
        }
    }

    /// Whether `step` is a command line with this (upper-case, four-letter) verb, compared
    /// case-insensitively on the bytes, as qmail-smtpd reads it.
    static func isCommand(_ step: DialogueStep, _ verb: StaticString) -> Bool {
        guard step.kind == .command else { return false }
        let bytes = step.clientBytes
        let letters = verb.utf8Start  // an ASCII literal: its bytes, no closure needed
        let count = verb.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        var index = bytes.startIndex
        for offset in 0..<count {
            guard bytes[index] & 0xDF == letters[offset] else { return false }
            index += 1
        }
        if index == bytes.endIndex { return true }
        let next = bytes[index]
        return next == 32 || next == 13 || next == 10 || next == 0
    }

    /// `AUTH CRAM-MD5` (case-insensitive).
    static func isCramMD5(_ bytes: ArraySlice<UInt8>) -> Bool {
        let words = bytes.split(whereSeparator: { $0 == 32 || $0 == 13 || $0 == 10 })
        guard words.count >= 2 else { return false }
        return String(decoding: words[1], as: UTF8.self).uppercased() == "CRAM-MD5"
    }

    // MARK: - Details

    func detailedSteps(_ dialogue: Dialogue) -> [ReplayedStep] {
        var steps: [ReplayedStep] = []
        steps.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            let step = dialogue.steps[index]
            steps.append(
                ReplayedStep(
                    number: index + 1, kind: step.kind, verb: step.verb, line: step.line,
                    clientBytes: step.holdsCredentials ? nil : Array(step.clientBytes),
                    recorded: step.reply.map { Array($0.bytes) }, simulated: record.simulated,
                    simulatedClosed: record.closed, decision: record.decision, stage: record.stage, status: record.status,
                    afterDivergence: record.afterDivergence))
        }
        return steps
    }
}

extension _DialogueRun {
    /// Declared in an extension, so that it can end with the memberwise initializer: a run
    /// built field by field was copied and destroyed whole (callgrind). Inlined into `replay`:
    /// 1.1 k fewer instructions per connection.
    @inline(__always)
    init(dialogue: Dialogue, target: ReplayTarget, clientName: String?, options: ReplayOptions, cache: _ReplayAcceptCache?) {
        let timing =
            options.lookupSampleEvery > 0
            ? CDBLookupRecorder.Sampling(every: options.lookupSampleEvery, phase: dialogue.index) : nil
        var cacheLookups = CDBLookupRecorder(sampling: timing)
        var reused = false
        var fast = false
        let session = _DialogueRun.makeSession(
            dialogue: dialogue, target: target, clientName: clientName, options: options, cache: cache, timing: timing,
            cacheLookups: &cacheLookups, reused: &reused, fast: &fast)
        self.init(
            options: options, session: session, lastTime: dialogue.startTime, closedFrom: _DialogueRun.closedFrom(dialogue),
            fast: fast, reusedDecision: reused, cacheLookups: cacheLookups)
    }
}

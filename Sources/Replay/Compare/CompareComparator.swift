import Capture
import RelayEngine
import Scenarios

/// One side's session of a connection, in the form the comparison needs (built from a replayed
/// capture connection or from a scenario connection's result).
struct _CompareRun: Sendable {
    /// One client step of the session.
    struct Step: Sendable {
        /// Steps of the two sides with the same group and ordinal, kind and client bytes are the
        /// same client step: for a capture the group is the step's number; for a scenario, the
        /// scenario step (several exchanges may come from one).
        var group: Int
        var ordinal: Int
        var number: Int
        var kind: StepResult.Kind
        var client: [UInt8]
        var subject: String
        /// Whether the client sent it to this side (after a divergence it may not have).
        var fed: Bool
        var reply: [UInt8]
        var closed: Bool
        var decision: Decision?
        /// The explanation (the decision's facts; rblsmtpd's for its answers).
        var reasons: [Fact]
        /// Why the step was not sent, when it was not.
        var notSent: String?
    }

    /// Why this side did not run the connection (no listener), nil when it did.
    var skipped: String?
    var listener: String?
    /// tcpserver let the client in.
    var allowed = true
    /// rblsmtpd's word (`pass`, `refuse`, `tempfail`, `deny`), nil when not in the chain.
    var blocklist: String?
    /// tcpserver's, rblsmtpd's and qmail-smtpd's start facts.
    var connectionReasons: [Fact] = []
    var greeting: [UInt8] = []
    var steps: [Step] = []
    /// Points where this side left the recorded path (captures), in words.
    var divergences: [String] = []
    /// The session in the shared report model.
    var result: ConnectionResult?

    /// The facts that say why a client may (not) relay: the rule, RELAYCLIENT (and RBLSMTPD)
    /// set by it or inherited.
    var ruleFacts: [Fact] { connectionFacts(about: ["RELAYCLIENT", "RBLSMTPD"]) }

    /// The rule and where a message size limit (DATABYTES) comes from.
    var sizeFacts: [Fact] { connectionFacts(about: ["DATABYTES"]) }

    func connectionFacts(about variables: Set<String>) -> [Fact] {
        connectionReasons.filter { fact in
            switch fact.kind {
            case .ruleMatched, .noRuleMatched, .noRules, .rulesMissing: true
            case .ruleSetVariable(let name, _): variables.contains(name)
            case .inheritedVariable(let name, _): variables.contains(name)
            default: false
            }
        }
    }

    var blocklistFacts: [Fact] {
        connectionReasons.filter { fact in
            switch fact.kind {
            case .rblsmtpdVariable, .notListed, .listed, .antiListed, .lookupFailed: true
            default: false
            }
        }
    }

    init() {}

    /// A side that did not run the connection.
    static func skipped(_ reason: String) -> _CompareRun {
        var run = _CompareRun()
        run.skipped = reason
        run.allowed = false
        return run
    }

    /// A replayed captured connection (replayed with every step kept).
    init(replayed: ReplayedConnection, suite: String) {
        if case .skipped(let reason) = replayed.disposition {
            self = .skipped(reason)
            return
        }
        let result = replayed.connectionResult(suite: suite)
        self.result = result
        listener = replayed.listener
        allowed = result.connection.decision != "deny"
        blocklist = result.connection.blocklist
        connectionReasons = result.connection.reasons
        greeting = replayed.simulatedGreeting ?? []
        divergences = replayed.divergences.map { divergence in
            (divergence.step.map { "at step \($0): " } ?? "") + divergence.reason
        }
        let blocklistFacts = self.blocklistFacts
        steps = replayed.steps.map { step in
            var notSent: String? = nil
            switch step.status {
            case .notReplayed(let reason): notSent = reason
            case .unobservable(let reason) where step.simulated == nil: notSent = reason
            default: break
            }
            var reasons = ReplayReplies.redacted(step.decision?.reasons ?? [])
            if reasons.isEmpty, step.stage == .rblsmtpd { reasons = blocklistFacts }
            return Step(
                group: step.number, ordinal: 0, number: step.number, kind: ReplayedConnection.kind(step),
                client: step.clientBytes ?? [], subject: step.line, fed: step.simulated != nil, reply: step.simulated ?? [],
                closed: step.simulatedClosed, decision: step.decision, reasons: reasons, notSent: notSent)
        }
    }

    /// A scenario connection's result (every step the client sent, in order).
    init(scenario result: ConnectionResult) {
        self.result = result
        listener = result.listener
        allowed = result.connection.decision != "deny"
        blocklist = result.connection.blocklist
        connectionReasons = result.connection.reasons
        greeting = result.steps.first(where: { $0.kind == .greeting })?.replyBytes ?? []
        var groups: [FilePosition?] = []
        var ordinals: [Int: Int] = [:]
        for step in result.steps where step.kind != .greeting && step.kind != .none {
            var group = groups.firstIndex(of: step.position) ?? -1
            if group < 0 {
                groups.append(step.position)
                group = groups.count - 1
            }
            let ordinal = ordinals[group, default: 0]
            ordinals[group] = ordinal + 1
            var decision: Decision? = nil
            if let word = step.decision, let outcome = Decision.Outcome(rawValue: word) {
                decision = Decision(
                    step.subject.flatMap(Decision.Subject.init(rawValue:)) ?? .helo, outcome, reasons: step.reasons)
            }
            steps.append(
                Step(
                    group: group, ordinal: ordinal, number: step.index, kind: step.kind, client: step.client,
                    subject: step.clientText, fed: true, reply: step.replyBytes, closed: step.closed, decision: decision,
                    reasons: ReplayReplies.redacted(step.reasons), notSent: nil))
        }
    }
}

/// Compares the two sides' sessions of one connection.
enum _CompareComparator {
    static func compare(_ baseline: _CompareRun, _ candidate: _CompareRun, into connection: inout ComparedConnection) {
        connection.baselineListener = baseline.listener
        connection.candidateListener = candidate.listener
        connection.baselineResult = baseline.result
        connection.candidateResult = candidate.result
        if let reason = baseline.skipped, candidate.skipped != nil {
            connection.skipped = reason
            return
        }
        // The connection: tcpserver (or no listener at all), rblsmtpd, the greeting.
        if baseline.allowed != candidate.allowed {
            connection.differences.append(
                CompareDifference(
                    step: nil, subject: "connection", change: candidate.allowed ? .connectionAllowed : .connectionDenied,
                    baseline: connectionAnswer(baseline), candidate: connectionAnswer(candidate),
                    causes: causes(baseline.connectionFacts(about: []), candidate.connectionFacts(about: []))))
            let closed = candidate.allowed ? CompareSideName.baseline : .candidate
            connection.notes.append("the \(closed.rawValue)'s tcpserver drops the connection, so the client sends it nothing")
            return
        }
        if !baseline.allowed { return }
        if (baseline.blocklist ?? "pass") != (candidate.blocklist ?? "pass") {
            connection.differences.append(
                CompareDifference(
                    step: nil, subject: "rblsmtpd", change: .blocklist,
                    baseline: blocklistAnswer(baseline), candidate: blocklistAnswer(candidate),
                    causes: causes(
                        baseline.connectionFacts(about: ["RBLSMTPD"]) + baseline.blocklistFacts,
                        candidate.connectionFacts(about: ["RBLSMTPD"]) + candidate.blocklistFacts)))
        } else if !ReplayReplies.same(recorded: baseline.greeting[...], simulated: candidate.greeting, options: ReplayOptions()) {
            connection.differences.append(
                CompareDifference(
                    step: nil, subject: "greeting", change: .reply,
                    baseline: CompareAnswer(reply: text(baseline.greeting, closed: false), outcome: outcome(baseline.greeting), explanation: baseline.connectionReasons),
                    candidate: CompareAnswer(reply: text(candidate.greeting, closed: false), outcome: outcome(candidate.greeting), explanation: candidate.connectionReasons),
                    causes: causes(baseline.connectionReasons, candidate.connectionReasons)))
        }

        // The client's steps, paired.
        var candidateIndex: [Key: Int] = [:]
        for (index, step) in candidate.steps.enumerated() { candidateIndex[Key(step)] = index }
        var paired = Set<Int>()
        for step in baseline.steps {
            guard let index = candidateIndex[Key(step)] else {
                if step.fed { connection.notes.append(oneSided(step, sentTo: .baseline, other: candidate)) }
                continue
            }
            paired.insert(index)
            let other = candidate.steps[index]
            switch (step.fed, other.fed) {
            case (true, true):
                connection.stepsCompared += 1
                if step.decision?.subject == .rcpt || other.decision?.subject == .rcpt { connection.rcptCompared += 1 }
                if let difference = compare(step, baseline, other, candidate) { connection.differences.append(difference) }
            case (true, false):
                // A captured step the replay did not send says why in its divergence note.
                if other.notSent == nil { connection.notes.append(oneSided(step, sentTo: .baseline, other: candidate)) }
            case (false, true):
                if step.notSent == nil { connection.notes.append(oneSided(other, sentTo: .candidate, other: baseline)) }
            case (false, false):
                break
            }
        }
        for (index, step) in candidate.steps.enumerated() where !paired.contains(index) && step.fed {
            connection.notes.append(oneSided(step, sentTo: .candidate, other: baseline))
        }
        // Capture divergences from the recorded path that only one side took.
        for side in CompareSideName.allCases {
            let run = side == .baseline ? baseline : candidate
            let other = side == .baseline ? candidate : baseline
            for divergence in run.divergences where !other.divergences.contains(divergence) {
                connection.notes.append("\(side.rawValue) \(divergence)")
            }
        }
    }

    struct Key: Hashable {
        var group: Int
        var ordinal: Int
        var kind: StepResult.Kind
        var client: [UInt8]

        init(_ step: _CompareRun.Step) {
            group = step.group
            ordinal = step.ordinal
            kind = step.kind
            client = step.client
        }
    }

    /// The difference between two sides' answers to the same client step, if any.
    static func compare(_ lhs: _CompareRun.Step, _ left: _CompareRun, _ rhs: _CompareRun.Step, _ right: _CompareRun) -> CompareDifference? {
        let baselineOutcome = lhs.decision?.outcome ?? outcome(lhs.reply)
        let candidateOutcome = rhs.decision?.outcome ?? outcome(rhs.reply)
        let sameReply =
            lhs.closed == rhs.closed && ReplayReplies.same(recorded: lhs.reply[...], simulated: rhs.reply, options: ReplayOptions())
        if baselineOutcome == candidateOutcome && sameReply { return nil }
        let isRcpt = lhs.decision?.subject == .rcpt || rhs.decision?.subject == .rcpt || lhs.subject.uppercased().hasPrefix("RCPT")
        var change = CompareChange.reply
        var domain: String? = nil
        if isRcpt {
            domain = ReplayReplies.domain(
                ofAddress: rhs.decision?.address ?? lhs.decision?.address ?? ReplayReplies.address(ofCommand: lhs.subject))
        }
        if baselineOutcome != candidateOutcome {
            if isRcpt {
                switch candidateOutcome {
                case .refuse?: change = .recipientRefused
                case .tempfail?: change = .recipientDeferred
                case .relay?: change = .recipientRelayed
                case .accept?: change = .recipientAccepted
                default: change = .reply
                }
            } else if lhs.kind == .message {
                switch candidateOutcome {
                case .refuse?, .tempfail?: change = .messageRefused
                case .accept?: change = .messageAccepted
                default: change = .reply
                }
            }
        }
        // A RCPT decision also depends on the rule and the variables it set; a message's size
        // limit may come from DATABYTES; MAIL and AUTH depend on SMTPAUTH.
        func context(_ run: _CompareRun) -> [Fact] {
            if isRcpt { return run.ruleFacts }
            if lhs.kind == .message { return run.sizeFacts }
            if lhs.decision?.subject == .mail || rhs.decision?.subject == .mail || lhs.decision?.subject == .auth
                || rhs.decision?.subject == .auth
            {
                return run.connectionFacts(about: ["SMTPAUTH"])
            }
            return []
        }
        let leftFacts = lhs.reasons + context(left).filter { !lhs.reasons.contains($0) }
        let rightFacts = rhs.reasons + context(right).filter { !rhs.reasons.contains($0) }
        return CompareDifference(
            step: lhs.number, candidateStep: rhs.number, subject: lhs.subject, change: change, domain: domain,
            baseline: CompareAnswer(reply: text(lhs.reply, closed: lhs.closed), outcome: baselineOutcome, explanation: leftFacts),
            candidate: CompareAnswer(reply: text(rhs.reply, closed: rhs.closed), outcome: candidateOutcome, explanation: rightFacts),
            causes: causes(leftFacts, rightFacts))
    }

    /// The facts one side has and the other has not (compared without their source, since the
    /// two configurations' files usually have different paths) that point at the configuration:
    /// a rule, a variable, a control file or entry. One fact per side and rule line (the rule
    /// first, then the variable it sets). When no such fact differs, the others.
    static func causes(_ baseline: [Fact], _ candidate: [Fact]) -> [CompareCause] {
        let baselineTexts = Set(baseline.map(\.text))
        let candidateTexts = Set(candidate.map(\.text))
        var oneSided: [CompareCause] = []
        for fact in baseline where !candidateTexts.contains(fact.text) { oneSided.append(CompareCause(side: .baseline, fact: fact)) }
        for fact in candidate where !baselineTexts.contains(fact.text) { oneSided.append(CompareCause(side: .candidate, fact: fact)) }
        let configuration = oneSided.filter { pointsAtConfiguration($0.fact) }
        guard !configuration.isEmpty else { return unique(oneSided) }
        var best: [String: CompareCause] = [:]
        var order: [String] = []
        for cause in configuration {
            let key: String
            if let source = cause.fact.source, source.line != nil {
                key = "\(cause.side.rawValue) \(source)"
            } else {
                key = cause.description
            }
            if let kept = best[key] {
                if rank(cause.fact) < rank(kept.fact) { best[key] = cause }
            } else {
                best[key] = cause
                order.append(key)
            }
        }
        return order.map { best[$0]! }
    }

    static func unique(_ causes: [CompareCause]) -> [CompareCause] {
        var seen: Set<String> = []
        return causes.filter { seen.insert($0.description).inserted }
    }

    /// Whether a fact names something in the configuration (rather than the message or client).
    static func pointsAtConfiguration(_ fact: Fact) -> Bool {
        switch fact.kind {
        case .ruleMatched, .noRuleMatched, .noRules, .rulesMissing, .ruleSetVariable, .inheritedVariable, .tcpserverNote,
            .rblsmtpdVariable, .notListed, .listed, .antiListed, .lookupFailed, .rblsmtpdTimeLimit,
            .controlUnreadable, .controlsMissing, .morercpthostsDamaged,
            .relayClient, .rcpthostsMissing, .rcpthostsEntry, .morercpthostsKey, .notInRcpthosts, .badmailfrom,
            .authenticationRequired, .declaredSizeTooLarge, .messageTooLarge, .authNotAvailable, .idleTimeout:
            true
        default:
            false
        }
    }

    /// Which fact of one rule line names it best: the rule, then the variable it sets.
    static func rank(_ fact: Fact) -> Int {
        switch fact.kind {
        case .ruleMatched: 0
        case .ruleSetVariable: 1
        default: 2
        }
    }

    static func outcome(_ reply: [UInt8]) -> Decision.Outcome? {
        ReplayReplies.outcome(ofCode: ReplayReplies.code(reply))
    }

    static func text(_ reply: [UInt8], closed: Bool) -> String {
        if reply.isEmpty { return closed ? "(no reply: the connection is closed)" : "(no reply)" }
        return ReplayReplies.text(reply)
    }

    static func connectionAnswer(_ run: _CompareRun) -> CompareAnswer {
        if let reason = run.skipped {
            return CompareAnswer(reply: "(not taken: \(reason))", outcome: .deny, explanation: [])
        }
        if !run.allowed {
            return CompareAnswer(reply: "(connection closed without a byte: tcpserver deny)", outcome: .deny, explanation: run.connectionReasons)
        }
        return CompareAnswer(reply: text(run.greeting, closed: false), outcome: .accept, explanation: run.connectionReasons)
    }

    static func blocklistAnswer(_ run: _CompareRun) -> CompareAnswer {
        let word = run.blocklist ?? "pass"
        let outcome: Decision.Outcome
        let reply: String
        switch word {
        case "refuse":
            outcome = .refuse
            reply = "(rblsmtpd refuses every recipient: 553)"
        case "tempfail":
            outcome = .tempfail
            reply = "(rblsmtpd refuses every recipient temporarily: 451)"
        case "deny":
            outcome = .deny
            reply = "(rblsmtpd drops the connection)"
        default:
            outcome = .accept
            reply = run.blocklist == nil ? "(no rblsmtpd in the chain: qmail-smtpd answers)" : "(rblsmtpd passes the client on to qmail-smtpd)"
        }
        return CompareAnswer(reply: reply, outcome: outcome, explanation: run.connectionReasons)
    }

    /// A note for a step only one side was sent (scenario sessions that took different paths).
    static func oneSided(_ step: _CompareRun.Step, sentTo side: CompareSideName, other: _CompareRun) -> String {
        let why: String
        let closedBefore = other.steps.contains { earlier in
            earlier.fed && earlier.closed && (earlier.group, earlier.ordinal) < (step.group, step.ordinal)
        }
        if closedBefore {
            why = "its server had closed the connection"
        } else {
            switch step.kind {
            case .message: why = "its server did not accept DATA, so the client would not send the message"
            case .authResponse: why = "its server did not ask for AUTH credentials"
            default: why = "its session took another path"
            }
        }
        return "step \(step.number) \(step.subject) went to the \(side.rawValue) only; the \(side.other.rawValue)'s client did not send it: \(why)"
    }
}

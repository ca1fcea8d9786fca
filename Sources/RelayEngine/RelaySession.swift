public import CDB
import TCPRules

/// One client connection through the simulated chain `tcpserver → [rblsmtpd →] qmail-smtpd`:
/// a pure, synchronous state machine fed with the client's bytes.
///
/// ```swift
/// var session = RelaySession(configuration: config, connection: ClientConnection(clientIP: "203.0.113.9"))
/// var output = session.start()                                   // "220 mx.example.net ESMTP\r\n"
/// output += session.receive(Array("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@elsewhere.example>\r\n".utf8))
/// session.exchanges.last?.decision                               // rcpt …: refuse: domain … not in rcpthosts
/// ```
///
/// Feeding the same bytes in any chunking (one byte at a time, line by line, or the whole
/// pipelined session at once) gives the same output, exchanges and decisions, as with the real
/// programs. Nothing sleeps and nothing reads a clock: time passes only through
/// ``idle(seconds:)`` (and the 5-second AUTH failure pause, which is recorded, not slept).
public struct RelaySession: Sendable {
    /// How the session ended.
    public enum Ending: String, Sendable, Hashable, Codable {
        /// tcpserver closed the connection without running anything.
        case denied
        /// The client sent QUIT.
        case quit
        /// The client closed its side.
        case clientClosed = "client-closed"
        /// The program hung up after a final reply (421, 451 for a bare LF, rblsmtpd -t0).
        case hangUp = "hang-up"
        /// Idle too long (qmail-smtpd 451, or rblsmtpd's -t limit).
        case timeout
    }

    /// The configuration simulated.
    public var configuration: RelayConfiguration { setup.configuration }
    /// The connection, when the session started at tcpserver.
    public var connection: ClientConnection? { setup.connection }
    /// How tcpserver and rblsmtpd handled the connection (tcpserver's facts are put into words
    /// when this is read, not for every connection).
    public var connectionDecision: ConnectionDecision {
        var environment = setup.childVariables.dictionary
        if let (old, new) = clientPortChange {
            for name in ["TCPREMOTEPORT", "TCP6REMOTEPORT"] where environment[name] == old { environment[name] = new }
        }
        var decision = ConnectionDecision(
            tcpserver: tcpserverDecision, environment: environment, blocklist: blocklistDecision,
            smtpd: smtpdDecision)
        decision.ruleKey = setup.ruleKey
        decision.ruleSource = setup.ruleSource
        return decision
    }

    /// rblsmtpd's decision (``connectionDecision``'s `blocklist`), without building the rest.
    public var blocklist: Decision? { blocklistDecision }

    /// Whether tcpserver dropped the connection (``connectionDecision``'s tcpserver outcome is
    /// `deny`), without putting tcpserver's facts into words.
    public var deniedByTCPServer: Bool { setup.denied }

    /// What is fixed when the session is made, shared by reference between copies of a
    /// session (a copy then costs one reference count for all of it). Where the programs'
    /// environment came from is one of: tcpserver's answer for the connection (`outcome`, with
    /// tcpserver's own environment, `inherited`); a connection tcpserver could not have accepted
    /// (`impossible`: not an IP address); or an environment given
    /// (`init(configuration:childEnvironment:)`: none of the three).
    final class Setup: Sendable {
        let configuration: RelayConfiguration
        let connection: ClientConnection?
        /// tcpserver's answer, when the session started at tcpserver.
        let outcome: TCPServerOutcome?
        /// tcpserver's own environment, when the session started at tcpserver.
        let inherited: [String: String]
        /// Why tcpserver could not have accepted the connection.
        let impossible: String?
        /// The programs' environment (as tcpserver puts it together, or as given).
        let childVariables: TCPServerEnvironment
        /// Whether tcpserver dropped the connection.
        let denied: Bool
        /// The key of the rule that matched, and where the rule is written.
        let ruleKey: String?
        let ruleSource: SourceLocation?

        init(
            configuration: RelayConfiguration, connection: ClientConnection?, outcome: TCPServerOutcome? = nil,
            inherited: [String: String] = [:], impossible: String? = nil, childVariables: TCPServerEnvironment
        ) {
            self.configuration = configuration
            self.connection = connection
            self.outcome = outcome
            self.inherited = inherited
            self.impossible = impossible
            self.childVariables = childVariables
            self.denied = impossible != nil || outcome?.allowed == false
            if let match = outcome?.match {
                ruleKey = match.key
                ruleSource = match.path.map { SourceLocation(file: $0, line: match.line) }
            } else {
                ruleKey = nil
                ruleSource = nil
            }
        }
    }

    let setup: Setup
    /// Set by ``renewed(clientPort:clock:lookupTiming:)``: the client's port in
    /// the programs' environment and the one this connection has.
    var clientPortChange: (old: String, new: String)? = nil
    /// The unix time at the start of the connection (the configuration's clock, unless renewed).
    var startClock: Int64
    var blocklistDecision: Decision?
    var smtpdDecision: Decision?
    /// Every step so far, in order.
    public private(set) var exchanges: [Exchange] = []
    /// Messages qmail-queue accepted.
    public private(set) var envelopes: [QueuedMessage] = []
    /// Whether the real program would have closed the connection.
    public private(set) var isClosed = false
    /// How the session ended (nil while open).
    public private(set) var ending: Ending?
    /// The exit status of tcpserver's child (100 for a deny, as tcpserver logs it; 111 when
    /// tcpserver drops the connection because its rules cannot be read).
    public private(set) var exitStatus: Int32?
    /// Simulated seconds since the connection opened (idle time plus program pauses).
    public private(set) var elapsed: Double = 0

    /// Whether qmail-smtpd's decisions for the usual commands (HELO, MAIL, RCPT, the message)
    /// carry their address and reasons (default). When false, they keep only what was decided
    /// (subject and outcome): replies, closing and every other part of the session are the
    /// same. For callers that look at outcomes only and run a session again in full when they
    /// need its explanations (`relaylab replay`'s connections whose replies all match, and
    /// `relaylab check`'s connections shown as one line when no expectation reads a reason).
    public var explainsDecisions = true {
        didSet { if smtpd != nil { smtpd!.explains = explainsDecisions } }
    }

    /// qmail-smtpd, when it runs.
    var smtpd: SMTPDStage?
    /// rblsmtpd, when it blocks the client.
    var rbl: RBLSMTPDStage?
    var started = false {
        didSet { if started { exchanges.reserveCapacity(12) } }
    }
    /// The line being received: at most `limits.maxLineLength` bytes of it; the rest is counted
    /// in `pendingDropped`, and `pendingLastByte` says whether a CR came right before the LF.
    var pendingLine: [UInt8] = []
    var pendingDropped = 0
    var pendingLastByte: UInt8 = 0
    /// Dropped bytes before the first NUL among them (qmail-smtpd reads the line as a C string).
    var pendingDroppedBeforeNUL = 0
    var pendingDroppedNUL = false
    /// The message being received (its kept part) and the bytes not kept.
    var pendingBody: [UInt8] = []
    var pendingBodyDropped = 0
    var idleTime: Double = 0
    /// tcpserver's rules lookups for this connection (see ``lookups``).
    var rulesLookups = CDBLookupRecorder()

    /// Client bytes the session holds while it waits for a line end or the end of a message:
    /// never more than ``RelayLimits/maxLineLength`` plus twice ``RelayLimits/maxMessageBytes``
    /// (the step's bytes and the message as qmail-queue would get it), however much the client
    /// sends.
    public var bufferedClientBytes: Int {
        pendingLine.count + pendingBody.count + (smtpd?.body.count ?? 0)
    }

    /// Warnings about the configuration (control files and rules).
    public var warnings: [ConfigurationWarning] {
        var result = configuration.control.warnings
        if let rules = configuration.rules, let failure = rules.readFailure {
            let note =
                failure.isMissingFile && configuration.tcpserver.allowMissingRules
                ? "tcpserver's rules file is missing; -X lets every client in"
                : "tcpserver cannot read its rules (\(failure.message)): every connection is dropped"
            result.append(ConfigurationWarning(.rulesMissing, note, source: SourceLocation(file: rules.path)))
        }
        return result
    }

    /// The unix time the programs see now.
    public var now: Int64 { startClock + Int64(elapsed.rounded(.down)) }

    // MARK: - Creating a session

    /// A connection arriving at tcpserver.
    ///
    /// A client or server address that is not an IP address cannot reach a real tcpserver; the
    /// session is then denied, with a fact saying why.
    ///
    /// - Parameter lookupTiming: time one cdb lookup in N (see ``lookups``); nil: only count them.
    public init(
        configuration: RelayConfiguration, connection: consuming ClientConnection,
        lookupTiming: CDBLookupRecorder.Sampling? = nil
    ) {
        // The connection and tcpserver's answer move into the set-up last, once read: each
        // copy of them would cost a reference count per field.
        self.startClock = configuration.clock
        // Read through a method of the connection: field by field from the parameter, each
        // read copied the whole connection.
        let tcpConnection = connection.tcpServerConnection
        var inherited = configuration.environment
        connection.addExtraEnvironment(to: &inherited)
        let outcome: TCPServerOutcome
        rulesLookups = CDBLookupRecorder(sampling: lookupTiming)
        do {
            outcome = try TCPServer.accept(
                tcpConnection, options: configuration.tcpserver, rules: configuration.rules,
                inheritedEnvironment: inherited, recording: &rulesLookups)
        } catch {
            self.setup = Setup(
                configuration: configuration, connection: connection, impossible: "\(error)", childVariables: TCPServerEnvironment([:]))
            return
        }
        let environment = outcome.variables
        if outcome.allowed {
            self.blocklistDecision = RelaySession.makeProgram(
                configuration: configuration, environment: environment,
                sources: _EnvironmentSources(match: outcome.match, rulesPath: configuration.rules?.path, inherited: inherited),
                lookupTiming: lookupTiming, rbl: &self.rbl, smtpd: &self.smtpd)
        } else {
            // 100 for a rule's deny, 111 when the rules could not be read.
            if case .some = outcome.match { self.exitStatus = 100 } else { self.exitStatus = 111 }
        }
        self.setup = Setup(
            configuration: configuration, connection: connection, outcome: outcome, inherited: inherited,
            childVariables: environment)
    }

    /// tcpserver's decision in facts.
    var tcpserverDecision: Decision {
        if let message = setup.impossible {
            return Decision(.connection, .deny, reasons: [Fact(.tcpserverNote(message))])
        }
        guard let outcome = setup.outcome else {
            return Decision(.connection, .accept, reasons: [Fact(.note("environment given"))])
        }
        let inherited = setup.inherited
        var reasons: [Fact] = []
        reasons.reserveCapacity(4)
        let rulesLocation = setup.ruleSource
        if let match = outcome.match {
            if let key = match.key {
                reasons.append(Fact(.ruleMatched(key: key, action: match.action.rawValue), source: rulesLocation))
            } else {
                reasons.append(Fact(.noRuleMatched(keysTried: match.keysTried)))
            }
            if match.action == .allow {
                for variable in match.variables {
                    reasons.append(
                        Fact(.ruleSetVariable(name: variable.name, value: variable.value), source: rulesLocation))
                }
            }
        } else if let rules = configuration.rules, let failure = rules.readFailure {
            reasons.append(
                Fact(
                    .rulesMissing(path: rules.path, allowed: outcome.allowed && failure.isMissingFile),
                    source: SourceLocation(file: rules.path)))
        } else {
            reasons.append(Fact(.noRules))
        }
        if outcome.allowed {
            if let host = outcome.remoteHost {
                reasons.append(Fact(.remoteHost(name: host)))
            } else {
                let why: String
                if !configuration.tcpserver.lookupRemoteHost {
                    why = "tcpserver runs with -H"
                } else if setup.connection?.ptrName == nil {
                    why = "no PTR record"
                } else {
                    why = "-p: the PTR name does not resolve back to the client"
                }
                reasons.append(Fact(.noRemoteHost(reason: why)))
            }
            if !inherited.isEmpty {
                let ruleVariables = outcome.match?.variables ?? []
                for (name, value) in inherited.sorted(by: { $0.key < $1.key })
                where !ruleVariables.contains(where: { $0.name == name }) {
                    if ["RELAYCLIENT", "RBLSMTPD", "SMTPAUTH", "DATABYTES"].contains(name) {
                        reasons.append(Fact(.inheritedVariable(name: name, value: value)))
                    }
                }
            }
        }
        return Decision(.connection, outcome.allowed ? .accept : .deny, reasons: reasons)
    }

    /// A session that starts after tcpserver, with the environment tcpserver gave its child
    /// (for example the `env` recorded with a captured connection). rblsmtpd (if configured) and
    /// qmail-smtpd see exactly `environment`.
    ///
    /// - Parameter lookupTiming: time one cdb lookup in N (see ``lookups``); nil: only count them.
    public init(
        configuration: RelayConfiguration, childEnvironment environment: [String: String],
        lookupTiming: CDBLookupRecorder.Sampling? = nil
    ) {
        let variables = TCPServerEnvironment(environment)
        self.setup = Setup(configuration: configuration, connection: nil, childVariables: variables)
        self.startClock = configuration.clock
        self.blocklistDecision = RelaySession.makeProgram(
            configuration: configuration, environment: variables, sources: _EnvironmentSources(given: environment),
            lookupTiming: lookupTiming, rbl: &self.rbl, smtpd: &self.smtpd)
    }

    /// A fresh session for another connection that reaches the programs with the same
    /// environment but for the client's port (TCPREMOTEPORT, TCP6REMOTEPORT: neither rblsmtpd nor
    /// qmail-smtpd reads them) and that starts at unix time `clock`: the same replies, exchanges
    /// and decisions as a session made with `init(configuration:childEnvironment:lookupTiming:)`
    /// from a configuration with that clock and the environment with that port, without setting
    /// the programs up again (a copy costs some reference counts). `self` must not have started;
    /// ``configuration`` stays this session's (its `clock` is not the renewed session's).
    ///
    /// - Parameter lookupTiming: time one cdb lookup in N (see ``lookups``); nil: only count them.
    public func renewed(clientPort: String, clock: Int64, lookupTiming: CDBLookupRecorder.Sampling? = nil) -> RelaySession {
        var session = self
        session.renew(clientPort: clientPort, clock: clock, lookupTiming: lookupTiming)
        return session
    }

    /// Makes this session, which must not have started, the one ``renewed(clientPort:clock:lookupTiming:)``
    /// returns, in place: for a copy the caller owns (one copy of the session instead of two).
    public mutating func renew(clientPort: String, clock: Int64, lookupTiming: CDBLookupRecorder.Sampling? = nil) {
        precondition(!started, "only a session that has not started can be renewed")
        startClock = clock
        let port = setup.childVariables["TCPREMOTEPORT"] ?? setup.childVariables["TCP6REMOTEPORT"]
        if let port, port != clientPort { clientPortChange = (port, clientPort) } else { clientPortChange = nil }
        rulesLookups = CDBLookupRecorder(sampling: lookupTiming)
        if smtpd != nil { smtpd!.moreRcptHostsLookups = CDBLookupRecorder(sampling: lookupTiming) }
    }

    /// Sets up the program that runs after tcpserver: rblsmtpd when it blocks the client, else
    /// qmail-smtpd, written straight into the session's fields (a returned tuple cost a copy of
    /// the whole qmail-smtpd state). Returns rblsmtpd's decision.
    static func makeProgram(
        configuration: RelayConfiguration, environment: TCPServerEnvironment, sources: _EnvironmentSources,
        lookupTiming: CDBLookupRecorder.Sampling?, rbl: inout RBLSMTPDStage?, smtpd: inout SMTPDStage?
    ) -> Decision? {
        var blocklist: Decision? = nil
        if let options = configuration.rblsmtpd {
            let (stage, decision) = RBLSMTPDStage.decide(environment: environment, sources: sources, options: options)
            blocklist = decision
            if let stage {
                rbl = stage
                return decision
            }
        }
        smtpd = SMTPDStage(environment: environment, sources: sources, configuration: configuration)
        if let lookupTiming { smtpd!.moreRcptHostsLookups = CDBLookupRecorder(sampling: lookupTiming) }
        return blocklist
    }

    // MARK: - Driving the session

    /// Opens the connection: returns what the client receives first (a greeting, a refusal, or
    /// nothing for a tcpserver deny). Calling it again returns nothing.
    public mutating func start() -> [UInt8] {
        guard !started else { return [] }
        started = true
        if let rbl {
            let result = rbl.start()
            return apply(result, kind: .greeting, stage: .rblsmtpd, client: [], decisionOverride: blocklistDecision)
        }
        if smtpd != nil {
            let result = smtpd!.start()
            var smtpdDecision = result.decision ?? Decision(.greeting, .accept)
            if result.decision == nil, let relayClient = smtpd!.relayClient {
                smtpdDecision.reasons.append(
                    Fact(.relayClient(value: Bytes.text(relayClient)), source: smtpd!.relayClientSource))
            }
            self.smtpdDecision = smtpdDecision
            return apply(result, kind: .greeting, stage: .qmailSMTPD, client: [], decisionOverride: smtpdDecision)
        }
        record(Exchange(kind: .greeting, stage: .tcpserver, decision: tcpserverDecision, closedAfter: true))
        close(.denied, status: exitStatus)
        return []
    }

    /// Feeds bytes from the client and returns the bytes the chain sends back in response (in
    /// any chunking; bytes after the connection closed are ignored).
    public mutating func receive(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if let output = bytes.withContiguousStorageIfAvailable({ receive(contiguous: $0) }) { return output }
        return Array(bytes).withUnsafeBufferPointer { receive(contiguous: $0) }
    }

    /// ``receive(_:)`` for an array: the same, without the generic path's contiguous-storage
    /// witness (the generic one is not specialized across modules).
    public mutating func receive(_ bytes: [UInt8]) -> [UInt8] {
        // The array goes along: the exchanges keep their lines as slices of it (no copy).
        bytes.withUnsafeBufferPointer { receive(contiguous: $0, source: bytes[...]) }
    }

    /// ``receive(_:)`` for an array slice (see the array overload).
    public mutating func receive(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.withUnsafeBufferPointer { receive(contiguous: $0, source: bytes) }
    }

    /// What every ``receive(_:)`` does, on the bytes as one buffer (`source`: the same bytes as
    /// an array slice, if the caller has one).
    private mutating func receive(contiguous bytes: UnsafeBufferPointer<UInt8>, source: ArraySlice<UInt8>? = nil) -> [UInt8] {
        var output = start()
        if isClosed || bytes.isEmpty { return output }
        idleTime = 0
        feed(bytes, source: source, into: &output)
        return output
    }

    /// The client closed its side: the program exits without a word (qmail-smtpd status 1,
    /// rblsmtpd 0). Anything half-sent is dropped; a half-received message is not queued.
    public mutating func clientClosed() {
        if !started { _ = start() }
        if isClosed { return }
        if rbl != nil {
            close(.clientClosed, status: 0)
        } else if smtpd != nil {
            close(.clientClosed, status: 1)
        } else {
            close(.clientClosed, status: exitStatus)
        }
    }

    /// Time passes without input. qmail-smtpd answers `451 timeout (#4.4.2)` and hangs up once
    /// it has waited `timeoutsmtpd` seconds for input; a blocking rblsmtpd hangs up silently when
    /// its `-t` limit (counted from the connection's start) runs out.
    public mutating func idle(seconds: Double) -> [UInt8] {
        var output = start()
        if isClosed || seconds <= 0 { return output }
        elapsed += seconds
        idleTime += seconds
        if let stage = rbl {
            if stage.alarmSeconds > 0, elapsed >= Double(stage.alarmSeconds) {
                let decision = Decision(
                    .timeout, .deny, reasons: [Fact(.rblsmtpdTimeLimit(seconds: Int(stage.alarmSeconds)))])
                record(Exchange(kind: .timeout, stage: .rblsmtpd, decision: decision, closedAfter: true))
                close(.timeout, status: 0)
            }
        } else if smtpd != nil {
            if idleTime >= Double(configuration.control.timeout) {
                let result = smtpd!.timeoutReply()
                let decision = Decision(
                    .timeout, .tempfail, reasons: [Fact(.idleTimeout(seconds: configuration.control.timeout))])
                output += apply(result, kind: .timeout, stage: .qmailSMTPD, client: [], decisionOverride: decision)
            }
        }
        return output
    }

    // MARK: - Internals

    private mutating func feed(_ buffer: UnsafeBufferPointer<UInt8>, source: ArraySlice<UInt8>? = nil, into output: inout [UInt8]) {
        var index = 0
        let limits = configuration.limits
        while index < buffer.count, !isClosed {
            if smtpd?.isReadingMessage == true {
                let now = self.now
                let (consumed, result) = smtpd!.feedBody(
                    UnsafeBufferPointer(rebasing: buffer[index...]), configuration: configuration, now: now)
                let room = max(0, limits.maxMessageBytes - pendingBody.count)
                pendingBody.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index..<(index + min(consumed, room))]))
                pendingBodyDropped += consumed - min(consumed, room)
                index += consumed
                if let result {
                    let body = pendingBody
                    var truncation: Truncation? = nil
                    if pendingBodyDropped > 0 {
                        truncation = Truncation(
                            limit: .messageBytes, totalBytes: body.count + pendingBodyDropped, droppedBytes: pendingBodyDropped,
                            affectsOutcome: false)
                    }
                    pendingBody = []
                    pendingBodyDropped = 0
                    Self.add(apply(
                        result, kind: .messageBody, stage: .qmailSMTPD, client: body[...], decisionOverride: nil,
                        truncation: truncation), to: &output)
                }
                continue
            }
            let rest = UnsafeBufferPointer(rebasing: buffer[index...])
            guard let newline = _ByteScan.firstIndex(of: Bytes.lf, in: rest) else {
                appendPending(rest, limit: limits.maxLineLength)
                return
            }
            let lineStart = index
            index += newline + 1
            if pendingLine.isEmpty, pendingDropped == 0, newline <= limits.maxLineLength {
                // The line as a slice of the caller's bytes when there are some (no copy).
                let line =
                    source.map { $0[($0.startIndex + lineStart)..<($0.startIndex + index)] }
                    ?? Array(UnsafeBufferPointer(rebasing: rest[...newline]))[...]
                Self.add(handleLine(line, truncation: nil, lineEnd: 1, argumentNotKept: 0), to: &output)
                continue
            }
            appendPending(UnsafeBufferPointer(rebasing: rest[..<newline]), limit: limits.maxLineLength)
            if pendingDropped > 0, pendingLine.last == Bytes.cr {
                // A CR at the end of the kept part is not the line's end (bytes follow it): it
                // belongs to the argument, so it moves to the part not kept rather than be read
                // as the CR of a CRLF.
                pendingLine.removeLast()
                pendingDropped += 1
                pendingDroppedBeforeNUL += 1
            }
            var line = pendingLine
            var truncation: Truncation? = nil
            let lineEnd = pendingLastByte == Bytes.cr ? 2 : 1
            // The argument's bytes not kept, up to a NUL (a C string ends there) or the line end.
            let argumentNotKept =
                pendingLine.contains(0) ? 0 : (pendingDroppedNUL ? pendingDroppedBeforeNUL : pendingDropped - (lineEnd - 1))
            if pendingDropped > 0 {
                // The kept part, then the line end as sent (a CR right before the LF, if any).
                if pendingLastByte == Bytes.cr { line.append(Bytes.cr) }
                truncation = Truncation(
                    limit: .lineLength, totalBytes: pendingLine.count + pendingDropped + 1, droppedBytes: pendingDropped,
                    affectsOutcome: false)
            }
            line.append(Bytes.lf)
            pendingLine = []
            pendingDropped = 0
            pendingDroppedBeforeNUL = 0
            pendingDroppedNUL = false
            Self.add(handleLine(line[...], truncation: truncation, lineEnd: lineEnd, argumentNotKept: argumentNotKept), to: &output)
        }
    }

    /// Appends a reply to the output; the first one is shared, not copied (replies are often
    /// constant arrays).
    @inline(__always)
    private static func add(_ reply: [UInt8], to output: inout [UInt8]) {
        if output.isEmpty { output = reply } else { output += reply }
    }

    /// Adds bytes of a line not yet ended, keeping at most `limit` of the line.
    private mutating func appendPending(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int) {
        guard let last = bytes.last else { return }
        let room = max(0, limit - pendingLine.count)
        if room > 0 { pendingLine.append(contentsOf: UnsafeBufferPointer(rebasing: bytes.prefix(room))) }
        if bytes.count > room {
            let dropped = UnsafeBufferPointer(rebasing: bytes[room...])
            pendingDropped += dropped.count
            if !pendingDroppedNUL {
                if let nul = _ByteScan.firstIndex(of: 0, in: dropped) {
                    pendingDroppedBeforeNUL += nul
                    pendingDroppedNUL = true
                } else {
                    pendingDroppedBeforeNUL += dropped.count
                }
            }
        }
        pendingLastByte = last
    }

    /// Handles a complete line; `lineEnd` is the length of its CRLF or LF, `argumentNotKept` the
    /// bytes of its argument (as qmail-smtpd reads it) beyond the kept part.
    private mutating func handleLine(
        _ line: ArraySlice<UInt8>, truncation: Truncation?, lineEnd: Int, argumentNotKept: Int
    ) -> [UInt8] {
        if let rbl {
            // rblsmtpd answers by the verb alone.
            var result = rbl.line(line)
            if truncation != nil, result.decision?.address != nil, !line.contains(UInt8(ascii: "<")) {
                // The explanation's address: a `<` may follow in the part not kept, so it is unknown.
                result.decision?.address = nil
            }
            return apply(
                result, kind: .command(verb: RelaySession.verb(of: line)), stage: .rblsmtpd, client: line,
                decisionOverride: nil, truncation: truncation)
        }
        guard smtpd != nil else { return [] }
        let kind: Exchange.Kind
        if smtpd!.isReadingAuthResponse { kind = .authResponse } else { kind = .command(verb: RelaySession.verb(of: line)) }
        var truncation = truncation
        if truncation != nil, smtpd!.tailMatters(line, configuration: configuration) {
            truncation!.affectsOutcome = true
        }
        let now = self.now
        var result = smtpd!.line(line, configuration: configuration, now: now)
        if let truncation, truncation.affectsOutcome {
            let kept = truncation.totalBytes - truncation.droppedBytes - 1
            result.decision?.reasons.append(Fact(.lineNotKept(length: truncation.totalBytes - lineEnd, kept: kept)))
        } else if truncation != nil, var decision = result.decision {
            // A fact that measured the cut argument measures the whole one.
            for index in decision.reasons.indices {
                if case .addressTooLong(let length) = decision.reasons[index].kind {
                    decision.reasons[index].kind = .addressTooLong(length: length + argumentNotKept)
                }
            }
            result.decision = decision
        }
        return apply(result, kind: kind, stage: .qmailSMTPD, client: line, decisionOverride: nil, truncation: truncation)
    }

    /// The verb of a command line as sent, upper-cased.
    static func verb(of line: ArraySlice<UInt8>) -> String {
        line.withUnsafeBufferPointer { verb(of: $0) }
    }

    private static func verb(of line: UnsafeBufferPointer<UInt8>) -> String {
        var end = 0
        while end < line.count, line[end] != Bytes.space, line[end] != Bytes.lf, line[end] != 0 { end += 1 }
        if end > 0, line[end - 1] == Bytes.cr, end == line.count - 1 { end -= 1 }
        if end == 4 {
            // The usual verbs, as literals (the same strings, without building one).
            let word = (UInt32(line[0]) << 24 | UInt32(line[1]) << 16 | UInt32(line[2]) << 8 | UInt32(line[3])) & 0xDFDF_DFDF
            switch word {
            case 0x4845_4C4F: return "HELO"
            case 0x4548_4C4F: return "EHLO"
            case 0x4D41_494C: return "MAIL"
            case 0x5243_5054: return "RCPT"
            case 0x4441_5441: return "DATA"
            case 0x5155_4954: return "QUIT"
            case 0x5253_4554: return "RSET"
            case 0x4E4F_4F50: return "NOOP"
            case 0x4155_5448: return "AUTH"
            default: break
            }
        }
        if line[..<end].allSatisfy({ $0 < 0x80 }) {
            // ASCII: upper-case in place (short verbs stay small strings, no allocation).
            return String(unsafeUninitializedCapacity: end) { buffer in
                for index in 0..<end {
                    let byte = line[index]
                    buffer[index] = byte &- 97 < 26 ? byte - 32 : byte
                }
                return end
            }
        }
        return String(decoding: line[..<end].map { $0 &- 97 < 26 ? $0 - 32 : $0 }, as: UTF8.self)
    }

    private mutating func apply(
        _ result: StepResult, kind: Exchange.Kind, stage: Stage, client: ArraySlice<UInt8>, decisionOverride: Decision?,
        truncation: Truncation? = nil
    ) -> [UInt8] {
        if result.delay > 0 { elapsed += result.delay }
        if let queued = result.queued { envelopes.append(queued) }
        let closing = result.exitStatus != nil
        record(
            Exchange(
                stage: stage, kind: kind, clientSlice: client, reply: result.reply,
                decision: decisionOverride ?? result.decision, closedAfter: closing, delay: result.delay,
                truncation: truncation))
        if let status = result.exitStatus {
            let ending: Ending
            switch kind {
            case .timeout: ending = .timeout
            case .command(let verb) where verb == "QUIT" && status == 0: ending = .quit
            default: ending = .hangUp
            }
            close(ending, status: status)
        }
        return result.reply
    }

    /// Keeps an exchange (taken, not copied: an exchange is a large struct).
    private mutating func record(_ exchange: consuming Exchange) {
        exchanges.append(exchange)
    }

    private mutating func close(_ ending: Ending, status: Int32?) {
        isClosed = true
        self.ending = ending
        exitStatus = status
        pendingLine = []
        pendingDropped = 0
        pendingDroppedBeforeNUL = 0
        pendingDroppedNUL = false
        pendingBody = []
        pendingBodyDropped = 0
    }
}

extension ClientConnection {
    /// The connection as tcpserver sees it.
    var tcpServerConnection: TCPServerConnection {
        TCPServerConnection(
            localIP: serverIP, localPort: serverPort, remoteIP: clientIP, remotePort: clientPort, remotePTR: ptrName,
            remotePTRAddresses: ptrAddresses, remoteInfo: identInfo, localDNSName: serverName)
    }

    /// Adds (or replaces) the connection's extra variables in `environment`.
    func addExtraEnvironment(to environment: inout [String: String]) {
        for (name, value) in extraEnvironment { environment[name] = value }
    }
}

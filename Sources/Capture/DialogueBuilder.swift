// Turning a finished connection into a dialogue: the SMTP reconstruction and the public
// values. Runs on the reading thread, or on reconstruction threads (see ReconstructionPool).

/// What a finished connection needs besides itself to become a dialogue.
struct FinishContext: Sendable {
    var fallback: DialogueEnd
    var evictedByLimit: Bool
    var sourceFile: String
    /// PTR answers seen for side A's and side B's addresses when the connection finished.
    var ptrA: [String]?
    var ptrB: [String]?
}

/// A finished connection waiting for a reconstruction thread.
struct PendingFinish: Sendable {
    var connection: Connection
    var context: FinishContext
}

/// A dialogue and the counts the summary needs from its connection.
struct FinishedConnection: Sendable {
    var dialogue: Dialogue
    /// The session's working arrays, for reuse by a new connection.
    var scratch: SMTPSession.Scratch?
    var unobservableSteps: Int
    var retransmittedSegments: Int
    var outOfOrderSegments: Int
    var gaps: Int
    var lostBytes: Int
}

struct DialogueBuilder {
    let limits: CaptureLimits

    init(limits: CaptureLimits) {
        self.limits = limits
    }

    /// Finishes reading the connection and builds its dialogue.
    mutating func build(_ connection: inout Connection, _ context: FinishContext) -> FinishedConnection {
        connection.finish()
        let dialogue = makeDialogue(&connection, context)
        var gaps = 0
        var lostBytes = 0
        for gap in connection.sink.session.client.gaps where gap.reason == .lost || gap.reason == .limit(.outOfOrderBytes) {
            gaps += 1
            lostBytes += Int(gap.lost)
        }
        for gap in connection.sink.session.server.gaps where gap.reason == .lost || gap.reason == .limit(.outOfOrderBytes) {
            gaps += 1
            lostBytes += Int(gap.lost)
        }
        let unobservable = connection.sink.session.unobservableCount
        return FinishedConnection(
            dialogue: dialogue, scratch: connection.sink.session.takeScratch(), unobservableSteps: unobservable,
            retransmittedSegments: connection.sink.counters.retransmitted,
            outOfOrderSegments: connection.sink.counters.outOfOrder, gaps: gaps, lostBytes: lostBytes)
    }


    /// Address texts already made: a small direct-mapped cache.
    private var addressTexts = [(IPAddress, String)?](repeating: nil, count: 256)

    mutating func text(of address: IPAddress) -> String {
        let mixed = (address.lo ^ address.hi) &* 0x9E37_79B9_7F4A_7C15
        let slot = Int(truncatingIfNeeded: mixed >> 56)
        if let (cached, text) = addressTexts[slot], cached == address { return text }
        let text = address.text
        addressTexts[slot] = (address, text)
        return text
    }

    @inline(__always)
    private mutating func makeDialogue(_ connection: inout Connection, _ context: FinishContext) -> Dialogue {
        let fallback = context.fallback
        let evictedByLimit = context.evictedByLimit
        let clientIsA = connection.sink.clientIsA ?? true
        let key = connection.key
        let client = Endpoint(ip: text(of: clientIsA ? key.a : key.b), port: Int(clientIsA ? key.aPort : key.bPort))
        let server = Endpoint(ip: text(of: clientIsA ? key.b : key.a), port: Int(clientIsA ? key.bPort : key.aPort))
        let clientStream = connection.sink.session.client.bytes
        let serverStream = connection.sink.session.server.bytes
        var greeting: ServerReply?
        if case .reply(let index) = connection.sink.session.greeting {
            greeting = connection.sink.session.makeReply(index, stream: serverStream)
        }
        let steps = connection.sink.session.makeSteps(client: clientStream, server: serverStream)
        var unpaired: [ServerReply] = []
        if !connection.sink.session.unpaired.isEmpty {
            unpaired = connection.sink.session.unpaired.map { connection.sink.session.makeReply(Int($0), stream: serverStream) }
        }
        let clientSeen = clientIsA ? connection.a.seen : connection.b.seen
        let serverSeen = clientIsA ? connection.b.seen : connection.a.seen
        let serverSentPayload = clientIsA ? connection.b.sentPayload : connection.a.sentPayload
        let problems = Self.problems(
            &connection, clientSeen: clientSeen, serverSeen: serverSeen, unpaired: unpaired.count,
            evictedByLimit: evictedByLimit, limits: limits)
        let midstream = connection.sink.midstream
        let earlyTalker = !midstream && serverSeen
            && (connection.sink.session.clientSpokeEarly || (greeting == nil && !steps.isEmpty && !serverSentPayload))
        return Dialogue(
            index: connection.index, client: client, server: server, startTime: connection.startTime,
            endTime: connection.endTime, greeting: greeting, steps: steps, unpairedReplies: unpaired,
            end: connection.end(fallback: fallback), midstream: midstream, earlyTalker: earlyTalker,
            encrypted: connection.sink.session.encrypted, problems: problems, sourceFile: context.sourceFile,
            sourcePacket: connection.sourcePacket, clientPTR: clientIsA ? context.ptrA : context.ptrB,
            clientStream: clientStream, serverStream: serverStream)
    }

    private static func problems(
        _ connection: inout Connection, clientSeen: Bool, serverSeen: Bool, unpaired: Int,
        evictedByLimit: Bool, limits: CaptureLimits
    ) -> [DialogueProblem] {
        var problems: [DialogueProblem] = []
        if connection.sink.session.client.gaps.isEmpty && connection.sink.session.server.gaps.isEmpty
            && connection.sink.session.limitsHit.isEmpty && !evictedByLimit && !connection.sink.midstream
            && serverSeen && clientSeen && !connection.sink.session.encrypted && unpaired == 0
            && !connection.sink.rolesGuessed && !connection.sink.session.unterminatedSeen
        {
            return problems
        }
        func total(_ stream: StreamBuffer, _ reason: GapReason) -> (bytes: Int64, gaps: Int) {
            var bytes: Int64 = 0
            var gaps = 0
            for gap in stream.gaps where gap.reason == reason {
                bytes += gap.lost
                gaps += 1
            }
            return (bytes, gaps)
        }
        for (reason, kind, what) in [
            (GapReason.lost, DialogueProblem.Kind.lostSegment, "not captured (lost packets)"),
            (GapReason.snaplen, DialogueProblem.Kind.snaplen, "cut from packets captured shorter than they were (snaplen)"),
        ] {
            let client = total(connection.sink.session.client, reason)
            let server = total(connection.sink.session.server, reason)
            if client.gaps + server.gaps > 0 {
                problems.append(
                    DialogueProblem(
                        kind: kind,
                        message: "\(client.bytes + server.bytes) bytes \(what): client \(client.bytes) bytes in \(client.gaps) gaps, server \(server.bytes) bytes in \(server.gaps) gaps"))
            }
        }
        var hit = connection.sink.session.limitsHit
        if evictedByLimit { hit.insert(.liveConnections) }
        for kind in CaptureLimits.Kind.allCases where hit.contains(kind) {
            let value: Int
            switch kind {
            case .liveConnections: value = limits.maxLiveConnections
            case .outOfOrderBytes: value = limits.maxOutOfOrderBytes
            case .connectionBytes: value = limits.maxBytesPerConnection
            case .lineLength: value = limits.maxLineLength
            case .fragmentBytes: value = limits.maxFragmentBytes
            case .ptrRecords: value = limits.maxPTRRecords
            }
            problems.append(
                DialogueProblem(kind: .limit, limit: kind, message: "limit \(kind.rawValue) (\(value)) exceeded: \(kind.explanation)"))
        }
        if connection.sink.midstream {
            let skippedBytes = connection.sink.session.skipped
            let skipped = skippedBytes > 0 ? "; \(skippedBytes) client bytes before the first recognisable command were skipped" : ""
            problems.append(
                DialogueProblem(kind: .midstream, message: "the capture started after the connection opened (no SYN seen)\(skipped)"))
        }
        if !serverSeen && clientSeen {
            problems.append(DialogueProblem(kind: .oneDirection, message: "one direction only: no packets from the server were captured"))
        } else if !clientSeen && serverSeen {
            problems.append(DialogueProblem(kind: .oneDirection, message: "one direction only: no packets from the client were captured"))
        }
        if connection.sink.session.encrypted {
            problems.append(
                DialogueProblem(
                    kind: .encrypted,
                    message: "unobservable (TLS): encrypted after STARTTLS; \(connection.sink.session.client.encryptedBytes) client and \(connection.sink.session.server.encryptedBytes) server bytes not analysed"))
        }
        if unpaired > 0 {
            problems.append(DialogueProblem(kind: .unpairedReplies, message: "\(unpaired) server replies answer no captured command"))
        }
        if connection.sink.rolesGuessed {
            problems.append(
                DialogueProblem(kind: .rolesGuessed, message: "client and server could not be told apart; the lower port was taken as the server's"))
        }
        if connection.sink.session.unterminatedSeen {
            problems.append(DialogueProblem(kind: .unterminated, message: "the connection ended inside a line (no line terminator)"))
        }
        return problems
    }

}

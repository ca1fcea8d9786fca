// Dialogue reconstruction from byte streams that are already in order (no TCP): for tests,
// fuzzing and for callers that reassemble TCP themselves.

/// Reconstructs one SMTP dialogue from the client's and the server's bytes, fed in the order
/// they were sent (each call stands for one packet). The server is assumed to have received
/// every client byte fed before its own bytes (as a TCP acknowledgement would show).
public struct DialogueReconstructor: Sendable {
    private var session: SMTPSession
    private var client: Endpoint
    private var server: Endpoint
    private var packets = 0
    private var clientOffset: Int64 = 0
    private var firstTime: Double?
    private var lastTime: Double = 0
    private var serverSeen = false

    /// - Parameter midstream: the bytes start somewhere inside the connection.
    public init(
        client: Endpoint = Endpoint(ip: "192.0.2.1", port: 40000),
        server: Endpoint = Endpoint(ip: "192.0.2.25", port: 25),
        limits: CaptureLimits = CaptureLimits(), midstream: Bool = false
    ) {
        self.client = client
        self.server = server
        self.session = SMTPSession(maxLine: limits.maxLineLength, maxBytes: limits.maxBytesPerConnection, midstream: midstream)
        self.session.clientBase = 0
    }

    private mutating func arrival(time: Double) -> Arrival {
        packets += 1
        firstTime = firstTime ?? time
        lastTime = max(lastTime, time)
        return Arrival(at: 0, packet: packets, time: time, ack: UInt32(truncatingIfNeeded: clientOffset), hasAck: true)
    }

    /// Bytes the client sent.
    public mutating func clientSent(_ bytes: [UInt8], time: Double = 0) {
        guard !bytes.isEmpty else { return }
        let arrival = arrival(time: time)
        clientOffset += Int64(bytes.count)
        session.clientSent(bytes, 0..<bytes.count, arrival: arrival)
    }

    /// Bytes the server sent.
    public mutating func serverSent(_ bytes: [UInt8], time: Double = 0) {
        serverSeen = true
        guard !bytes.isEmpty else { return }
        session.serverSent(bytes, 0..<bytes.count, arrival: arrival(time: time))
    }

    /// `count` client bytes that were sent but not captured.
    public mutating func clientLost(_ count: Int) {
        clientOffset += Int64(max(0, count))
        session.clientLost(Int64(max(0, count)), reason: .lost)
    }

    /// `count` server bytes that were sent but not captured.
    public mutating func serverLost(_ count: Int) {
        serverSeen = true
        session.serverLost(Int64(max(0, count)), reason: .lost)
    }

    /// Finishes the dialogue. `end` says how the connection ended; with `.captureEnded` or
    /// `.evicted`, commands left without a reply are unobservable; when the server sent nothing
    /// at all and `serverCaptured` is false, every command is (one direction only).
    public mutating func finish(end: DialogueEnd = .clientClosed, serverCaptured: Bool = true) -> Dialogue {
        let reason: UnobservableReason?
        if !serverCaptured && !serverSeen {
            reason = .oneDirection
        } else if end == .captureEnded || end == .evicted {
            reason = .captureEnded
        } else {
            reason = nil
        }
        session.finish(noReplyReason: reason)
        let clientStream = session.client.bytes
        let serverStream = session.server.bytes
        var greeting: ServerReply?
        if case .reply(let index) = session.greeting { greeting = session.makeReply(index, stream: serverStream) }
        var problems: [DialogueProblem] = []
        if session.client.lost + session.server.lost > 0 {
            problems.append(
                DialogueProblem(kind: .lostSegment, message: "\(session.client.lost + session.server.lost) bytes not captured"))
        }
        for kind in CaptureLimits.Kind.allCases where session.limitsHit.contains(kind) {
            problems.append(DialogueProblem(kind: .limit, limit: kind, message: "limit \(kind.rawValue) exceeded: \(kind.explanation)"))
        }
        if session.midstream { problems.append(DialogueProblem(kind: .midstream, message: "the bytes start mid-connection")) }
        if session.encrypted { problems.append(DialogueProblem(kind: .encrypted, message: "unobservable (TLS): encrypted after STARTTLS")) }
        if !session.unpaired.isEmpty {
            problems.append(DialogueProblem(kind: .unpairedReplies, message: "\(session.unpaired.count) server replies answer no command"))
        }
        return Dialogue(
            index: 0, client: client, server: server, startTime: firstTime ?? 0, endTime: lastTime,
            greeting: greeting, steps: session.makeSteps(client: clientStream, server: serverStream),
            unpairedReplies: session.unpaired.map { session.makeReply(Int($0), stream: serverStream) },
            end: end, midstream: session.midstream, earlyTalker: session.clientSpokeEarly,
            encrypted: session.encrypted, problems: problems, sourceFile: "reconstructor", sourcePacket: 1,
            clientPTR: nil, clientStream: clientStream, serverStream: serverStream)
    }
}

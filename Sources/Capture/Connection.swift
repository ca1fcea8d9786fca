// TCP reassembly for one connection: sequence numbers (wrap-around safe), retransmissions,
// duplicates, overlaps (the first copy wins), out-of-order segments (buffered, bounded),
// zero-window probes and keep-alives (old or already-received bytes are dropped), snaplen
// truncation and lost segments (gaps), FIN/RST, and client/server roles.

/// TCP header flags.
enum TCPFlags {
    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let rst: UInt8 = 0x04
    static let ack: UInt8 = 0x10
}

/// A segment that arrived ahead of the next expected byte.
struct PendingSegment {
    var seq: UInt32
    var bytes: [UInt8]
    /// Length on the wire (more than `bytes.count` when snaplen cut the packet).
    var claimed: Int
    var arrival: Arrival
}

/// One direction of a connection.
struct TCPDirection {
    /// Any packet from this side was seen.
    var seen = false
    var synSeen = false
    var isn: UInt32 = 0
    /// Sequence number of stream offset 0 (ISN + 1, or the first data seen mid-stream).
    var baseKnown = false
    var base: UInt32 = 0
    /// The next expected sequence number.
    var next: UInt32 = 0
    var finSeen = false
    var finSeq: UInt32 = 0
    /// The FIN was reached in order.
    var closed = false
    var reset = false
    /// The highest acknowledgement this side sent (about the other side's stream).
    var ackSeen = false
    var maxAck: UInt32 = 0
    /// Any payload byte was seen from this side.
    var sentPayload = false
    var pending: [PendingSegment] = []
    var pendingBytes = 0

    /// The sequence number after the last byte seen (buffered segments included).
    var highestSeq: UInt32 {
        var highest = next
        for segment in pending {
            let end = segment.seq &+ UInt32(truncatingIfNeeded: segment.claimed)
            if SMTPSession.before(highest, end) { highest = end }
        }
        return highest
    }
}

/// Which side closed first.
enum CloseEvent: Equatable {
    case fin(fromA: Bool)
    case rst(fromA: Bool)
}

/// Data seen while the roles are still unknown (both ports are SMTP ports, no SYN seen).
struct HeldChunk {
    var fromA: Bool
    var bytes: [UInt8]
    var lost: Int64
    var reason: GapReason
    var arrival: Arrival
}

/// Counters a connection reports to the run's summary.
struct ReassemblyCounters {
    var retransmitted = 0
    var outOfOrder = 0
}

/// Where a connection's in-order bytes go: the SMTP session once the roles are known, held
/// until then (both ports are SMTP ports and no SYN was seen).
struct StreamSink {
    var session: SMTPSession
    /// Nil while the roles are unknown.
    var clientIsA: Bool?
    var rolesGuessed = false
    var midstream: Bool
    var held: [HeldChunk] = []
    var heldBytes = 0
    var maxOutOfOrder: Int
    var aPort: UInt16
    var bPort: UInt16
    var counters = ReassemblyCounters()

    mutating func data<S: ByteSource>(fromA: Bool, _ source: S, _ range: Range<Int>, arrival: Arrival) {
        guard let clientIsA else {
            var bytes: [UInt8] = []
            source.append(range, to: &bytes)
            held.append(HeldChunk(fromA: fromA, bytes: bytes, lost: 0, reason: .lost, arrival: arrival))
            heldBytes += bytes.count
            resolveRoles(final: false)
            return
        }
        if fromA == clientIsA {
            session.clientSent(source, range, arrival: arrival)
        } else {
            session.serverSent(source, range, arrival: arrival)
        }
    }

    mutating func lost(fromA: Bool, _ count: Int64, reason: GapReason) {
        guard let clientIsA else {
            held.append(HeldChunk(fromA: fromA, bytes: [], lost: count, reason: reason, arrival: Arrival(at: 0, packet: 0, time: 0, ack: 0, hasAck: false)))
            return
        }
        if fromA == clientIsA {
            session.clientLost(count, reason: reason)
        } else {
            session.serverLost(count, reason: reason)
        }
    }

    /// Notes where a side's stream starts (the server's acknowledgements refer to the client's).
    mutating func noteBase(fromA: Bool, _ base: UInt32) {
        if session.clientBase == nil, let clientIsA, clientIsA == fromA { session.clientBase = base }
    }

    /// Decides the roles from the first data of each side: a reply code (`220 `, `250-`) marks
    /// the server, a known verb the client.
    mutating func resolveRoles(final: Bool) {
        guard clientIsA == nil else { return }
        var decided: Bool?
        for fromA in [true, false] {
            guard let first = held.first(where: { $0.fromA == fromA }), first.lost == 0, !first.bytes.isEmpty else { continue }
            let end = first.bytes.firstIndex(of: SMTPText.lf).map { $0 + 1 } ?? first.bytes.count
            if SMTPText.replyCode(first.bytes, 0..<end) != nil {
                decided = !fromA
                break
            }
            if SMTPVerb.of(first.bytes, 0..<end) != .other {
                decided = fromA
                break
            }
        }
        if decided == nil && (final || heldBytes > maxOutOfOrder) {
            // No evidence: the lower port is taken as the server's.
            decided = aPort > bPort
            rolesGuessed = true
        }
        guard let decided else { return }
        clientIsA = decided
        let chunks = held
        held = []
        heldBytes = 0
        for chunk in chunks {
            if chunk.bytes.isEmpty {
                lost(fromA: chunk.fromA, chunk.lost, reason: chunk.reason)
            } else {
                data(fromA: chunk.fromA, chunk.bytes, 0..<chunk.bytes.count, arrival: chunk.arrival)
            }
        }
    }
}

struct Connection {
    var key: FlowKey
    var index: Int
    var a = TCPDirection()
    var b = TCPDirection()
    var sink: StreamSink
    var startTime: Double
    var endTime: Double
    var lastActivity: Double
    var sourceFile: Int
    var sourcePacket: Int
    var closeEvent: CloseEvent?

    init(
        key: FlowKey, index: Int, clientIsA: Bool?, midstream: Bool, time: Double,
        sourceFile: Int, sourcePacket: Int, limits: CaptureLimits
    ) {
        self.key = key
        self.index = index
        self.startTime = time
        self.endTime = time
        self.lastActivity = time
        self.sourceFile = sourceFile
        self.sourcePacket = sourcePacket
        self.sink = StreamSink(
            session: SMTPSession(maxLine: limits.maxLineLength, maxBytes: limits.maxBytesPerConnection, midstream: midstream),
            clientIsA: clientIsA, midstream: midstream, maxOutOfOrder: limits.maxOutOfOrderBytes,
            aPort: key.aPort, bPort: key.bPort)
    }

    var clientIsA: Bool? { sink.clientIsA }

    /// Both directions closed, or a reset: nothing more will come.
    var isFinished: Bool {
        a.reset || b.reset || (a.closed && b.closed)
    }

    // MARK: - Segments

    /// Processes one TCP segment sent by side A (`fromA`) or B; returns whether the connection
    /// is finished (`isFinished`).
    @discardableResult
    mutating func segment<S: ByteSource>(
        fromA: Bool, seq: UInt32, ack: UInt32, flags: UInt8, payload: S, claimed: Int,
        packet: Int, time: Double
    ) -> Bool {
        if time < startTime { startTime = time }
        if time > endTime { endTime = time }
        lastActivity = endTime
        let arrival = Arrival(at: 0, packet: packet, time: time, ack: ack, hasAck: flags & TCPFlags.ack != 0)
        if fromA {
            Self.process(&a, &sink, &closeEvent, fromA: true, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed, arrival: arrival)
        } else {
            Self.process(&b, &sink, &closeEvent, fromA: false, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed, arrival: arrival)
        }
        return isFinished
    }

    private static func process<S: ByteSource>(
        _ direction: inout TCPDirection, _ sink: inout StreamSink, _ closeEvent: inout CloseEvent?,
        fromA: Bool, seq: UInt32, ack: UInt32, flags: UInt8, payload: S, claimed: Int, arrival: Arrival
    ) {
        direction.seen = true
        if flags & TCPFlags.ack != 0 {
            if !direction.ackSeen || SMTPSession.before(direction.maxAck, ack) { direction.maxAck = ack }
            direction.ackSeen = true
        }
        if flags & TCPFlags.rst != 0 {
            direction.reset = true
            if closeEvent == nil { closeEvent = .rst(fromA: fromA) }
            return
        }
        var dataSeq = seq
        if flags & TCPFlags.syn != 0 {
            // Data seen before its SYN: the packets were not in time order in the file.
            let late = direction.baseKnown && !direction.synSeen && direction.base == seq &+ 1
            direction.synSeen = true
            direction.isn = seq
            dataSeq = seq &+ 1
            if !direction.baseKnown {
                direction.baseKnown = true
                direction.base = dataSeq
                direction.next = dataSeq
                sink.noteBase(fromA: fromA, dataSeq)
            }
            if late && sink.midstream && sink.session.startFromBeginning() { sink.midstream = false }
        }
        if claimed > 0 {
            direction.sentPayload = true
            if !direction.baseKnown {
                direction.baseKnown = true
                direction.base = dataSeq
                direction.next = dataSeq
            }
            sink.noteBase(fromA: fromA, direction.base)
            deliver(&direction, &sink, fromA: fromA, seq: dataSeq, payload: payload, claimed: claimed, arrival: arrival)
        }
        if flags & TCPFlags.fin != 0 {
            if !direction.baseKnown {
                direction.baseKnown = true
                direction.base = dataSeq &+ UInt32(truncatingIfNeeded: claimed)
                direction.next = direction.base
            }
            if !direction.finSeen {
                direction.finSeen = true
                direction.finSeq = dataSeq &+ UInt32(truncatingIfNeeded: claimed)
            }
            if closeEvent == nil { closeEvent = .fin(fromA: fromA) }
        }
        checkFin(&direction)
    }

    private static func checkFin(_ direction: inout TCPDirection) {
        if direction.finSeen && !direction.closed && direction.next == direction.finSeq && direction.pending.isEmpty {
            direction.closed = true
        }
    }

    /// Delivers bytes `[seq, seq + claimed)` of which `payload` holds the captured first part.
    private static func deliver<S: ByteSource>(
        _ direction: inout TCPDirection, _ sink: inout StreamSink, fromA: Bool, seq: UInt32, payload: S,
        claimed: Int, arrival: Arrival
    ) {
        let offset = Int64(Int32(bitPattern: seq &- direction.next))
        if offset <= 0 {
            let skip = Int(-offset)
            if skip >= claimed {
                sink.counters.retransmitted += 1
                return
            }
            let captured = payload.count
            if skip < captured {
                sink.data(fromA: fromA, payload, skip..<captured, arrival: arrival)
            }
            let have = max(skip, captured)
            if claimed > have {
                sink.lost(fromA: fromA, Int64(claimed - have), reason: .snaplen)
            }
            direction.next = seq &+ UInt32(truncatingIfNeeded: claimed)
            if !direction.pending.isEmpty { drain(&direction, &sink, fromA: fromA) }
            return
        }
        // Ahead of the next expected byte: keep it until the missing bytes arrive.
        sink.counters.outOfOrder += 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count)
        payload.append(0..<payload.count, to: &bytes)
        let segment = PendingSegment(seq: seq, bytes: bytes, claimed: claimed, arrival: arrival)
        var position = direction.pending.count
        while position > 0 && SMTPSession.before(seq, direction.pending[position - 1].seq) { position -= 1 }
        direction.pending.insert(segment, at: position)
        direction.pendingBytes += segment.bytes.count
        while direction.pendingBytes > sink.maxOutOfOrder, let first = direction.pending.first {
            // Too much waiting: declare the missing bytes lost.
            let missing = Int64(Int32(bitPattern: first.seq &- direction.next))
            if missing > 0 {
                sink.lost(fromA: fromA, missing, reason: .limit(.outOfOrderBytes))
                direction.next = first.seq
            }
            drain(&direction, &sink, fromA: fromA)
        }
    }

    /// Delivers buffered segments that are now in order.
    private static func drain(_ direction: inout TCPDirection, _ sink: inout StreamSink, fromA: Bool) {
        while let first = direction.pending.first,
            Int32(bitPattern: first.seq &- direction.next) <= 0
        {
            direction.pending.removeFirst()
            direction.pendingBytes -= first.bytes.count
            let skip = Int(-Int64(Int32(bitPattern: first.seq &- direction.next)))
            if skip >= first.claimed {
                sink.counters.retransmitted += 1
                continue
            }
            if skip < first.bytes.count {
                sink.data(fromA: fromA, first.bytes, skip..<first.bytes.count, arrival: first.arrival)
            }
            let have = max(skip, first.bytes.count)
            if first.claimed > have {
                sink.lost(fromA: fromA, Int64(first.claimed - have), reason: .snaplen)
            }
            direction.next = first.seq &+ UInt32(truncatingIfNeeded: first.claimed)
        }
        checkFin(&direction)
    }

    /// At the end: buffered segments are delivered with the missing bytes declared lost.
    private static func flush(_ direction: inout TCPDirection, _ sink: inout StreamSink, fromA: Bool) {
        while let first = direction.pending.first {
            let missing = Int64(Int32(bitPattern: first.seq &- direction.next))
            if missing > 0 {
                sink.lost(fromA: fromA, missing, reason: .lost)
                direction.next = first.seq
            }
            drain(&direction, &sink, fromA: fromA)
        }
    }

    /// Whether a SYN (`synOnly`) or SYN-ACK from side A (`fromA`) starts a new connection on
    /// these addresses and ports: a retransmitted SYN, or the first SYN of a side whose data was
    /// seen first (packets out of time order), belongs to this one. (Mutating only so that the
    /// caller reads the connection in place rather than copying it.)
    mutating func isStartedAnew(bySYNFromA fromA: Bool, seq: UInt32, synOnly: Bool) -> Bool {
        let synSeen = fromA ? a.synSeen : b.synSeen
        let isn = fromA ? a.isn : b.isn
        let baseKnown = fromA ? a.baseKnown : b.baseKnown
        let base = fromA ? a.base : b.base
        let sentPayload = fromA ? a.sentPayload : b.sentPayload
        if synSeen && isn == seq { return false }
        if !synSeen && baseKnown && base == seq &+ 1 && closeEvent == nil { return false }
        if !synSeen && !sentPayload && closeEvent == nil {
            // The first SYN (or SYN-ACK) seen on this side of a connection opened by the other.
            if let clientIsA = sink.clientIsA { return synOnly != (fromA == clientIsA) }
            return false
        }
        return true
    }

    // MARK: - The end

    /// Finishes the connection: flushes buffered data, detects data the capture missed at the
    /// end (acknowledged by the other side but never seen) and resolves the dialogue.
    mutating func finish() {
        if sink.clientIsA == nil { sink.resolveRoles(final: true) }
        Self.flush(&a, &sink, fromA: true)
        Self.flush(&b, &sink, fromA: false)
        guard let clientIsA = sink.clientIsA else { return }
        // The two directions are read in place (copies of them would retain their arrays).
        if clientIsA ? a.baseKnown : b.baseKnown { sink.noteBase(fromA: clientIsA, clientIsA ? a.base : b.base) }
        let serverDelivered = sink.session.server.absEnd + sink.session.server.encryptedBytes
        let clientDelivered = sink.session.client.absEnd + sink.session.client.encryptedBytes
        let serverMissing = clientIsA
            ? Self.unseenTail(of: b, ackedBy: a, delivered: serverDelivered)
            : Self.unseenTail(of: a, ackedBy: b, delivered: serverDelivered)
        let clientMissing = clientIsA
            ? Self.unseenTail(of: a, ackedBy: b, delivered: clientDelivered)
            : Self.unseenTail(of: b, ackedBy: a, delivered: clientDelivered)
        if clientMissing > 0 { sink.session.clientLost(clientMissing, reason: .lost) }
        if serverMissing > 0 { sink.session.serverLost(serverMissing, reason: .lost) }
        let reason: UnobservableReason?
        if !(clientIsA ? b.seen : a.seen) {
            reason = .oneDirection
        } else if serverMissing > 0 {
            reason = .replyLost(bytes: Int(serverMissing))
        } else if closeEvent == nil {
            reason = .captureEnded
        } else {
            reason = nil
        }
        sink.session.finish(noReplyReason: reason)
    }

    /// Bytes the other side acknowledged beyond what was captured of `direction` (a FIN that
    /// was not seen accounts for one).
    private static func unseenTail(of direction: TCPDirection, ackedBy other: TCPDirection, delivered: Int64) -> Int64 {
        guard direction.baseKnown, other.ackSeen else { return 0 }
        let acked = Int64(other.maxAck &- direction.base)
        guard acked < 1 << 31 else { return 0 }
        let have = delivered + (direction.finSeen ? 1 : 0)
        let beyond = acked - have
        if beyond <= 0 { return 0 }
        return direction.finSeen ? beyond : beyond - 1
    }

    /// How the connection ended; `fallback` when no FIN or RST was seen. (Mutating only so that
    /// the caller reads the connection in place rather than copying it.)
    mutating func end(fallback: DialogueEnd) -> DialogueEnd {
        for step in sink.session.steps where step.verb == .quit && step.reply >= 0 {
            let code = sink.session.replies[Int(step.reply)].code
            if code >= 200 && code < 300 { return .quit }
        }
        guard let closeEvent, let clientIsA = sink.clientIsA else { return fallback }
        switch closeEvent {
        case .fin(let fromA):
            if fromA == clientIsA { return .clientClosed }
            return (clientIsA ? b.sentPayload : a.sentPayload) ? .serverClosed : .serverClosedSilently
        case .rst(let fromA):
            return fromA == clientIsA ? .clientReset : .serverReset
        }
    }
}

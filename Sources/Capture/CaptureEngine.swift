// The run: packets in, dialogues out. Owns the connection table (live connections plus a
// bounded ring of recently closed ones, so late retransmissions and final ACKs do not start
// phantom connections), the fragment reassembler, DNS answers and the summary.

/// The link layers relaylab decodes.
enum LinkKind {
    case ethernet
    case linuxSLL
    case linuxSLL2
    case rawIP
    case null
    case loop

    /// The decoder for a libpcap DLT value, or nil when it is not supported.
    init?(dlt: Int) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 12, 14, 101, 228, 229: self = .rawIP
        case 0: self = .null
        case 108: self = .loop
        default: return nil
        }
    }

    static let supportedNames = "EN10MB (Ethernet, 802.1Q/QinQ), LINUX_SLL, LINUX_SLL2, RAW/IPV4/IPV6, NULL, LOOP"
}

/// A connection that finished recently.
struct ClosedFlow {
    var key: FlowKey
    var nextA: UInt32
    var nextB: UInt32
    var knownA: Bool
    var knownB: Bool
    var time: Double
    var valid: Bool
}

struct CaptureEngine {
    /// Seconds a finished connection is remembered (Linux keeps TIME_WAIT for 60 s).
    static let closedMemory: Double = 120
    static let closedCapacity = 1 << 13
    /// Seconds of capture time between sweeps for idle connections and stale fragments.
    static let sweepInterval: Double = 30

    let options: CaptureOptions
    var limits: CaptureLimits { options.limits }
    private var smtpPortBits = [UInt64](repeating: 0, count: 1024)

    /// Live connections (slot + 1) and recently closed ones (ring index + 1), apart so that the
    /// table used for nearly every packet stays small.
    private var liveTable = FlowTable()
    private var closedTable = FlowTable(capacity: 1024)
    /// Connection slots; `isLive` tells which hold a live connection. A finished connection
    /// stays in its slot (its byte streams handed to the dialogue) until the slot is reused, so
    /// that it is read, finished and replaced in place: optional slots made the compiler copy
    /// whole connections in and out of them, and check the optional at every packet.
    private var connections: [Connection] = []
    private var isLive: [Bool] = []
    private var freeSlots: [Int32] = []
    private var live = 0
    private var closed: [ClosedFlow] = []
    private var closedNext = 0
    private var fragments = FragmentReassembler()
    private var dnsStreams: [FlowKey: DNSStream] = [:]

    var summary = CaptureSummary()
    /// Dialogues finished and not yet handed out (with their summary counts, already counted).
    var ready: [FinishedConnection] = []
    private var nextIndex = 0

    /// The packet being processed: number in the whole input and in its file, and its time.
    private(set) var packetNumber = 0
    private(set) var filePacket = 0
    private(set) var time: Double = 0
    private var fileIndex = 0
    private var fileNames: [String] = []
    /// The latest capture time seen (packets are not always in time order).
    private var now = -Double.infinity
    private var lastSweep = -Double.infinity

    init(options: CaptureOptions) {
        self.options = options
        self.builder = DialogueBuilder(limits: options.limits)
        self.pool = options.reconstructionThreads > 0
            ? ReconstructionPool(threads: options.reconstructionThreads, limits: options.limits) : nil
        for port in options.smtpPorts where port >= 0 && port < 65536 {
            smtpPortBits[port >> 6] |= 1 << UInt64(port & 63)
        }
    }

    @inline(__always)
    private func isSMTP(_ port: UInt16) -> Bool {
        smtpPortBits[Int(port) >> 6] & (1 << UInt64(port & 63)) != 0
    }

    // MARK: - Files and packets

    mutating func beginFile(name: String) {
        fileNames.append(name)
        fileIndex = fileNames.count - 1
        filePacket = 0
    }

    /// Called for each record before it is decoded.
    @inline(__always)
    mutating func beginPacket(time: Double, capturedLength: Int) {
        // 64-bit counts of packets and captured bytes (at most 4 GiB each) cannot overflow.
        packetNumber &+= 1
        filePacket &+= 1
        self.time = time
        summary.packets &+= 1
        summary.bytes &+= capturedLength
        if time > now {
            now = time
            if now - lastSweep >= Self.sweepInterval {
                if lastSweep > -Double.infinity { sweep() }
                lastSweep = now
            }
        }
    }

    mutating func nonIP() { summary.nonIPPackets += 1 }
    mutating func otherTransport() { summary.otherTransportPackets += 1 }
    mutating func malformed() { summary.malformedPackets += 1 }

    // MARK: - TCP

    mutating func tcp(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
        seq: UInt32, ack: UInt32, flags: UInt8, payload: PayloadBytes, claimed: Int
    ) {
        let sourceSMTP = isSMTP(sourcePort)
        let destinationSMTP = isSMTP(destinationPort)
        guard sourceSMTP || destinationSMTP else {
            return otherTCP(
                source: source, destination: destination, sourcePort: sourcePort,
                destinationPort: destinationPort, seq: seq, flags: flags, payload: payload, claimed: claimed)
        }
        let (key, fromA) = FlowKey.make(
            source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort)
        // Nearly every segment: no SYN, of a live connection.
        if flags & TCPFlags.syn == 0, let value = liveTable.value(for: key) {
            feedSegment(
                slot: Int(value - 1), fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed)
            return
        }
        tcpOpening(
            key: key, fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed,
            sourceSMTP: sourceSMTP, destinationSMTP: destinationSMTP)
    }

    /// A TCP segment on ports that are not SMTP ports.
    @inline(never)
    private mutating func otherTCP(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
        seq: UInt32, flags: UInt8, payload: PayloadBytes, claimed: Int
    ) {
        if options.parseDNS && (sourcePort == 53 || destinationPort == 53) {
            dnsOverTCP(
                source: source, destination: destination, sourcePort: sourcePort,
                destinationPort: destinationPort, seq: seq, flags: flags, payload: payload, claimed: claimed)
        } else {
            summary.otherPortPackets += 1
        }
    }

    /// A SYN, or a segment of a connection that is not live: a retransmitted SYN, a new
    /// connection, or a late segment of a closed one.
    @inline(never)
    private mutating func tcpOpening(
        key: FlowKey, fromA: Bool, seq: UInt32, ack: UInt32, flags: UInt8, payload: PayloadBytes, claimed: Int,
        sourceSMTP: Bool, destinationSMTP: Bool
    ) {
        let syn = flags & TCPFlags.syn != 0
        let synOnly = syn && flags & TCPFlags.ack == 0
        if let value = lookup(key) {
            if value > 0 {
                let slot = Int(value - 1)
                if syn, startsNewConnection(slot: slot, fromA: fromA, seq: seq, synOnly: synOnly) {
                    finish(slot: slot, fallback: .superseded, keepInTable: true)
                    open(key: key, fromA: fromA, synOnly: synOnly, syn: syn, sourceSMTP: sourceSMTP, destinationSMTP: destinationSMTP)
                } else {
                    feedSegment(slot: slot, fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed)
                    return
                }
            } else {
                let index = Int(-value - 1)
                if !syn && isLate(closed[index], fromA: fromA, seq: seq, claimed: claimed) {
                    summary.retransmittedSegments += 1
                    return
                }
                closed[index].valid = false
                closedTable.remove(key)
                guard syn || claimed > 0 else {
                    summary.retransmittedSegments += 1
                    return
                }
                open(key: key, fromA: fromA, synOnly: synOnly, syn: syn, sourceSMTP: sourceSMTP, destinationSMTP: destinationSMTP)
            }
        } else {
            guard syn || claimed > 0 else {
                // A control segment of a connection not being tracked (e.g. the last ACK).
                summary.retransmittedSegments += 1
                return
            }
            open(key: key, fromA: fromA, synOnly: synOnly, syn: syn, sourceSMTP: sourceSMTP, destinationSMTP: destinationSMTP)
        }
        guard let value = lookup(key), value > 0 else { return }
        feedSegment(slot: Int(value - 1), fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed)
    }

    /// Hands a segment to the live connection in `slot`, and finishes it when it is done.
    @inline(__always)
    private mutating func feedSegment(
        slot: Int, fromA: Bool, seq: UInt32, ack: UInt32, flags: UInt8, payload: PayloadBytes, claimed: Int
    ) {
        let finished = connections[slot].segment(
            fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed,
            packet: packetNumber, time: time)
        if finished { finish(slot: slot, fallback: .captureEnded) }
    }

    /// The live slot + 1 (positive) or the closed-ring index, negated and minus one.
    @inline(__always)
    private func lookup(_ key: FlowKey) -> Int32? {
        if let value = liveTable.value(for: key) { return value }
        if closedTable.count > 0, let value = closedTable.value(for: key) { return -value }
        return nil
    }

    /// A SYN on a live connection: a retransmitted SYN belongs to it; another starts a new one.
    private mutating func startsNewConnection(slot: Int, fromA: Bool, seq: UInt32, synOnly: Bool) -> Bool {
        connections[slot].isStartedAnew(bySYNFromA: fromA, seq: seq, synOnly: synOnly)
    }

    /// Whether a segment for a recently closed connection only repeats old bytes.
    private func isLate(_ flow: ClosedFlow, fromA: Bool, seq: UInt32, claimed: Int) -> Bool {
        guard flow.valid, now - flow.time <= Self.closedMemory else { return false }
        let known = fromA ? flow.knownA : flow.knownB
        guard known else { return claimed == 0 }
        let next = fromA ? flow.nextA : flow.nextB
        let end = seq &+ UInt32(truncatingIfNeeded: claimed)
        return Int32(bitPattern: end &- next) <= 1
    }

    private mutating func open(
        key: FlowKey, fromA: Bool, synOnly: Bool, syn: Bool, sourceSMTP: Bool, destinationSMTP: Bool
    ) {
        if live >= limits.maxLiveConnections { evictLeastRecentlyActive() }
        let clientIsA: Bool?
        if syn {
            clientIsA = synOnly ? fromA : !fromA
        } else if sourceSMTP != destinationSMTP {
            clientIsA = sourceSMTP ? !fromA : fromA
        } else {
            clientIsA = nil
        }
        // Built in its slot and given the working arrays there: the connection is never copied.
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = Int(free)
            connections[slot] = Connection(
                key: key, index: nextIndex, clientIsA: clientIsA, midstream: !syn, time: time,
                sourceFile: fileIndex, sourcePacket: filePacket, limits: limits)
            isLive[slot] = true
        } else {
            slot = connections.count
            connections.append(
                Connection(
                    key: key, index: nextIndex, clientIsA: clientIsA, midstream: !syn, time: time,
                    sourceFile: fileIndex, sourcePacket: filePacket, limits: limits))
            isLive.append(true)
        }
        if var scratch = scratchPool.popLast() { connections[slot].sink.session.install(&scratch) }
        nextIndex += 1
        live += 1
        if live > summary.peakLiveConnections { summary.peakLiveConnections = live }
        liveTable.set(Int32(slot + 1), for: key)
    }

    // MARK: - Finishing connections

    /// Finishes the connection in `slot` and queues its dialogue (or hands it to the
    /// reconstruction threads).
    private mutating func finish(slot: Int, fallback: DialogueEnd, evictedByLimit: Bool = false, keepInTable: Bool = false) {
        guard isLive[slot] else { return }
        isLive[slot] = false
        freeSlots.append(Int32(slot))
        live -= 1
        let key = connections[slot].key
        if !keepInTable {
            liveTable.remove(key, ifValue: Int32(slot + 1))
            remember(
                key: key,
                nextA: connections[slot].a.highestSeq &+ (connections[slot].a.finSeen ? 1 : 0),
                nextB: connections[slot].b.highestSeq &+ (connections[slot].b.finSeen ? 1 : 0),
                knownA: connections[slot].a.baseKnown, knownB: connections[slot].b.baseKnown)
        }
        var context = FinishContext(
            fallback: fallback, evictedByLimit: evictedByLimit, sourceFile: fileNames[connections[slot].sourceFile])
        if !ptr.isEmpty {
            context.ptrA = ptr[builder.text(of: key.a)]
            context.ptrB = ptr[builder.text(of: key.b)]
        }
        if pool != nil {
            // Moved out (an empty connection takes its place), for a reconstruction thread.
            var connection = Connection(
                key: key, index: -1, clientIsA: nil, midstream: false, time: 0, sourceFile: 0, sourcePacket: 0,
                limits: limits)
            swap(&connection, &connections[slot])
            batch.append(PendingFinish(connection: consume connection, context: context))
            if batch.count >= ReconstructionPool.batchSize { submitBatch(waitForAll: false) }
            return
        }
        // Built straight into the queue (a local copy first would be copied again).
        ready.append(builder.build(&connections[slot], context))
        connections[slot].sink.session.dropStreams()
        let last = ready.count - 1
        Self.account(&ready[last], into: &summary, endCounts: &endCounts)
        Self.recycle(&ready[last], into: &scratchPool)
    }

    /// Turns finished connections into dialogues.
    private var builder: DialogueBuilder
    /// Threads that build dialogues while reading goes on (nil: built here).
    private let pool: ReconstructionPool?
    private var batch: [PendingFinish] = []

    /// Hands the current batch to the pool and collects the batches done (all of them, in order,
    /// with `waitForAll`).
    private mutating func submitBatch(waitForAll: Bool) {
        guard let pool else { return }
        if !batch.isEmpty {
            pool.submit(&batch)
            batch.reserveCapacity(ReconstructionPool.batchSize)
        }
        var batches = pool.collect(waitForAll: waitForAll)
        for number in batches.indices {
            // Moved out of the list, so that the batch is changed in place (not copied first).
            var done: [FinishedConnection] = []
            swap(&done, &batches[number])
            for index in done.indices {
                Self.account(&done[index], into: &summary, endCounts: &endCounts)
                Self.recycle(&done[index], into: &scratchPool)
            }
            if ready.isEmpty {
                swap(&ready, &done)
            } else {
                ready.append(contentsOf: done)
            }
        }
    }

    /// Empties the delivery queue once its dialogues were handed out: with reconstruction
    /// threads, a batch is freed on one of them.
    mutating func delivered(_ queue: inout [FinishedConnection]) {
        if let pool, queue.count > 1 {
            pool.dispose(&queue)
        } else {
            queue.removeAll(keepingCapacity: true)
        }
    }

    /// Working arrays of finished sessions, for new ones.
    private var scratchPool: [SMTPSession.Scratch] = []

    private static func recycle(_ finished: inout FinishedConnection, into scratchPool: inout [SMTPSession.Scratch]) {
        if scratchPool.count < 256, let scratch = finished.scratch.take() { scratchPool.append(scratch) }
    }

    /// Replaces the table entry with a closed-flow record.
    private mutating func remember(key: FlowKey, nextA: UInt32, nextB: UInt32, knownA: Bool, knownB: Bool) {
        if closed.count < Self.closedCapacity {
            closed.append(ClosedFlow(key: key, nextA: 0, nextB: 0, knownA: false, knownB: false, time: 0, valid: false))
        }
        let index = closedNext
        closedNext = (closedNext + 1) % Self.closedCapacity
        let old = closed[index]
        if old.valid { closedTable.remove(old.key, ifValue: Int32(index + 1)) }
        closed[index] = ClosedFlow(key: key, nextA: nextA, nextB: nextB, knownA: knownA, knownB: knownB, time: now, valid: true)
        closedTable.set(Int32(index + 1), for: key)
    }

    /// Flushes the least recently active eighth of the live connections (the limit was hit).
    private mutating func evictLeastRecentlyActive() {
        var candidates: [(Double, Int)] = []
        candidates.reserveCapacity(live)
        for slot in connections.indices where isLive[slot] {
            candidates.append((connections[slot].lastActivity, slot))
        }
        candidates.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        for (_, slot) in candidates.prefix(max(1, candidates.count / 8)) {
            finish(slot: slot, fallback: .evicted, evictedByLimit: true)
        }
    }

    /// Flushes connections idle for longer than the idle timeout; drops stale fragments.
    private mutating func sweep() {
        fragments.expire(now: now)
        guard options.idleTimeout > 0 else { return }
        var idle: [(Int, Int)] = []
        for slot in connections.indices where isLive[slot] && now - connections[slot].lastActivity > options.idleTimeout {
            idle.append((connections[slot].index, slot))
        }
        for (_, slot) in idle.sorted(by: { $0.0 < $1.0 }) {
            finish(slot: slot, fallback: .evicted)
        }
    }

    /// The end of the input: every live connection is flushed, in index order.
    mutating func finishAll() {
        var open: [(Int, Int)] = []
        for slot in connections.indices where isLive[slot] {
            open.append((connections[slot].index, slot))
        }
        for (_, slot) in open.sorted(by: { $0.0 < $1.0 }) {
            finish(slot: slot, fallback: .captureEnded)
        }
        submitBatch(waitForAll: true)
        fragments.dropAll()
        summary.droppedFragments += fragments.dropped
        fragments.dropped = 0
        if fragments.limitHits > 0 {
            summary.limitsHit[.fragmentBytes, default: 0] += fragments.limitHits
            fragments.limitHits = 0
        }
    }

    // MARK: - Dialogues

    /// Adds a finished connection to the summary. (`inout` only so that the caller lends the
    /// value in its array rather than copying it.)
    private static func account(_ finished: inout FinishedConnection, into summary: inout CaptureSummary, endCounts: inout [Int]) {
        summary.connections += 1
        if finished.dialogue.problems.isEmpty { summary.completeConnections += 1 } else { summary.incompleteConnections += 1 }
        if finished.dialogue.midstream { summary.midstreamConnections += 1 }
        endCounts[finished.dialogue.end.index] += 1
        if !finished.dialogue.problems.isEmpty {
            var kinds = Set<DialogueProblem.Kind>()
            for problem in finished.dialogue.problems {
                kinds.insert(problem.kind)
                if let limit = problem.limit { summary.limitsHit[limit, default: 0] += 1 }
            }
            for kind in kinds { summary.problems[kind, default: 0] += 1 }
        }
        summary.steps += finished.dialogue.steps.count
        summary.unobservableSteps += finished.unobservableSteps
        summary.retransmittedSegments += finished.retransmittedSegments
        summary.outOfOrderSegments += finished.outOfOrderSegments
        summary.gaps += finished.gaps
        summary.lostBytes += finished.lostBytes
    }

    /// Dialogues by how they ended, indexed like `DialogueEnd.allCases`.
    private var endCounts = [Int](repeating: 0, count: DialogueEnd.allCases.count)

    /// Moves the end counts into the summary.
    mutating func finalizeSummary() {
        for (index, end) in DialogueEnd.allCases.enumerated() where endCounts[index] > 0 {
            summary.ends[end, default: 0] += endCounts[index]
            endCounts[index] = 0
        }
        summary.ptrRecords = ptr
    }

    // MARK: - Fragments

    mutating func fragment(
        _ key: FragmentKey, offset: Int, more: Bool, bytes: [UInt8]
    ) -> [UInt8]? {
        let before = fragments.limitHits
        let whole = fragments.add(key, offset: offset, more: more, bytes: bytes, time: time, maxBytes: limits.maxFragmentBytes)
        if fragments.limitHits != before {
            summary.limitsHit[.fragmentBytes, default: 0] += fragments.limitHits - before
            fragments.limitHits = before
        }
        summary.droppedFragments += fragments.dropped
        fragments.dropped = 0
        if whole != nil { summary.reassembledDatagrams += 1 }
        return whole
    }

    mutating func droppedFragment() { summary.droppedFragments += 1 }

    // MARK: - DNS

    private var ptr: [String: [String]] = [:]

    mutating func dnsOverUDP(_ payload: PayloadBytes, complete: Bool) {
        guard complete else {
            summary.malformedPackets += 1
            return
        }
        record(DNSMessage.ptrAnswers(payload.copy(0..<payload.count)))
    }

    private mutating func record(_ answers: [PTRAnswer]) {
        summary.dnsResponses += 1
        for answer in answers {
            if ptr[answer.address] == nil && ptr.count >= limits.maxPTRRecords {
                summary.limitsHit[.ptrRecords, default: 0] += 1
                continue
            }
            ptr[answer.address] = answer.names
        }
    }

    private mutating func dnsOverTCP(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
        seq: UInt32, flags: UInt8, payload: PayloadBytes, claimed: Int
    ) {
        guard sourcePort == 53 else { return }
        let key = FlowKey.make(source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort).key
        if flags & (TCPFlags.rst | TCPFlags.fin) != 0 && claimed == 0 {
            dnsStreams[key] = nil
            return
        }
        if flags & TCPFlags.syn != 0 {
            if dnsStreams.count >= 4096 { dnsStreams.removeAll() }
            dnsStreams[key] = DNSStream(next: seq &+ 1)
        }
        guard claimed > 0 else { return }
        var stream = dnsStreams[key] ?? DNSStream(next: seq)
        if stream.broken { return }
        let offset = Int32(bitPattern: seq &- stream.next)
        if offset < 0 { return }
        if offset > 0 || payload.count < claimed {
            stream.broken = true
            dnsStreams[key] = stream
            return
        }
        payload.append(0..<payload.count, to: &stream.buffer)
        stream.next = seq &+ UInt32(truncatingIfNeeded: claimed)
        while stream.buffer.count >= 2 {
            let length = Int(stream.buffer[0]) << 8 | Int(stream.buffer[1])
            guard stream.buffer.count >= 2 + length else { break }
            record(DNSMessage.ptrAnswers(Array(stream.buffer[2..<(2 + length)])))
            stream.buffer.removeFirst(2 + length)
        }
        if stream.buffer.count > 70_000 { stream.broken = true }
        if dnsStreams.count >= 4096 && dnsStreams[key] == nil { dnsStreams.removeAll() }
        dnsStreams[key] = stream
        if flags & (TCPFlags.rst | TCPFlags.fin) != 0 { dnsStreams[key] = nil }
    }

}

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
    private var connections: [Connection?] = []
    private var freeSlots: [Int32] = []
    private var live = 0
    private var closed: [ClosedFlow] = []
    private var closedNext = 0
    private var fragments = FragmentReassembler()
    private var dnsStreams: [FlowKey: DNSStream] = [:]

    var summary = CaptureSummary()
    /// Dialogues finished and not yet handed out.
    var ready: [Dialogue] = []
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
        for port in options.smtpPorts where port >= 0 && port < 65536 {
            smtpPortBits[port >> 6] |= 1 << UInt64(port & 63)
        }
    }

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
    mutating func beginPacket(time: Double, capturedLength: Int) {
        packetNumber += 1
        filePacket += 1
        self.time = time
        summary.packets += 1
        summary.bytes += capturedLength
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
            if options.parseDNS && (sourcePort == 53 || destinationPort == 53) {
                dnsOverTCP(
                    source: source, destination: destination, sourcePort: sourcePort,
                    destinationPort: destinationPort, seq: seq, flags: flags, payload: payload, claimed: claimed)
            } else {
                summary.otherPortPackets += 1
            }
            return
        }
        let (key, fromA) = FlowKey.make(
            source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort)
        let syn = flags & TCPFlags.syn != 0
        let synOnly = syn && flags & TCPFlags.ack == 0
        if let value = lookup(key) {
            if value > 0 {
                let slot = Int(value - 1)
                if syn, startsNewConnection(slot: slot, fromA: fromA, seq: seq, synOnly: synOnly) {
                    finish(slot: slot, fallback: .superseded, keepInTable: true)
                    open(key: key, fromA: fromA, synOnly: synOnly, syn: syn, sourceSMTP: sourceSMTP, destinationSMTP: destinationSMTP)
                } else {
                    connections[slot]!.segment(
                        fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed,
                        packet: packetNumber, time: time)
                    if connections[slot]!.isFinished { finish(slot: slot, fallback: .captureEnded) }
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
        let slot = Int(value - 1)
        connections[slot]!.segment(
            fromA: fromA, seq: seq, ack: ack, flags: flags, payload: payload, claimed: claimed,
            packet: packetNumber, time: time)
        if connections[slot]!.isFinished { finish(slot: slot, fallback: .captureEnded) }
    }

    /// The live slot + 1 (positive) or the closed-ring index, negated and minus one.
    @inline(__always)
    private func lookup(_ key: FlowKey) -> Int32? {
        if let value = liveTable.value(for: key) { return value }
        if closedTable.count > 0, let value = closedTable.value(for: key) { return -value }
        return nil
    }

    /// A SYN on a live connection: a retransmitted SYN belongs to it; another starts a new one.
    private func startsNewConnection(slot: Int, fromA: Bool, seq: UInt32, synOnly: Bool) -> Bool {
        let connection = connections[slot]!
        let direction = fromA ? connection.a : connection.b
        if direction.synSeen && direction.isn == seq { return false }
        // The SYN of data already seen (packets out of time order in the file).
        if !direction.synSeen && direction.baseKnown && direction.base == seq &+ 1 && connection.closeEvent == nil {
            return false
        }
        if !direction.synSeen && !direction.sentPayload && connection.closeEvent == nil {
            // The first SYN (or SYN-ACK) seen on this side of a connection opened by the other.
            if let clientIsA = connection.clientIsA { return synOnly != (fromA == clientIsA) }
            return false
        }
        return true
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
        var connection = Connection(
            key: key, index: nextIndex, clientIsA: clientIsA, midstream: !syn, time: time,
            sourceFile: fileIndex, sourcePacket: filePacket, limits: limits)
        if var scratch = scratchPool.popLast() { connection.sink.session.install(&scratch) }
        nextIndex += 1
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = Int(free)
            connections[slot] = connection
        } else {
            slot = connections.count
            connections.append(connection)
        }
        live += 1
        liveTable.set(Int32(slot + 1), for: key)
    }

    // MARK: - Finishing connections

    /// Finishes the connection in `slot` and queues its dialogue.
    private mutating func finish(slot: Int, fallback: DialogueEnd, evictedByLimit: Bool = false, keepInTable: Bool = false) {
        guard var connection = connections[slot].take() else { return }
        freeSlots.append(Int32(slot))
        live -= 1
        connection.finish()
        if !keepInTable {
            liveTable.remove(connection.key, ifValue: Int32(slot + 1))
            remember(connection)
        }
        let dialogue = makeDialogue(&connection, fallback: fallback, evictedByLimit: evictedByLimit)
        account(dialogue, connection: &connection)
        ready.append(dialogue)
        if scratchPool.count < 64 { scratchPool.append(connection.sink.session.takeScratch()) }
    }

    /// Working arrays of finished sessions, for new ones.
    private var scratchPool: [SMTPSession.Scratch] = []

    /// Replaces the table entry with a closed-flow record.
    private mutating func remember(_ connection: Connection) {
        if closed.count < Self.closedCapacity {
            closed.append(ClosedFlow(key: connection.key, nextA: 0, nextB: 0, knownA: false, knownB: false, time: 0, valid: false))
        }
        let index = closedNext
        closedNext = (closedNext + 1) % Self.closedCapacity
        let old = closed[index]
        if old.valid { closedTable.remove(old.key, ifValue: Int32(index + 1)) }
        closed[index] = ClosedFlow(
            key: connection.key,
            nextA: connection.a.next &+ (connection.a.finSeen ? 1 : 0),
            nextB: connection.b.next &+ (connection.b.finSeen ? 1 : 0),
            knownA: connection.a.baseKnown, knownB: connection.b.baseKnown, time: now, valid: true)
        closedTable.set(Int32(index + 1), for: connection.key)
    }

    /// Flushes the least recently active eighth of the live connections (the limit was hit).
    private mutating func evictLeastRecentlyActive() {
        var candidates: [(Double, Int)] = []
        candidates.reserveCapacity(live)
        for (slot, connection) in connections.enumerated() {
            if let connection { candidates.append((connection.lastActivity, slot)) }
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
        for (slot, connection) in connections.enumerated() {
            if let connection, now - connection.lastActivity > options.idleTimeout {
                idle.append((connection.index, slot))
            }
        }
        for (_, slot) in idle.sorted(by: { $0.0 < $1.0 }) {
            finish(slot: slot, fallback: .evicted)
        }
    }

    /// The end of the input: every live connection is flushed, in index order.
    mutating func finishAll() {
        var open: [(Int, Int)] = []
        for (slot, connection) in connections.enumerated() {
            if let connection { open.append((connection.index, slot)) }
        }
        for (_, slot) in open.sorted(by: { $0.0 < $1.0 }) {
            finish(slot: slot, fallback: .captureEnded)
        }
        fragments.dropAll()
        summary.droppedFragments += fragments.dropped
        fragments.dropped = 0
        if fragments.limitHits > 0 {
            summary.limitsHit[.fragmentBytes, default: 0] += fragments.limitHits
            fragments.limitHits = 0
        }
    }

    // MARK: - Dialogues

    /// Address texts already made: a small direct-mapped cache.
    private var addressTexts = [(IPAddress, String)?](repeating: nil, count: 1024)

    private mutating func text(of address: IPAddress) -> String {
        let mixed = (address.lo ^ address.hi) &* 0x9E37_79B9_7F4A_7C15
        let slot = Int(truncatingIfNeeded: mixed >> 54)
        if let (cached, text) = addressTexts[slot], cached == address { return text }
        let text = address.text
        addressTexts[slot] = (address, text)
        return text
    }

    private mutating func makeDialogue(_ connection: inout Connection, fallback: DialogueEnd, evictedByLimit: Bool) -> Dialogue {
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
            encrypted: connection.sink.session.encrypted, problems: problems, sourceFile: fileNames[connection.sourceFile],
            sourcePacket: connection.sourcePacket, clientPTR: ptr.isEmpty ? nil : ptr[client.ip],
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

    private mutating func account(_ dialogue: Dialogue, connection: inout Connection) {
        summary.connections += 1
        if dialogue.problems.isEmpty { summary.completeConnections += 1 } else { summary.incompleteConnections += 1 }
        if dialogue.midstream { summary.midstreamConnections += 1 }
        endCounts[Int(dialogue.end.index)] += 1
        if !dialogue.problems.isEmpty {
            var kinds = Set<DialogueProblem.Kind>()
            for problem in dialogue.problems {
                kinds.insert(problem.kind)
                if let limit = problem.limit { summary.limitsHit[limit, default: 0] += 1 }
            }
            for kind in kinds { summary.problems[kind, default: 0] += 1 }
        }
        summary.steps += dialogue.steps.count
        summary.unobservableSteps += connection.sink.session.unobservableCount
        summary.retransmittedSegments += connection.sink.counters.retransmitted
        summary.outOfOrderSegments += connection.sink.counters.outOfOrder
        for gap in connection.sink.session.client.gaps where gap.reason == .lost || gap.reason == .limit(.outOfOrderBytes) {
            summary.gaps += 1
            summary.lostBytes += Int(gap.lost)
        }
        for gap in connection.sink.session.server.gaps where gap.reason == .lost || gap.reason == .limit(.outOfOrderBytes) {
            summary.gaps += 1
            summary.lostBytes += Int(gap.lost)
        }
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

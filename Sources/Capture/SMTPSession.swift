// SMTP dialogue reconstruction for one connection: splits the client's bytes into commands,
// message bodies, AUTH responses and BDAT chunks, the server's bytes into (multi-line)
// replies, and pairs them.
//
// Pairing is by order (reply 0 is the greeting, reply n answers step n): qmail-smtpd answers
// every command line exactly once, PIPELINING included. Two safeguards keep it honest:
//
// * A reply whose TCP acknowledgement shows the server had not yet received the whole step
//   cannot answer it: it is set aside as unpaired.
// * After a capture gap (or at the start of a mid-stream capture) the count of commands is
//   unknown, so pairing stops ("unaligned") until a lock-step exchange re-anchors it: an intact
//   step that starts exactly where the server's previous reply acknowledged and ends exactly
//   where a reply acknowledges. Steps in between are unobservable, never guessed.
//
// What a client line is depends on the reply to the previous step (DATA + 354 = body, AUTH +
// 334 = credentials, STARTTLS + 220 = encryption), so the client side waits for that reply
// before reading on; when it never comes, the client's own next line decides.

/// A step while the connection is being read (offsets into the client stream).
struct StepRecord {
    var kind: DialogueStep.Kind
    var verb: SMTPVerb
    var start: Int
    var end: Int
    var absStart: Int64
    var absEnd: Int64
    /// The step starts at a known line boundary (no capture gap right before it).
    var startKnown: Bool
    /// Client bytes of this step that were not kept.
    var lost: Int64
    /// Lost bytes may have held line ends (other steps): the command count is unknown.
    var hidesLines = false
    var packet: Int
    var time: Double
    /// Index into `replies`, or -1.
    var reply: Int32 = -1
    var unobservable: UnobservableReason?
    /// Still receiving bytes (a BDAT chunk).
    var open = false
}

/// A server reply while the connection is being read (offsets into the server stream).
struct ReplyRecord {
    var start: Int
    var end: Int
    var code: Int16
    /// Server bytes of this reply that were not kept.
    var lost: Int64
    /// Lost bytes may have held line ends (other replies).
    var hidesLines = false
    /// Server bytes were lost just before this reply: earlier replies may be missing.
    var gapBefore: Bool
    var unterminated: Bool
    var firstPacket: Int
    var lastPacket: Int
    var ack: UInt32
    var hasAck: Bool

    var isComplete: Bool { lost == 0 && !gapBefore && !unterminated }
}

struct SMTPSession {
    enum ClientMode: Equatable {
        case command
        /// Mid-stream start: skip lines until one starts with a known verb.
        case unsynchronised
        /// What follows step n depends on its reply.
        case awaiting(Int)
        case authResponse
        /// Inside a message body that starts at kept offset `start`; `scan` is where the search
        /// for the final `.` line resumes.
        case body(start: Int, scan: Int)
        /// Inside the chunk of BDAT step `step`, which ends at absolute offset `end`.
        case bdat(step: Int, end: Int64)
        case encrypted
    }

    enum Greeting: Equatable {
        case undecided
        case none
        case reply(Int)
    }

    var maxLine: Int
    var maxBytes: Int

    var client = StreamBuffer()
    var server = StreamBuffer()
    var clientMode: ClientMode
    var clientPosition = 0
    var steps: [StepRecord] = []
    /// Finds the arrival of each new step's first byte (steps start at increasing offsets).
    private var stepArrivals = ArrivalCursor()
    /// Client bytes skipped before the first recognisable command (mid-stream start).
    var skipped: Int64 = 0

    var serverEncrypted = false
    var serverPosition = 0
    var openReply: ReplyRecord?
    var replies: [ReplyRecord] = []

    var greeting: Greeting = .undecided
    var aligned: Bool
    var nextStep = 0
    var nextReply = 0
    var anchorFrom = 0
    /// Alignment was lost at a gap after a known point (not at a mid-stream start).
    var countKnownBeforeGap = false
    var unpaired: [Int32] = []
    /// The sequence number of client stream offset 0, to read the server's acknowledgements.
    var clientBase: UInt32?
    var midstream: Bool
    /// Whether the EHLO reply advertised CHUNKING (nil: no EHLO reply seen).
    var chunking: Bool?
    /// The reply after which the server's bytes are encrypted (STARTTLS accepted).
    var tlsReply: Int?
    var encrypted = false
    /// Limits exceeded (counted once per kind).
    var limitsHit: Set<CaptureLimits.Kind> = []
    /// A step or reply ended without its line terminator.
    var unterminatedSeen = false

    init(maxLine: Int, maxBytes: Int, midstream: Bool) {
        self.maxLine = maxLine
        self.maxBytes = maxBytes
        self.midstream = midstream
        self.clientMode = midstream ? .unsynchronised : .command
        self.aligned = !midstream
    }

    /// Working arrays a finished session hands to the next one (fewer allocations).
    struct Scratch {
        var steps: [StepRecord] = []
        var replies: [ReplyRecord] = []
        var clientArrivals: [Arrival] = []
        var serverArrivals: [Arrival] = []
        var clientStore = ByteStore()
        var serverStore = ByteStore()
    }

    /// Moves the working arrays out (emptied, capacity kept); the session is done with them.
    mutating func takeScratch() -> Scratch {
        var scratch = Scratch()
        swap(&scratch.steps, &steps)
        swap(&scratch.replies, &replies)
        swap(&scratch.clientArrivals, &client.arrivals)
        swap(&scratch.serverArrivals, &server.arrivals)
        scratch.steps.removeAll(keepingCapacity: true)
        scratch.replies.removeAll(keepingCapacity: true)
        scratch.clientArrivals.removeAll(keepingCapacity: true)
        scratch.serverArrivals.removeAll(keepingCapacity: true)
        // The stores are empty once the streams were parsed.
        if client.store.count == 0 { swap(&scratch.clientStore, &client.store) }
        if server.store.count == 0 { swap(&scratch.serverStore, &server.store) }
        return scratch
    }

    /// Lets go of the byte streams (the dialogue built from them holds them now).
    mutating func dropStreams() {
        client.bytes = []
        server.bytes = []
    }

    /// Uses arrays left by an earlier session (must be empty).
    mutating func install(_ scratch: inout Scratch) {
        swap(&scratch.steps, &steps)
        swap(&scratch.replies, &replies)
        swap(&scratch.clientArrivals, &client.arrivals)
        swap(&scratch.serverArrivals, &server.arrivals)
        swap(&scratch.clientStore, &client.store)
        swap(&scratch.serverStore, &server.store)
    }

    /// The connection's start was seen after all (its SYN came later in the file than its
    /// first data): reads it as a connection seen from the start, if nothing was decided yet.
    mutating func startFromBeginning() -> Bool {
        guard midstream, greeting == .undecided, skipped == 0 else { return false }
        midstream = false
        aligned = true
        if clientMode == .unsynchronised { clientMode = .command }
        advance(final: false)
        return true
    }

    private var room: Int { max(0, maxBytes - client.keptCount - server.keptCount) }

    // MARK: - Input

    /// Client bytes `source[range]`, in order.
    mutating func clientSent<S: ByteSource>(_ source: S, _ range: Range<Int>, arrival: Arrival) {
        if clientMode == .encrypted {
            client.encryptedBytes += Int64(range.count)
            client.touched = true
            return
        }
        let gapsBefore = client.gaps.count
        client.append(source, range, arrival: arrival, room: room, maxLine: maxLine, initialCapacity: 1024)
        if client.gaps.count != gapsBefore { noteLimits(client.gaps[gapsBefore...]) }
        if client.keptCount - clientPosition > Self.eagerParseThreshold { advance(final: false) }
    }

    /// Server bytes `source[range]`, in order; `arrival.ack` acknowledges client bytes.
    mutating func serverSent<S: ByteSource>(_ source: S, _ range: Range<Int>, arrival: Arrival) {
        if serverEncrypted {
            server.encryptedBytes += Int64(range.count)
            server.touched = true
            return
        }
        let gapsBefore = server.gaps.count
        server.append(source, range, arrival: arrival, room: room, maxLine: maxLine, initialCapacity: 256)
        if server.gaps.count != gapsBefore { noteLimits(server.gaps[gapsBefore...]) }
        if server.keptCount - serverPosition > Self.eagerParseThreshold { advance(final: false) }
    }

    /// `count` client bytes that were not captured.
    mutating func clientLost(_ count: Int64, reason: GapReason) {
        guard count > 0 else { return }
        if clientMode == .encrypted {
            client.encryptedBytes += count
            return
        }
        client.addGap(count, reason: reason)
        if case .limit(let kind) = reason { limitsHit.insert(kind) }
    }

    /// `count` server bytes that were not captured.
    mutating func serverLost(_ count: Int64, reason: GapReason) {
        guard count > 0 else { return }
        if serverEncrypted {
            server.encryptedBytes += count
            return
        }
        server.addGap(count, reason: reason)
        if case .limit(let kind) = reason { limitsHit.insert(kind) }
    }

    private mutating func noteLimits(_ gaps: ArraySlice<StreamGap>) {
        for gap in gaps {
            if case .limit(let kind) = gap.reason { limitsHit.insert(kind) }
        }
    }

    /// Bytes are parsed when the connection finishes, or as soon as this many are waiting (so
    /// long connections are read as they go and encrypted data stops being kept).
    static let eagerParseThreshold = 64 * 1024

    /// Reads everything that can be read now; with `final`, everything (the connection ended).
    mutating func advance(final: Bool) {
        client.materialize()
        server.materialize()
        while round(final: false) {}
        guard final else { return }
        // The end: the last unterminated lines, then what is still undecided (only once all
        // the replies are in), then whatever is left without a pair.
        repeat {
            while round(final: true) {}
        } while finishPairing()
    }

    /// One pass over both sides and the pairing; whether anything changed.
    private mutating func round(final: Bool) -> Bool {
        var progressed = parseReply(final: final)
        progressed = pair(final: final) || progressed
        progressed = parseClient(final: final) || progressed
        progressed = pair(final: final) || progressed
        return progressed
    }

    // MARK: - Client side

    /// Splits a client line that has capture gaps in it: where the text after a gap starts with
    /// a verb, a new command starts there (the lost bytes ended the line before). Appends the
    /// pieces before the last such point (a placeholder step when nothing of a piece was kept)
    /// and returns where the line's last piece starts (nil: no such point).
    private mutating func appendBrokenPieces(start: Int, end: Int, kind: DialogueStep.Kind) -> Int? {
        let cuts = client.gapPositions(from: start, to: end).filter {
            $0 < end && SMTPVerb.of(client.bytes, $0..<end) != .other
        }
        if cuts.isEmpty { return nil }
        var pieceStart = start
        for cut in cuts {
            appendStep(
                kind: kind, verb: .other, start: pieceStart, end: cut, unterminated: false,
                gapAtStartIsPrevious: pieceStart != start, gapAtEnd: true)
            pieceStart = cut
        }
        return pieceStart
    }

    private mutating func appendStep(
        kind: DialogueStep.Kind, verb: SMTPVerb, start: Int, end: Int, unterminated: Bool,
        gapAtStartIsPrevious: Bool = false, gapAtEnd: Bool = false
    ) {
        if steps.capacity == 0 { steps.reserveCapacity(16) }
        var loss = client.lost(in: start, end, includingEnd: unterminated || gapAtEnd)
        if gapAtStartIsPrevious {
            // The gap at the start was counted with the piece before.
            let rest = end > start
                ? client.lost(in: start + 1, end, includingEnd: unterminated || gapAtEnd)
                : (bytes: 0, reason: nil, atStart: false, hidesLines: false)
            loss = (rest.bytes, rest.reason, false, rest.hidesLines)
        }
        let arrival = stepArrivals.arrival(at: start, in: client.arrivals)
        // Lost bytes at the start belong to this step (unless counted with the piece before), at
        // the end only to a piece that a gap ends.
        var step = StepRecord(
            kind: kind, verb: verb, start: start, end: end,
            absStart: gapAtStartIsPrevious ? client.absStart(start) : client.absEnd(start),
            absEnd: unterminated || gapAtEnd ? client.absStart(end) : client.absEnd(end),
            startKnown: !loss.atStart, lost: loss.bytes, hidesLines: loss.hidesLines,
            packet: arrival.packet, time: arrival.time)
        if loss.bytes > 0 {
            step.unobservable = Self.reason(for: loss.reason, bytes: loss.bytes)
        } else if unterminated {
            step.unobservable = .unterminated
        }
        if unterminated { unterminatedSeen = true }
        steps.append(step)
    }

    static func reason(for gap: GapReason?, bytes: Int64) -> UnobservableReason {
        switch gap {
        case .limit(let kind): .limit(kind)
        case .lost, .snaplen, nil: .clientDataLost(bytes: Int(bytes))
        }
    }

    /// Splits client bytes into steps as far as the replies seen so far allow.
    private mutating func parseClient(final: Bool) -> Bool {
        var progressed = false
        while true {
            let count = client.bytes.count
            switch clientMode {
            case .encrypted:
                if clientPosition < count {
                    client.encryptedBytes += Int64(count - clientPosition)
                    clientPosition = count
                }
                return progressed

            case .awaiting(let index):
                guard let next = modeAfter(step: index, final: final) else { return progressed }
                clientMode = next
                progressed = true

            case .command, .authResponse, .unsynchronised:
                guard clientPosition < count else { return progressed }
                let start = clientPosition
                // A TLS record (ClientHello) where a command should be: encrypted from here.
                if client.bytes[start] == 0x16 && clientMode != .authResponse {
                    if start + 1 < count {
                        if client.bytes[start + 1] == 0x03 {
                            enterEncryption()
                            progressed = true
                            continue
                        }
                    } else if !final {
                        return progressed
                    }
                }
                let lineEnd: Int
                let unterminated: Bool
                if let lf = ByteSearch.firstIndex(of: SMTPText.lf, in: client.bytes, range: start..<count) {
                    lineEnd = lf + 1
                    unterminated = false
                } else if final {
                    lineEnd = count
                    unterminated = true
                } else {
                    return progressed
                }
                let verb = SMTPVerb.of(client.bytes, start..<lineEnd)
                if verb == .bdat && chunking == nil && !final && clientMode == .command
                    && steps[nextStep...].contains(where: { $0.verb == .ehlo })
                {
                    // Whether BDAT carries a chunk depends on the EHLO reply (CHUNKING).
                    return progressed
                }
                progressed = true
                if clientMode == .unsynchronised {
                    let loss = client.lost(in: start, lineEnd, includingEnd: unterminated)
                    if verb == .other || loss.bytes > 0 || (loss.atStart && start > 0) {
                        skipped += Int64(lineEnd - start) + loss.bytes
                        clientPosition = lineEnd
                        continue
                    }
                    clientMode = .command
                }
                var kind: DialogueStep.Kind = clientMode == .authResponse ? .authResponse : .command
                var lineStart = start
                var split = false
                if !client.gaps.isEmpty, let last = appendBrokenPieces(start: start, end: lineEnd, kind: kind) {
                    lineStart = last
                    split = true
                    kind = .command
                }
                let lineVerb = lineStart == start ? verb : SMTPVerb.of(client.bytes, lineStart..<lineEnd)
                appendStep(
                    kind: kind, verb: kind == .command ? lineVerb : .other, start: lineStart, end: lineEnd,
                    unterminated: unterminated, gapAtStartIsPrevious: split)
                clientPosition = lineEnd
                let index = steps.count - 1
                if unterminated || steps[index].lost > 0 {
                    clientMode = .command
                } else if kind == .authResponse {
                    clientMode = .awaiting(index)
                } else {
                    switch lineVerb {
                    case .data, .auth, .starttls:
                        clientMode = .awaiting(index)
                    case .bdat:
                        if chunking != false, let size = Self.bdatSize(client.bytes, lineStart..<lineEnd) {
                            steps[index].kind = .bdatChunk
                            steps[index].open = true
                            clientMode = .bdat(step: index, end: steps[index].absEnd + size)
                        } else {
                            clientMode = .command
                        }
                    default:
                        clientMode = .command
                    }
                }

            case .body(let start, let scan):
                switch findBodyEnd(start: start, scan: scan) {
                case .found(let end):
                    appendStep(kind: .dataBody, verb: .other, start: start, end: end, unterminated: false)
                    clientPosition = end
                    clientMode = .command
                    progressed = true
                case .notYet(let resume):
                    if final {
                        if count > start || client.lost(in: start, count, includingEnd: true).bytes > 0 {
                            appendStep(kind: .dataBody, verb: .other, start: start, end: count, unterminated: true)
                        }
                        clientPosition = count
                        clientMode = .command
                        return true
                    }
                    if resume != scan {
                        clientMode = .body(start: start, scan: resume)
                    }
                    return progressed
                }

            case .bdat(let index, let endAbs):
                let target = client.keptOffset(forAbs: endAbs)
                let reached = client.absEnd(count) >= endAbs
                let end = reached ? max(target, steps[index].end) : count
                if end != steps[index].end {
                    let loss = client.lost(in: steps[index].start, end)
                    steps[index].end = end
                    steps[index].absEnd = client.absEnd(end)
                    steps[index].lost = loss.bytes
                    steps[index].hidesLines = loss.hidesLines
                    if loss.bytes > 0 { steps[index].unobservable = Self.reason(for: loss.reason, bytes: loss.bytes) }
                    progressed = true
                }
                clientPosition = end
                if reached {
                    steps[index].absEnd = min(steps[index].absEnd, endAbs)
                    steps[index].open = false
                    clientMode = .command
                    progressed = true
                } else if final {
                    let loss = client.lost(in: steps[index].start, end, includingEnd: true)
                    steps[index].lost = loss.bytes
                    steps[index].open = false
                    if steps[index].unobservable == nil {
                        steps[index].unobservable = loss.bytes > 0 ? Self.reason(for: loss.reason, bytes: loss.bytes) : .unterminated
                        if loss.bytes == 0 { unterminatedSeen = true }
                    }
                    clientMode = .command
                    return true
                } else {
                    return progressed
                }
            }
        }
    }

    private mutating func enterEncryption() {
        encrypted = true
        clientMode = .encrypted
    }

    /// What the client sends after step `index`, once its reply is known (nil: not yet).
    /// (Mutating only so that the caller lends the session rather than copying all of it.)
    private mutating func modeAfter(step index: Int, final: Bool) -> ClientMode? {
        let step = steps[index]
        if step.reply >= 0, replies[Int(step.reply)].code >= 0 {
            let code = Int(replies[Int(step.reply)].code)
            switch (step.kind, step.verb) {
            case (.authResponse, _), (_, .auth):
                return code == 334 ? .authResponse : .command
            case (_, .data):
                return code == 354 ? .body(start: clientPosition, scan: clientPosition) : .command
            case (_, .starttls):
                return code == 220 ? .encrypted : .command
            default:
                return .command
            }
        }
        // No usable reply (yet). While it may still come, wait; at the end, the client's own
        // next line shows what it did.
        guard final || step.unobservable != nil && step.reply < 0 && !waitingForReply(index) else { return nil }
        let count = client.bytes.count
        let start = clientPosition
        guard start < count else { return final ? .command : nil }
        let lineEnd = ByteSearch.firstIndex(of: SMTPText.lf, in: client.bytes, range: start..<count).map { $0 + 1 }
        guard let lineEnd = lineEnd ?? (final ? count : nil) else { return nil }
        let nextIsCommand = SMTPVerb.of(client.bytes, start..<lineEnd) != .other
        switch (step.kind, step.verb) {
        case (.authResponse, _), (_, .auth):
            return nextIsCommand ? .command : .authResponse
        case (_, .data):
            return nextIsCommand ? .command : .body(start: start, scan: start)
        case (_, .starttls):
            return client.bytes[start] == 0x16 ? .encrypted : .command
        default:
            return .command
        }
    }

    /// Whether pairing may still give step `index` a reply.
    private func waitingForReply(_ index: Int) -> Bool {
        index >= nextStep
    }

    enum BodyEnd {
        case found(Int)
        case notYet(resume: Int)
    }

    /// Looks for the line holding only "." (CRLF or LF) that ends a body starting at `start`.
    /// (Mutating only so that the caller lends the session rather than copying all of it.)
    private mutating func findBodyEnd(start: Int, scan: Int) -> BodyEnd {
        let bytes = client.bytes
        let count = bytes.count
        // An empty body: "." right at the start.
        if scan == start {
            if start + 1 >= count { return .notYet(resume: start) }
            if bytes[start] == 0x2E && !client.lost(in: start, start + 1).atStart {
                if bytes[start + 1] == SMTPText.lf && !client.hasGap(strictlyInside: start, start + 2) {
                    return .found(start + 2)
                }
                if bytes[start + 1] == SMTPText.cr {
                    if start + 2 >= count { return .notYet(resume: start) }
                    if bytes[start + 2] == SMTPText.lf && !client.hasGap(strictlyInside: start, start + 3) {
                        return .found(start + 3)
                    }
                }
            }
        }
        // The first line feed at or after `position` followed by ".", LF or ".", CR, LF. Dots are
        // searched for rather than line feeds: bodies have fewer of them (base64 none at all).
        let position = max(scan, start)
        var next = position + 1
        while next < count, let dot = ByteSearch.firstIndex(of: 0x2E, in: bytes, range: next..<count) {
            let lf = dot - 1
            if bytes[lf] == SMTPText.lf && dot + 1 < count {
                var end: Int?
                if bytes[dot + 1] == SMTPText.lf {
                    end = dot + 2
                } else if bytes[dot + 1] == SMTPText.cr && dot + 2 < count && bytes[dot + 2] == SMTPText.lf {
                    end = dot + 3
                }
                if let end, !client.hasGap(strictlyInside: lf, end) { return .found(end) }
            }
            next = dot + 1
        }
        // Every line feed before the last three bytes is settled (all the bytes that decide it
        // are here, and gaps are only ever added at the end); the later ones may still end it.
        return .notYet(resume: max(position, count - 3))
    }

    /// The size of `BDAT <size> [LAST]`.
    static func bdatSize(_ bytes: [UInt8], _ range: Range<Int>) -> Int64? {
        var index = range.lowerBound + 4
        while index < range.upperBound && (bytes[index] == 0x20 || bytes[index] == 0x09) { index += 1 }
        var size: Int64 = 0
        var digits = 0
        while index < range.upperBound, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
            size = size * 10 + Int64(bytes[index] - 0x30)
            digits += 1
            guard digits <= 15 else { return nil }
            index += 1
        }
        return digits > 0 ? size : nil
    }

    // MARK: - Server side

    /// Parses the complete replies available (stopping where the server starts TLS).
    private mutating func parseReply(final: Bool) -> Bool {
        if serverEncrypted { return false }
        if let tlsReply, replies.count > tlsReply {
            enterServerEncryption()
            return false
        }
        let count = server.bytes.count
        let before = replies.count
        if replies.capacity == 0 { replies.reserveCapacity(16) }
        var cursor = ArrivalCursor()
        while serverPosition < count {
            let start = serverPosition
            // A TLS record where a reply should be: the server is encrypting.
            if server.bytes[start] == 0x16 && openReply == nil {
                if start + 1 < count {
                    if server.bytes[start + 1] == 0x03 {
                        enterServerEncryption()
                        return true
                    }
                } else if !final {
                    break
                }
            }
            let lineEnd: Int
            let unterminated: Bool
            if let lf = ByteSearch.firstIndex(of: SMTPText.lf, in: server.bytes, range: start..<count) {
                lineEnd = lf + 1
                unterminated = false
            } else if final {
                lineEnd = count
                unterminated = true
            } else {
                break
            }
            let parsed = SMTPText.replyCode(server.bytes, start..<lineEnd)
            serverPosition = lineEnd
            if openReply == nil, let parsed, !parsed.continued || unterminated {
                // A one-line reply (the usual case): recorded straight away.
                let first = cursor.arrival(at: start, in: server.arrivals)
                var reply = ReplyRecord(
                    start: start, end: lineEnd, code: Int16(parsed.code), lost: 0,
                    gapBefore: !server.gaps.isEmpty && server.lost(in: start, start).atStart,
                    unterminated: unterminated, firstPacket: first.packet,
                    lastPacket: cursor.arrival(at: lineEnd - 1, in: server.arrivals).packet,
                    ack: first.ack, hasAck: first.hasAck)
                if !server.gaps.isEmpty {
                    let loss = server.lost(in: start, lineEnd, includingEnd: unterminated)
                    reply.lost = loss.bytes
                    reply.hidesLines = loss.hidesLines
                }
                if unterminated { unterminatedSeen = true }
                replies.append(reply)
                if tlsReply != nil || steps.last?.verb == .starttls { break }
                continue
            }
            if openReply == nil {
                let arrival = cursor.arrival(at: start, in: server.arrivals)
                openReply = ReplyRecord(
                    start: start, end: lineEnd, code: Int16(parsed?.code ?? -1), lost: 0,
                    gapBefore: !server.gaps.isEmpty && server.lost(in: start, start).atStart,
                    unterminated: false, firstPacket: arrival.packet, lastPacket: arrival.packet,
                    ack: arrival.ack, hasAck: arrival.hasAck)
            }
            let continued: Bool
            if let parsed {
                continued = parsed.continued
            } else {
                // A line without a code continues a multi-line reply, or stands alone.
                continued = openReply!.code >= 0 && openReply!.start != start
            }
            if continued && !unterminated { continue }
            var reply = openReply!
            openReply = nil
            reply.end = lineEnd
            reply.lastPacket = cursor.arrival(at: lineEnd - 1, in: server.arrivals).packet
            if !server.gaps.isEmpty {
                let loss = server.lost(in: reply.start, reply.end, includingEnd: unterminated)
                reply.lost = loss.bytes
                reply.hidesLines = loss.hidesLines
            }
            reply.unterminated = unterminated
            if unterminated { unterminatedSeen = true }
            replies.append(reply)
            if tlsReply != nil || steps.last?.verb == .starttls { break }
        }
        return replies.count != before
    }

    private mutating func enterServerEncryption() {
        serverEncrypted = true
        encrypted = true
        if serverPosition < server.bytes.count {
            server.encryptedBytes += Int64(server.bytes.count - serverPosition)
            serverPosition = server.bytes.count
        }
        openReply = nil
    }

    // MARK: - Pairing

    /// The client stream offset a reply acknowledged, when known.
    private func ackOffset(_ reply: ReplyRecord) -> UInt32? {
        guard reply.hasAck, let clientBase else { return nil }
        return reply.ack &- clientBase
    }

    /// Pairs steps with replies; returns whether anything changed.
    private mutating func pair(final: Bool) -> Bool {
        var progressed = false
        if greeting == .undecided {
            guard decideGreeting(final: final) else { return false }
            progressed = true
        }
        while nextStep < steps.count {
            let step = steps[nextStep]
            if aligned {
                if step.hidesLines || !step.startKnown {
                    // Lost client bytes may have held whole commands: the count is unknown.
                    loseAlignment()
                    progressed = true
                    continue
                }
                guard nextReply < replies.count else { break }
                let reply = replies[nextReply]
                if reply.gapBefore {
                    loseAlignment()
                    progressed = true
                    continue
                }
                if let acked = ackOffset(reply), Self.before(acked, UInt32(truncatingIfNeeded: step.absEnd)) {
                    // Sent before the server had the whole step: not its reply.
                    if step.open { break }
                    unpaired.append(Int32(nextReply))
                    nextReply += 1
                    progressed = true
                    continue
                }
                assign(reply: nextReply, reply, to: nextStep, verb: step.verb)
                nextReply += 1
                nextStep += 1
                progressed = true
                if reply.hidesLines || reply.gapBefore { loseAlignment() }
            } else if let (stepIndex, replyIndex) = findAnchor() {
                if countKnownBeforeGap && stepIndex - nextStep == replyIndex - nextReply {
                    // As many replies as steps between two sure points: they pair in order
                    // (the server answered exactly the commands the capture shows, even if part
                    // of one was lost).
                    for offset in 0..<(stepIndex - nextStep) {
                        assign(reply: nextReply + offset, to: nextStep + offset)
                    }
                } else {
                    for index in nextStep..<stepIndex where steps[index].unobservable == nil {
                        steps[index].unobservable = .unaligned
                    }
                    for index in nextReply..<replyIndex { unpaired.append(Int32(index)) }
                }
                assign(reply: replyIndex, to: stepIndex)
                nextStep = stepIndex + 1
                nextReply = replyIndex + 1
                aligned = true
                progressed = true
            } else {
                break
            }
        }
        if let tlsReply, replies.count > tlsReply, !serverEncrypted {
            enterServerEncryption()
            progressed = true
        }
        return progressed
    }

    /// Pairing by order stops at a gap; the count of steps and replies before it is known
    /// (unlike at a mid-stream start).
    private mutating func loseAlignment() {
        aligned = false
        countKnownBeforeGap = true
    }

    private mutating func assign(reply replyIndex: Int, to stepIndex: Int) {
        assign(reply: replyIndex, replies[replyIndex], to: stepIndex, verb: steps[stepIndex].verb)
    }

    /// Pairs reply `replyIndex` (`reply`) with step `stepIndex`, whose verb is `verb`.
    private mutating func assign(reply replyIndex: Int, _ reply: ReplyRecord, to stepIndex: Int, verb: SMTPVerb) {
        steps[stepIndex].reply = Int32(replyIndex)
        if !reply.isComplete && steps[stepIndex].unobservable == nil {
            steps[stepIndex].unobservable = reply.unterminated && reply.lost == 0
                ? .unterminated : .replyLost(bytes: Int(reply.lost))
        }
        if verb == .ehlo && reply.code >= 200 && reply.code < 300 {
            chunking = Self.advertises(server.bytes[reply.start..<reply.end], "CHUNKING")
        }
        if verb == .starttls && reply.code == 220 {
            tlsReply = replyIndex
        }
    }

    /// Whether an EHLO reply lists `keyword`.
    private static func advertises(_ reply: ArraySlice<UInt8>, _ keyword: String) -> Bool {
        let wanted = Array(keyword.utf8)
        for line in SMTPText.lines(of: reply) where line.count >= 4 + wanted.count {
            let word = line.dropFirst(4).prefix { $0 != 0x20 }
            if word.count == wanted.count
                && zip(word, wanted).allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0) == $1 })
            {
                return true
            }
        }
        return false
    }

    private mutating func decideGreeting(final: Bool) -> Bool {
        if midstream {
            guard let first = replies.first else {
                if final { greeting = .none }
                return final
            }
            guard let acked = ackOffset(first) else {
                if final || clientBase != nil {
                    greeting = .none
                    return true
                }
                return false
            }
            if first.code == 220 && first.isComplete && acked == 0 && skipped == 0 {
                greeting = .reply(0)
                nextReply = 1
                aligned = true
                if clientMode == .unsynchronised { clientMode = .command }
            } else {
                greeting = .none
            }
            return true
        }
        if let first = replies.first {
            greeting = .reply(0)
            nextReply = 1
            if !first.isComplete { loseAlignment() }
            return true
        }
        if final {
            greeting = .none
            return true
        }
        return false
    }

    /// Whether sequence offset `a` comes before `b` (wrap-around safe).
    static func before(_ a: UInt32, _ b: UInt32) -> Bool {
        Int32(bitPattern: a &- b) < 0
    }

    /// A lock-step exchange after a gap: an intact step that starts exactly where the server's
    /// previous reply acknowledged and ends exactly where a reply acknowledges.
    private mutating func findAnchor() -> (Int, Int)? {
        guard clientBase != nil else { return nil }
        let parsedUpTo = UInt32(truncatingIfNeeded: client.absStart(clientPosition))
        var index = max(nextReply, anchorFrom, 1)
        var canAdvance = true
        while index < replies.count {
            let reply = replies[index]
            guard reply.isComplete, let acked = ackOffset(reply), let previous = ackOffset(replies[index - 1]) else {
                if canAdvance { anchorFrom = index + 1 }
                index += 1
                continue
            }
            if let stepIndex = step(startingAt: previous) {
                let step = steps[stepIndex]
                if step.startKnown && step.lost == 0 && !step.open && step.unobservable == nil
                    && UInt32(truncatingIfNeeded: step.absEnd) == acked
                {
                    return (stepIndex, index)
                }
            }
            // Steps parsed so far reach past this reply's acknowledgement: it can never anchor.
            if canAdvance && !Self.before(parsedUpTo, acked) {
                anchorFrom = index + 1
            } else {
                canAdvance = false
            }
            index += 1
        }
        return nil
    }

    /// The unpaired step (at or after `nextStep`) starting at client offset `offset`.
    private func step(startingAt offset: UInt32) -> Int? {
        var low = nextStep
        var high = steps.count
        let target = Int64(offset)
        while low < high {
            let mid = (low + high) / 2
            let start = steps[mid].absStart & 0xFFFF_FFFF
            if start < target { low = mid + 1 } else { high = mid }
        }
        guard low < steps.count, steps[low].absStart & 0xFFFF_FFFF == target else { return nil }
        return low
    }

    /// At the end: every step left without a reply gets its reason, every reply left over is
    /// unpaired.
    private mutating func finishPairing() -> Bool {
        var progressed = false
        while nextStep < steps.count {
            if steps[nextStep].unobservable == nil {
                steps[nextStep].unobservable = aligned ? noReplyReason : .unaligned
            }
            nextStep += 1
            progressed = true
        }
        while nextReply < replies.count {
            unpaired.append(Int32(nextReply))
            nextReply += 1
            progressed = true
        }
        return progressed
    }

    /// Why steps left without a reply at the end have none (set by the connection; nil when the
    /// server closed or reset: then there was no reply to see).
    var noReplyReason: UnobservableReason?

    /// Finishes reading: everything left is resolved.
    mutating func finish(noReplyReason: UnobservableReason?) {
        self.noReplyReason = noReplyReason
        advance(final: true)
    }

    // MARK: - Result


    /// The reply as a public value, slicing `stream`.
    /// (Inlined: called on a session that is part of a connection being changed, a call would
    /// copy the whole session first.)
    @inline(__always)
    func makeReply(_ index: Int, stream: [UInt8]) -> ServerReply {
        let record = replies[index]
        return ServerReply(
            code: record.code >= 0 ? Int(record.code) : nil,
            bytes: stream[record.start..<record.end], isComplete: record.isComplete)
    }

    /// The steps as public values (batches numbered), slicing the two streams.
    /// (Mutating only so that the caller lends the session rather than copying all of it.)
    mutating func makeSteps(client clientStream: [UInt8], server serverStream: [UInt8]) -> [DialogueStep] {
        var result: [DialogueStep] = []
        result.reserveCapacity(steps.count)
        // A step joins the previous one's flight when it was sent before that step's reply had
        // fully arrived; flights of two or more steps are numbered.
        var batch = 0
        var inBatch = false
        for index in steps.indices {
            let joinsNext = index + 1 < steps.count && joinsPrevious(index + 1)
            var number: Int?
            if joinsNext && !inBatch {
                batch += 1
                inBatch = true
            }
            if inBatch { number = batch }
            if !joinsNext { inBatch = false }
            let record = steps[index]
            result.append(
                DialogueStep(
                    kind: record.kind, clientBytes: clientStream[record.start..<record.end],
                    reply: record.reply >= 0 ? makeReply(Int(record.reply), stream: serverStream) : nil,
                    batch: number, time: record.time, unobservableReason: record.unobservable,
                    lostBytes: Int(record.lost)))
        }
        return result
    }

    /// How many steps are unobservable.
    var unobservableCount: Int {
        var count = 0
        for step in steps where step.unobservable != nil { count += 1 }
        return count
    }

    private func joinsPrevious(_ index: Int) -> Bool {
        let previous = steps[index - 1]
        guard previous.reply >= 0, steps[index].packet > 0 else { return false }
        return steps[index].packet < replies[Int(previous.reply)].lastPacket
    }

    /// Whether the client sent its first step before the greeting had fully arrived.
    var clientSpokeEarly: Bool {
        guard let first = steps.first else {
            return false
        }
        if case .reply(let index) = greeting { return first.packet < replies[index].lastPacket }
        return false
    }
}

// One direction's kept bytes, with the gaps (bytes not kept: lost, cut by snaplen or by a
// limit) and the packet each chunk arrived in.
//
//   absolute offsets  0 ........................................................ absEnd
//   kept bytes        [ bytes[0..<g1] ] (lost n1) [ bytes[g1..<g2] ] (lost n2) [ … ]
//   gaps              StreamGap(at: g1, lost: n1), StreamGap(at: g2, lost: n2)
//
// "Absolute" offsets count every byte the sender sent (TCP sequence space relative to the
// stream's start), "kept" offsets index `bytes`. A gap at kept offset g sits just before
// bytes[g].

/// Why bytes of a stream were not kept.
enum GapReason: Equatable {
    case lost
    case snaplen
    case limit(CaptureLimits.Kind)
}

struct StreamGap {
    /// Kept offset the gap sits before.
    var at: Int
    var lost: Int64
    /// The sum of `lost` over the gaps before this one.
    var lostBefore: Int64
    var reason: GapReason
}

/// Where a chunk of kept bytes came from.
struct Arrival {
    /// Kept offset of the chunk's first byte.
    var at: Int
    /// Packet number in the whole input (1-based).
    var packet: Int
    var time: Double
    /// The TCP acknowledgement number the sender carried (about the other direction).
    var ack: UInt32
    var hasAck: Bool
}

/// Finds arrivals for increasing offsets without searching from the start each time.
struct ArrivalCursor {
    private var index = 0

    @inline(__always)
    mutating func arrival(at offset: Int, in arrivals: [Arrival]) -> Arrival {
        guard !arrivals.isEmpty else { return Arrival(at: 0, packet: 0, time: 0, ack: 0, hasAck: false) }
        if index >= arrivals.count || arrivals[index].at > offset { index = 0 }
        while index + 1 < arrivals.count && arrivals[index + 1].at <= offset { index += 1 }
        return arrivals[index]
    }
}

struct StreamBuffer {
    /// The kept bytes parsed so far; bytes that arrived since wait in `store` (see `materialize`).
    var bytes: [UInt8] = []
    var store = ByteStore()
    var gaps: [StreamGap] = []
    var lost: Int64 = 0
    var arrivals: [Arrival] = []
    /// Bytes (kept or dropped) since the last line feed, for the line length limit.
    var lineLength = 0
    /// Bytes not kept because the stream is encrypted (after STARTTLS).
    var encryptedBytes: Int64 = 0
    /// Whether anything at all was delivered to this stream.
    var touched = false

    /// The number of kept bytes, parsed or not.
    var keptCount: Int { bytes.count + store.count }

    /// The absolute offset just past the last byte.
    var absEnd: Int64 { Int64(keptCount) + lost }

    /// Moves the bytes that arrived into `bytes`, for parsing.
    mutating func materialize() {
        if store.count > 0 { store.drain(into: &bytes) }
    }

    // MARK: - Offsets

    /// The index of the first gap with `at >= offset`.
    private func firstGap(atOrAfter offset: Int) -> Int {
        var low = 0
        var high = gaps.count
        while low < high {
            let mid = (low + high) / 2
            if gaps[mid].at < offset { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Lost bytes before kept offset `offset` (gaps at `offset` excluded).
    @inline(__always)
    func lostBefore(_ offset: Int) -> Int64 {
        if gaps.isEmpty { return 0 }
        let index = firstGap(atOrAfter: offset)
        return index == 0 ? 0 : gaps[index - 1].lostBefore + gaps[index - 1].lost
    }

    /// The absolute offset of the byte at kept offset `offset` (gaps just before it counted).
    @inline(__always)
    func absStart(_ offset: Int) -> Int64 {
        if gaps.isEmpty { return Int64(offset) }
        let index = firstGap(atOrAfter: offset + 1)
        return Int64(offset) + (index == 0 ? 0 : gaps[index - 1].lostBefore + gaps[index - 1].lost)
    }

    /// The absolute offset just after kept byte `offset - 1` (gaps at `offset` not counted).
    @inline(__always)
    func absEnd(_ offset: Int) -> Int64 {
        Int64(offset) + lostBefore(offset)
    }

    /// The bytes missing in a unit of kept bytes `[start, end)` (gaps at `start` count, since
    /// they make the unit's start uncertain; gaps at `end` count only when `includingEnd`), the
    /// reason (a limit if any, else the first), whether one sits at `start`, and whether any of
    /// them may hide line ends (everything but the cut tails of over-long lines).
    @inline(__always)
    func lost(in start: Int, _ end: Int, includingEnd: Bool = false) -> (bytes: Int64, reason: GapReason?, atStart: Bool, hidesLines: Bool) {
        if gaps.isEmpty { return (0, nil, false, false) }
        return lostSlow(in: start, end, includingEnd: includingEnd)
    }

    private func lostSlow(in start: Int, _ end: Int, includingEnd: Bool) -> (bytes: Int64, reason: GapReason?, atStart: Bool, hidesLines: Bool) {
        var index = firstGap(atOrAfter: start)
        var total: Int64 = 0
        var reason: GapReason?
        var atStart = false
        var hidesLines = false
        while index < gaps.count {
            let gap = gaps[index]
            if gap.at > end || (gap.at == end && !includingEnd && end > start) { break }
            if gap.at == start { atStart = true }
            if gap.reason != .limit(.lineLength) { hidesLines = true }
            total += gap.lost
            if reason == nil {
                reason = gap.reason
            } else if case .limit = gap.reason {
                reason = gap.reason
            }
            index += 1
        }
        return (total, reason, atStart, hidesLines)
    }

    /// The kept offsets in `[start, end]` where gaps sit (each once).
    func gapPositions(from start: Int, to end: Int) -> [Int] {
        var positions: [Int] = []
        var index = firstGap(atOrAfter: start)
        while index < gaps.count && gaps[index].at <= end {
            if positions.last != gaps[index].at { positions.append(gaps[index].at) }
            index += 1
        }
        return positions
    }

    /// Whether a gap sits strictly inside `(start, end)`.
    func hasGap(strictlyInside start: Int, _ end: Int) -> Bool {
        guard !gaps.isEmpty else { return false }
        let index = firstGap(atOrAfter: start + 1)
        return index < gaps.count && gaps[index].at < end
    }

    /// The kept offset where absolute offset `target` falls (clamped to the kept bytes).
    func keptOffset(forAbs target: Int64) -> Int {
        // Walk the gaps: kept = target - lost before it, but never inside a gap.
        var lostSoFar: Int64 = 0
        for gap in gaps {
            let gapAbsStart = Int64(gap.at) + lostSoFar
            if target <= gapAbsStart { break }
            if target <= gapAbsStart + gap.lost { return gap.at }
            lostSoFar += gap.lost
        }
        return Int(max(0, min(Int64(bytes.count), target - lostSoFar)))
    }

    // MARK: - Appending

    /// Records `count` bytes that were not kept.
    mutating func addGap(_ count: Int64, reason: GapReason) {
        guard count > 0 else { return }
        touched = true
        let at = keptCount
        if var last = gaps.last, last.at == at, last.reason == reason {
            last.lost += count
            gaps[gaps.count - 1] = last
        } else {
            gaps.append(StreamGap(at: at, lost: count, lostBefore: lost, reason: reason))
        }
        lost += count
    }

    @inline(__always)
    private mutating func noteArrival(_ arrival: Arrival) {
        var arrival = arrival
        arrival.at = keptCount
        if let last = arrivals.last, last.at == arrival.at {
            arrivals[arrivals.count - 1] = arrival
        } else {
            arrivals.append(arrival)
        }
    }

    /// Appends `source[range]`, keeping at most `room` bytes (the connection's remaining
    /// allowance) and cutting lines longer than `maxLine`. Returns the bytes kept.
    @discardableResult
    mutating func append<S: ByteSource>(
        _ source: S, _ range: Range<Int>, arrival: Arrival, room: Int, maxLine: Int, initialCapacity: Int = 512
    ) -> Int {
        guard !range.isEmpty else { return 0 }
        if store.capacity == 0 {
            // Fewer reallocations for the usual dialogue (commands, a small body).
            store.reserve(max(initialCapacity, range.count))
            if arrivals.capacity < 8 { arrivals.reserveCapacity(16) }
        }
        touched = true
        noteArrival(arrival)
        let before = keptCount
        let allowed = min(range.count, max(0, room))
        let start = range.lowerBound
        let end = start + allowed
        if allowed > 0 {
            if lineLength + allowed <= maxLine {
                // Fast path: no line can exceed the limit.
                source.append(start..<end, to: &store)
                if let lastLF = source.lastIndex(of: SMTPText.lf, in: start..<end) {
                    lineLength = end - lastLF - 1
                } else {
                    lineLength += allowed
                }
            } else {
                materialize()
                appendCuttingLines(source, start..<end, maxLine: maxLine)
            }
        }
        if allowed < range.count {
            addGap(Int64(range.count - allowed), reason: .limit(.connectionBytes))
        }
        return keptCount - before
    }

    /// Appends, keeping at most `maxLine` bytes of each line (the rest becomes a gap).
    private mutating func appendCuttingLines<S: ByteSource>(_ source: S, _ range: Range<Int>, maxLine: Int) {
        var position = range.lowerBound
        let end = range.upperBound
        while position < end {
            let lf = source.firstIndex(of: SMTPText.lf, in: position..<end)
            let contentEnd = lf ?? end
            let length = contentEnd - position
            let keep = max(0, min(length, maxLine - lineLength))
            if keep > 0 { source.append(position..<(position + keep), to: &bytes) }
            if length > keep { addGap(Int64(length - keep), reason: .limit(.lineLength)) }
            lineLength += length
            if let lf {
                bytes.append(SMTPText.lf)
                lineLength = 0
                position = lf + 1
            } else {
                position = end
            }
        }
    }
}

// IPv4 and IPv6 fragment reassembly, bounded in bytes and in capture time.

struct FragmentKey: Hashable {
    var source: IPAddress
    var destination: IPAddress
    var identification: UInt32
    var proto: UInt8
    var v6: Bool
}

struct PendingDatagram {
    var pieces: [(offset: Int, bytes: [UInt8])] = []
    /// Known once the last fragment (no "more fragments" flag) arrived.
    var total: Int?
    var buffered = 0
    var firstTime: Double
    var order: Int
}

struct FragmentReassembler {
    /// Seconds of capture time a datagram may wait for its fragments (Linux's default).
    static let timeout: Double = 30
    /// Largest datagram payload rebuilt.
    static let maximumSize = 65535

    var pending: [FragmentKey: PendingDatagram] = [:]
    var buffered = 0
    var order = 0
    var dropped = 0
    var limitHits = 0

    /// Adds a fragment's payload at `offset`; returns the whole payload once complete.
    mutating func add(
        _ key: FragmentKey, offset: Int, more: Bool, bytes: [UInt8], time: Double, maxBytes: Int
    ) -> [UInt8]? {
        guard offset + bytes.count <= Self.maximumSize, !bytes.isEmpty || !more else {
            dropped += 1
            return nil
        }
        var datagram = pending[key] ?? PendingDatagram(firstTime: time, order: order)
        if pending[key] == nil { order += 1 }
        datagram.pieces.append((offset, bytes))
        datagram.buffered += bytes.count
        buffered += bytes.count
        if !more { datagram.total = offset + bytes.count }
        if let total = datagram.total, let whole = Self.assemble(datagram.pieces, total: total) {
            buffered -= datagram.buffered
            pending[key] = nil
            return whole
        }
        pending[key] = datagram
        while buffered > maxBytes, let oldest = pending.min(by: { $0.value.order < $1.value.order }) {
            limitHits += 1
            drop(oldest.key)
        }
        return nil
    }

    /// Drops datagrams that waited longer than the timeout.
    mutating func expire(now: Double) {
        for (key, datagram) in pending where now - datagram.firstTime > Self.timeout {
            drop(key)
        }
    }

    /// Drops everything still waiting (end of input).
    mutating func dropAll() {
        for key in Array(pending.keys) { drop(key) }
    }

    private mutating func drop(_ key: FragmentKey) {
        guard let datagram = pending.removeValue(forKey: key) else { return }
        buffered -= datagram.buffered
        dropped += datagram.pieces.count
    }

    /// The payload when the pieces cover `0..<total` (the first copy of overlapping bytes wins).
    private static func assemble(_ pieces: [(offset: Int, bytes: [UInt8])], total: Int) -> [UInt8]? {
        let sorted = pieces.enumerated().sorted {
            $0.element.offset != $1.element.offset ? $0.element.offset < $1.element.offset : $0.offset < $1.offset
        }
        var covered = 0
        for piece in sorted.map(\.element) {
            if piece.offset > covered { return nil }
            covered = max(covered, piece.offset + piece.bytes.count)
        }
        guard covered >= total else { return nil }
        var result = [UInt8](repeating: 0, count: total)
        var filled = [Bool](repeating: false, count: total)
        for piece in pieces {
            for (index, byte) in piece.bytes.enumerated() where piece.offset + index < total {
                let at = piece.offset + index
                if !filled[at] {
                    result[at] = byte
                    filled[at] = true
                }
            }
        }
        return result
    }
}

// Header decoding straight from libpcap's buffer: link layers, 802.1Q/QinQ tags, IPv4
// (options, fragments), IPv6 (extension headers, fragments), TCP and UDP. Checksums are not
// verified (offloading leaves outgoing packets with unfilled ones).
//
// Bounds: every header is length-checked against the captured length before its fields are
// read (the `guard … else { return malformed() }` lines); the multi-byte accessors repeat
// the check only in debug builds (tests, fuzzing), `u8` and `payload` always. Offsets and
// lengths are sums of 16-bit header fields and the 32-bit captured length, so the IP and
// transport decoders add and subtract them with wrapping operators (no overflow checks).

/// Big-endian reads from a captured packet, each checked against its length.
@safe
struct RawPacket {
    private let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        unsafe self.bytes = bytes
    }

    @inline(__always)
    var count: Int { unsafe bytes.count }

    @inline(__always)
    func u8(_ offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < count, "packet read out of bounds")
        return unsafe bytes.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        assert(offset >= 0 && offset + 2 <= count, "packet read out of bounds")
        return UInt16(bigEndian: unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        assert(offset >= 0 && offset + 4 <= count, "packet read out of bounds")
        return UInt32(bigEndian: unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func u32LittleEndian(_ offset: Int) -> UInt32 {
        assert(offset >= 0 && offset + 4 <= count, "packet read out of bounds")
        return UInt32(littleEndian: unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func u64(_ offset: Int) -> UInt64 {
        assert(offset >= 0 && offset + 8 <= count, "packet read out of bounds")
        return UInt64(bigEndian: unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A view of `range` (valid as long as the packet is).
    @inline(__always)
    func payload(_ range: Range<Int>) -> PayloadBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "packet range out of bounds")
        guard !range.isEmpty, let base = unsafe bytes.baseAddress else { return .empty }
        return unsafe PayloadBytes(unsafeBase: base + range.lowerBound, count: range.count)
    }

    /// A copy of `range`.
    func copy(_ range: Range<Int>) -> [UInt8] {
        payload(range).copy(0..<range.count)
    }
}

extension CaptureEngine {
    /// Decodes one captured record of link type `link`.
    mutating func decode(_ packet: PacketView, link: LinkKind) {
        beginPacket(time: packet.time, capturedLength: unsafe packet.bytes.count)
        let raw = unsafe RawPacket(packet.bytes)
        let wire = max(packet.wireLength, raw.count)
        var offset: Int
        var etherType: Int
        switch link {
        case .ethernet:
            guard raw.count >= 14 else { return malformed() }
            etherType = Int(raw.u16(12))
            offset = 14
        case .linuxSLL:
            guard raw.count >= 16 else { return malformed() }
            etherType = Int(raw.u16(14))
            offset = 16
        case .linuxSLL2:
            guard raw.count >= 20 else { return malformed() }
            etherType = Int(raw.u16(0))
            offset = 20
        case .rawIP:
            return ipByVersion(raw, at: 0, wire: wire)
        case .null, .loop:
            guard raw.count >= 4 else { return malformed() }
            // NULL holds the capturing host's AF_ value in its own byte order, LOOP in network
            // order; AF_INET is 2 everywhere, AF_INET6 is 24, 28 or 30 depending on the BSD.
            let family = link == .loop ? raw.u32(0) : min(raw.u32(0), raw.u32LittleEndian(0))
            switch family {
            case 2: return ipv4(raw, at: 4, wire: wire)
            case 10, 24, 28, 30: return ipv6(raw, at: 4, wire: wire)
            default: return ipByVersion(raw, at: 4, wire: wire)
            }
        }
        var tags = 0
        while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 || etherType == 0x9200 {
            guard raw.count >= offset + 4, tags < 8 else { return malformed() }
            etherType = Int(raw.u16(offset + 2))
            offset += 4
            tags += 1
        }
        switch etherType {
        case 0x0800: ipv4(raw, at: offset, wire: wire)
        case 0x86DD: ipv6(raw, at: offset, wire: wire)
        default: nonIP()
        }
    }

    private mutating func ipByVersion(_ raw: RawPacket, at offset: Int, wire: Int) {
        guard raw.count > offset else { return malformed() }
        switch raw.u8(offset) >> 4 {
        case 4: ipv4(raw, at: offset, wire: wire)
        case 6: ipv6(raw, at: offset, wire: wire)
        default: nonIP()
        }
    }

    private mutating func ipv4(_ raw: RawPacket, at offset: Int, wire: Int) {
        guard raw.count &- offset >= 20 else { return malformed() }
        // Byte fields are read in 16-bit pairs (bounds checked once, by the guard above).
        let versionAndLength = UInt8(truncatingIfNeeded: raw.u16(offset) >> 8)
        guard versionAndLength >> 4 == 4 else { return malformed() }
        let headerLength = Int(versionAndLength & 0x0F) &* 4
        var totalLength = Int(raw.u16(offset &+ 2))
        // Segmentation offload can leave the length 0 in captured outgoing packets.
        if totalLength == 0 { totalLength = wire &- offset }
        guard headerLength >= 20, totalLength >= headerLength else { return malformed() }
        let claimedEnd = offset &+ totalLength
        let capturedEnd = min(raw.count, claimedEnd)
        guard capturedEnd &- offset >= headerLength else { return malformed() }
        let fragmentField = raw.u16(offset &+ 6)
        let more = fragmentField & 0x2000 != 0
        let fragmentOffset = Int(fragmentField & 0x1FFF) &* 8
        let proto = UInt8(truncatingIfNeeded: raw.u16(offset &+ 8))
        let source = IPAddress(v4: raw.u32(offset &+ 12))
        let destination = IPAddress(v4: raw.u32(offset &+ 16))
        let start = offset &+ headerLength
        if more || fragmentOffset != 0 {
            guard capturedEnd == claimedEnd else { return droppedFragment() }
            let key = FragmentKey(
                source: source, destination: destination, identification: UInt32(raw.u16(offset &+ 4)),
                proto: proto, v6: false)
            if let whole = fragment(key, offset: fragmentOffset, more: more, bytes: raw.copy(start..<capturedEnd)) {
                reassembled(whole, proto: proto, source: source, destination: destination, v6: false)
            }
            return
        }
        transport(
            raw, proto: proto, source: source, destination: destination, start: start,
            capturedEnd: capturedEnd, claimedEnd: claimedEnd)
    }

    private mutating func ipv6(_ raw: RawPacket, at offset: Int, wire: Int) {
        guard raw.count - offset >= 40 else { return malformed() }
        guard raw.u8(offset) >> 4 == 6 else { return malformed() }
        let payloadLength = Int(raw.u16(offset + 4))
        let next = raw.u8(offset + 6)
        let source = IPAddress(hi: raw.u64(offset + 8), lo: raw.u64(offset + 16))
        let destination = IPAddress(hi: raw.u64(offset + 24), lo: raw.u64(offset + 32))
        // A zero payload length is a jumbogram or an offloaded segment: the wire length tells.
        let claimedEnd = payloadLength == 0 ? max(wire, offset + 40) : offset + 40 + payloadLength
        let capturedEnd = min(raw.count, claimedEnd)
        ipv6Headers(
            raw, next: next, at: offset + 40, source: source, destination: destination,
            capturedEnd: capturedEnd, claimedEnd: claimedEnd, allowFragment: true)
    }

    /// Walks IPv6 extension headers from `start` to the transport header.
    private mutating func ipv6Headers(
        _ raw: RawPacket, next first: UInt8, at start: Int, source: IPAddress, destination: IPAddress,
        capturedEnd: Int, claimedEnd: Int, allowFragment: Bool
    ) {
        var next = first
        var position = start
        for _ in 0..<16 {
            switch next {
            case 0, 43, 60, 135, 139, 140, 253, 254:
                guard capturedEnd - position >= 8 else { return malformed() }
                let length = (Int(raw.u8(position + 1)) + 1) * 8
                next = raw.u8(position)
                position += length
                guard position <= capturedEnd else { return malformed() }
            case 51:
                guard capturedEnd - position >= 8 else { return malformed() }
                let length = (Int(raw.u8(position + 1)) + 2) * 4
                next = raw.u8(position)
                position += length
                guard position <= capturedEnd else { return malformed() }
            case 44:
                guard allowFragment, capturedEnd - position >= 8 else { return malformed() }
                let field = raw.u16(position + 2)
                let fragmentOffset = Int(field & 0xFFF8)
                let more = field & 1 != 0
                let identification = raw.u32(position + 4)
                let proto = raw.u8(position)
                position += 8
                if fragmentOffset == 0 && !more {
                    // An atomic fragment: the whole datagram.
                    next = proto
                    continue
                }
                guard capturedEnd == claimedEnd else { return droppedFragment() }
                let key = FragmentKey(
                    source: source, destination: destination, identification: identification, proto: proto, v6: true)
                if let whole = fragment(key, offset: fragmentOffset, more: more, bytes: raw.copy(position..<capturedEnd)) {
                    reassembled(whole, proto: proto, source: source, destination: destination, v6: true)
                }
                return
            case 59, 50:
                // No next header, or ESP (encrypted).
                return otherTransport()
            default:
                return transport(
                    raw, proto: next, source: source, destination: destination, start: position,
                    capturedEnd: capturedEnd, claimedEnd: claimedEnd)
            }
        }
        malformed()
    }

    /// Decodes the transport layer of a datagram rebuilt from fragments.
    private mutating func reassembled(_ bytes: [UInt8], proto: UInt8, source: IPAddress, destination: IPAddress, v6: Bool) {
        unsafe bytes.withUnsafeBytes { buffer in
            let raw = unsafe RawPacket(buffer)
            if v6 {
                ipv6Headers(
                    raw, next: proto, at: 0, source: source, destination: destination,
                    capturedEnd: raw.count, claimedEnd: raw.count, allowFragment: false)
            } else {
                transport(
                    raw, proto: proto, source: source, destination: destination, start: 0,
                    capturedEnd: raw.count, claimedEnd: raw.count)
            }
        }
    }

    private mutating func transport(
        _ raw: RawPacket, proto: UInt8, source: IPAddress, destination: IPAddress, start: Int,
        capturedEnd: Int, claimedEnd: Int
    ) {
        switch proto {
        case 6:
            guard capturedEnd &- start >= 20 else { return malformed() }
            // The data offset and the flags in one read (bounds checked by the guard above).
            let offsetAndFlags = raw.u16(start &+ 12)
            let dataOffset = Int(offsetAndFlags >> 12) &* 4
            guard dataOffset >= 20, claimedEnd &- start >= dataOffset else { return malformed() }
            let payloadStart = start &+ dataOffset
            let captured = max(0, capturedEnd &- payloadStart)
            tcp(
                source: source, destination: destination, sourcePort: raw.u16(start),
                destinationPort: raw.u16(start &+ 2), seq: raw.u32(start &+ 4), ack: raw.u32(start &+ 8),
                flags: UInt8(truncatingIfNeeded: offsetAndFlags),
                payload: captured > 0 ? raw.payload(payloadStart..<(payloadStart &+ captured)) : .empty,
                claimed: claimedEnd &- payloadStart)
        case 17:
            guard capturedEnd &- start >= 8 else { return malformed() }
            if options.parseDNS && raw.u16(start) == 53 {
                dnsOverUDP(raw.payload((start &+ 8)..<capturedEnd), complete: capturedEnd == claimedEnd)
            } else {
                summary.otherPortPackets += 1
            }
        default:
            otherTransport()
        }
    }
}

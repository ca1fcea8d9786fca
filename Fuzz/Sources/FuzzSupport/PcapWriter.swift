// Builds classic pcap files in memory (for harnesses that feed structured packets through the
// capture reader).

public struct PcapWriter {
    public private(set) var bytes: [UInt8] = []

    /// A file header for link type `linkType` (1 Ethernet, 101 raw IP, 113 Linux SLL, …).
    public init(linkType: UInt32, snaplen: UInt32 = 65535) {
        append32(0xA1B2_C3D4)
        append16(2)
        append16(4)
        append32(0)
        append32(0)
        append32(snaplen)
        append32(linkType)
    }

    /// One record: `data` as captured, `wireLength` on the wire (at least `data.count`).
    public mutating func packet(seconds: UInt32, microseconds: UInt32, data: [UInt8], wireLength: Int? = nil) {
        append32(seconds)
        append32(microseconds % 1_000_000)
        append32(UInt32(data.count))
        append32(UInt32(max(data.count, wireLength ?? data.count)))
        bytes.append(contentsOf: data)
    }

    private mutating func append16(_ value: UInt16) {
        bytes.append(UInt8(value & 0xFF))
        bytes.append(UInt8(value >> 8))
    }

    private mutating func append32(_ value: UInt32) {
        append16(UInt16(value & 0xFFFF))
        append16(UInt16(value >> 16))
    }
}

/// An IPv4 + TCP packet (checksums left zero, as offloading leaves them).
public func ipv4TCPPacket(
    source: UInt32, destination: UInt32, sourcePort: UInt16, destinationPort: UInt16,
    seq: UInt32, ack: UInt32, flags: UInt8, payload: [UInt8], claimedPayload: Int? = nil
) -> [UInt8] {
    var packet: [UInt8] = []
    let total = 40 + max(payload.count, claimedPayload ?? payload.count)
    func be16(_ value: UInt16) { packet.append(UInt8(value >> 8)); packet.append(UInt8(value & 0xFF)) }
    func be32(_ value: UInt32) { be16(UInt16(value >> 16)); be16(UInt16(value & 0xFFFF)) }
    packet.append(0x45)
    packet.append(0)
    be16(UInt16(min(total, 65535)))
    be16(0)
    be16(0x4000)
    packet.append(64)
    packet.append(6)
    be16(0)
    be32(source)
    be32(destination)
    be16(sourcePort)
    be16(destinationPort)
    be32(seq)
    be32(ack)
    packet.append(0x50)
    packet.append(flags)
    be16(65535)
    be16(0)
    be16(0)
    packet.append(contentsOf: payload)
    return packet
}

/// Lines an SMTP client and server exchange, for harnesses that build plausible dialogues.
public let smtpVocabulary: [[UInt8]] = [
    "220 mx.example.net ESMTP\r\n", "HELO client.example\r\n", "EHLO client.example\r\n",
    "250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n", "MAIL FROM:<a@b.example>\r\n", "250 ok\r\n",
    "RCPT TO:<r@example.com>\r\n", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    "DATA\r\n", "354 go ahead\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n", "250 ok 1795561493 qp 14399\r\n",
    "QUIT\r\n", "221 mx.example.net\r\n", "STARTTLS\r\n", "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n",
    "dXNlcg==\r\n", "235 ok, go ahead (#2.0.0)\r\n", "BDAT 5 LAST\r\n", "RSET\r\n", "NOOP\r\n",
    "502 unimplemented (#5.5.1)\r\n", "451 timeout (#4.4.2)\r\n", "\r\n", ".\r\n", "250-", "250 ",
    "\n", "\r", "MAIL FROM:<a@b>", "RCPT",
].map { Array($0.utf8) }

// Test-only writers for small captures built in code: classic pcap (microsecond, nanosecond
// and the old "modified" format, either byte order) and pcapng (either byte order).

/// One captured record.
struct Record {
    var time: Double
    var data: [UInt8]
    /// The length on the wire (more than `data.count` for a snaplen-truncated packet).
    var wireLength: Int

    init(time: Double, data: [UInt8], wireLength: Int? = nil) {
        self.time = time
        self.data = data
        self.wireLength = wireLength ?? data.count
    }
}

/// Appends integers in a chosen byte order.
struct ByteWriter {
    var bytes: [UInt8] = []
    var bigEndian: Bool

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    mutating func u32(_ value: UInt32) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    mutating func pad(to multiple: Int) {
        while bytes.count % multiple != 0 { bytes.append(0) }
    }
}

enum CaptureFormat: Sendable, CustomStringConvertible {
    case pcap(nanoseconds: Bool, bigEndian: Bool)
    /// Alexey Kuznetsov's patched format (magic 0xa1b2cd34): 8 more bytes per record header.
    case modifiedPcap(bigEndian: Bool)
    case pcapng(bigEndian: Bool)

    var description: String {
        switch self {
        case .pcap(let ns, let be): "pcap \(ns ? "ns" : "us") \(be ? "BE" : "LE")"
        case .modifiedPcap(let be): "modified pcap \(be ? "BE" : "LE")"
        case .pcapng(let be): "pcapng \(be ? "BE" : "LE")"
        }
    }

    static let all: [CaptureFormat] = [
        .pcap(nanoseconds: false, bigEndian: false), .pcap(nanoseconds: false, bigEndian: true),
        .pcap(nanoseconds: true, bigEndian: false), .pcap(nanoseconds: true, bigEndian: true),
        .modifiedPcap(bigEndian: false), .modifiedPcap(bigEndian: true),
        .pcapng(bigEndian: false), .pcapng(bigEndian: true),
    ]
}

enum PcapWriter {
    /// A whole capture file.
    static func file(_ records: [Record], linkType: Int, format: CaptureFormat = .pcap(nanoseconds: true, bigEndian: false), snaplen: Int = 262_144) -> [UInt8] {
        switch format {
        case .pcap(let nanoseconds, let bigEndian):
            return classic(records, linkType: linkType, magic: nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4, nanoseconds: nanoseconds, modified: false, bigEndian: bigEndian, snaplen: snaplen)
        case .modifiedPcap(let bigEndian):
            return classic(records, linkType: linkType, magic: 0xA1B2_CD34, nanoseconds: false, modified: true, bigEndian: bigEndian, snaplen: snaplen)
        case .pcapng(let bigEndian):
            return pcapng(records, linkType: linkType, bigEndian: bigEndian, snaplen: snaplen)
        }
    }

    private static func split(_ time: Double, nanoseconds: Bool) -> (UInt32, UInt32) {
        let seconds = time.rounded(.down)
        let fraction = ((time - seconds) * (nanoseconds ? 1e9 : 1e6)).rounded()
        return (UInt32(seconds), UInt32(fraction))
    }

    private static func classic(
        _ records: [Record], linkType: Int, magic: UInt32, nanoseconds: Bool, modified: Bool, bigEndian: Bool, snaplen: Int
    ) -> [UInt8] {
        var out = ByteWriter(bigEndian: bigEndian)
        out.u32(magic)
        out.u16(2)
        out.u16(4)
        out.u32(0)
        out.u32(0)
        out.u32(UInt32(snaplen))
        out.u32(UInt32(linkType))
        for record in records {
            let (seconds, fraction) = split(record.time, nanoseconds: nanoseconds)
            out.u32(seconds)
            out.u32(fraction)
            out.u32(UInt32(record.data.count))
            out.u32(UInt32(record.wireLength))
            if modified {
                out.u32(1)  // ifindex
                out.u16(0x0800)  // protocol
                out.u8(0)  // packet type
                out.u8(0)  // padding
            }
            out.raw(record.data)
        }
        return out.bytes
    }

    private static func pcapng(_ records: [Record], linkType: Int, bigEndian: Bool, snaplen: Int) -> [UInt8] {
        var out = ByteWriter(bigEndian: bigEndian)
        // Section header block.
        out.u32(0x0A0D_0D0A)
        out.u32(28)
        out.u32(0x1A2B_3C4D)
        out.u16(1)
        out.u16(0)
        out.u32(0xFFFF_FFFF)
        out.u32(0xFFFF_FFFF)
        out.u32(28)
        // Interface description block with if_tsresol = 9 (nanoseconds).
        out.u32(1)
        out.u32(32)
        out.u16(UInt16(linkType))
        out.u16(0)
        out.u32(UInt32(snaplen))
        out.u16(9)
        out.u16(1)
        out.raw([9, 0, 0, 0])
        out.u16(0)
        out.u16(0)
        out.u32(32)
        // Enhanced packet blocks.
        for record in records {
            let padded = (record.data.count + 3) / 4 * 4
            let length = UInt32(32 + padded)
            let nanoseconds = UInt64((record.time * 1e9).rounded())
            out.u32(6)
            out.u32(length)
            out.u32(0)
            out.u32(UInt32(nanoseconds >> 32))
            out.u32(UInt32(nanoseconds & 0xFFFF_FFFF))
            out.u32(UInt32(record.data.count))
            out.u32(UInt32(record.wireLength))
            out.raw(record.data)
            out.pad(to: 4)
            out.u32(length)
        }
        return out.bytes
    }
}

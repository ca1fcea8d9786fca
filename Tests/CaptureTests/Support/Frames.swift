// Test-only packet builders: link layers, IPv4/IPv6 (with options, extension headers and
// fragments), TCP and UDP. Checksums are left zero (the reader must not verify them).

/// An address for building packets: 4 bytes (IPv4) or 16 bytes (IPv6).
struct Address: Sendable, Hashable {
    var bytes: [UInt8]

    static func v4(_ text: String) -> Address {
        Address(bytes: text.split(separator: ".").map { UInt8($0)! })
    }

    /// Full or `::`-compressed IPv6 text.
    static func v6(_ text: String) -> Address {
        let halves: [Substring]
        if let range = text.firstRange(of: "::") {
            halves = [text[..<range.lowerBound], text[range.upperBound...]]
        } else {
            halves = [text[...]]
        }
        func groups(_ part: Substring) -> [UInt16] {
            part.isEmpty ? [] : part.split(separator: ":").map { UInt16($0, radix: 16)! }
        }
        let head = groups(halves[0])
        let tail = halves.count > 1 ? groups(halves[1]) : []
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        return Address(bytes: all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
    }

    var isV6: Bool { bytes.count == 16 }
}

extension Array where Element == UInt8 {
    mutating func be16(_ value: Int) {
        append(UInt8((value >> 8) & 0xFF))
        append(UInt8(value & 0xFF))
    }

    mutating func be32(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8((value >> 16) & 0xFF))
        append(UInt8((value >> 8) & 0xFF))
        append(UInt8(value & 0xFF))
    }
}

enum Frames {
    // MARK: - Transport

    static func tcp(
        sourcePort: Int, destinationPort: Int, seq: UInt32, ack: UInt32, flags: UInt8, payload: [UInt8],
        window: Int = 65535, options: [UInt8] = []
    ) -> [UInt8] {
        precondition(options.count % 4 == 0)
        var out: [UInt8] = []
        out.be16(sourcePort)
        out.be16(destinationPort)
        out.be32(seq)
        out.be32(ack)
        out.append(UInt8((20 + options.count) / 4) << 4)
        out.append(flags)
        out.be16(window)
        out.be16(0)  // checksum: not filled in
        out.be16(0)
        out.append(contentsOf: options)
        out.append(contentsOf: payload)
        return out
    }

    static func udp(sourcePort: Int, destinationPort: Int, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.be16(sourcePort)
        out.be16(destinationPort)
        out.be16(8 + payload.count)
        out.be16(0)
        out.append(contentsOf: payload)
        return out
    }

    // MARK: - IP

    /// An IPv4 header (with `options`, padded to 4 bytes) and `payload`.
    static func ipv4(
        source: Address, destination: Address, proto: UInt8, payload: [UInt8], options: [UInt8] = [],
        identification: Int = 1, fragmentOffset: Int = 0, moreFragments: Bool = false, totalLength: Int? = nil
    ) -> [UInt8] {
        var padded = options
        while padded.count % 4 != 0 { padded.append(0) }
        var out: [UInt8] = []
        out.append(0x40 | UInt8((20 + padded.count) / 4))
        out.append(0)
        out.be16(totalLength ?? (20 + padded.count + payload.count))
        out.be16(identification)
        out.be16((moreFragments ? 0x2000 : 0) | (fragmentOffset / 8))
        out.append(64)
        out.append(proto)
        out.be16(0)  // checksum: not filled in
        out.append(contentsOf: source.bytes)
        out.append(contentsOf: destination.bytes)
        out.append(contentsOf: padded)
        out.append(contentsOf: payload)
        return out
    }

    /// An IPv6 header, extension headers `(type, body)` (body padded to 8-byte units, the
    /// next-header byte and length filled in) and `payload`.
    static func ipv6(
        source: Address, destination: Address, proto: UInt8, payload: [UInt8],
        extensions: [(type: UInt8, body: [UInt8])] = []
    ) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, header) in extensions.enumerated() {
            let next = index + 1 < extensions.count ? extensions[index + 1].type : proto
            var body = header.body
            if header.type == 44 {
                // Fragment header: fixed 8 bytes, body is its last 6 bytes.
                chain.append(next)
                chain.append(0)
                chain.append(contentsOf: body)
                continue
            }
            while (body.count + 2) % 8 != 0 { body.append(0) }
            chain.append(next)
            chain.append(UInt8((body.count + 2) / 8 - 1))
            chain.append(contentsOf: body)
        }
        var out: [UInt8] = [0x60, 0, 0, 0]
        out.be16(chain.count + payload.count)
        out.append(extensions.first?.type ?? proto)
        out.append(64)
        out.append(contentsOf: source.bytes)
        out.append(contentsOf: destination.bytes)
        out.append(contentsOf: chain)
        out.append(contentsOf: payload)
        return out
    }

    static func ip(source: Address, destination: Address, proto: UInt8, payload: [UInt8]) -> [UInt8] {
        source.isV6
            ? ipv6(source: source, destination: destination, proto: proto, payload: payload)
            : ipv4(source: source, destination: destination, proto: proto, payload: payload)
    }

    // MARK: - Link layers

    enum Link: Sendable, CustomStringConvertible {
        case ethernet(tags: [Int])
        case linuxSLL
        case linuxSLL2
        case raw(linkType: Int)
        case null(bigEndianHost: Bool)
        case loop

        var linkType: Int {
            switch self {
            case .ethernet: 1
            case .linuxSLL: 113
            case .linuxSLL2: 276
            case .raw(let linkType): linkType
            case .null: 0
            case .loop: 108
            }
        }

        var description: String {
            switch self {
            case .ethernet(let tags): tags.isEmpty ? "Ethernet" : "Ethernet tags \(tags.map { String($0, radix: 16) })"
            case .linuxSLL: "LINUX_SLL"
            case .linuxSLL2: "LINUX_SLL2"
            case .raw(let type): "raw \(type)"
            case .null(let be): "NULL \(be ? "BE" : "LE")"
            case .loop: "LOOP"
            }
        }
    }

    /// Wraps an IP datagram in `link`'s header.
    static func frame(_ ip: [UInt8], link: Link) -> [UInt8] {
        let v6 = ip.first.map { $0 >> 4 == 6 } ?? false
        let etherType = v6 ? 0x86DD : 0x0800
        var out: [UInt8] = []
        switch link {
        case .ethernet(let tags):
            out = [0x02, 0, 0, 0, 0, 0x19, 0x02, 0, 0, 0, 0, 0x02]
            for (index, tpid) in tags.enumerated() {
                out.be16(tpid)
                out.be16(100 + index)  // VLAN id
            }
            out.be16(etherType)
            out.append(contentsOf: ip)
            // Ethernet pads short frames to 60 bytes: the IP length must win over the frame's.
            while out.count < 60 { out.append(0) }
        case .linuxSLL:
            out.be16(0)  // packet type: to us
            out.be16(1)  // ARPHRD_ETHER
            out.be16(6)
            out.append(contentsOf: [0x02, 0, 0, 0, 0, 0x02, 0, 0])
            out.be16(etherType)
            out.append(contentsOf: ip)
        case .linuxSLL2:
            out.be16(etherType)
            out.be16(0)
            out.be32(3)  // interface index
            out.be16(1)  // ARPHRD_ETHER
            out.append(0)  // packet type
            out.append(6)
            out.append(contentsOf: [0x02, 0, 0, 0, 0, 0x02, 0, 0])
            out.append(contentsOf: ip)
        case .raw:
            out = ip
        case .null(let bigEndianHost):
            let family: UInt32 = v6 ? 30 : 2
            if bigEndianHost {
                out.be32(family)
            } else {
                out.append(contentsOf: [UInt8(family & 0xFF), 0, 0, 0])
            }
            out.append(contentsOf: ip)
        case .loop:
            out.be32(v6 ? 24 : 2)
            out.append(contentsOf: ip)
        }
        return out
    }
}

/// TCP flag bits for the builders.
enum Flag {
    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let rst: UInt8 = 0x04
    static let psh: UInt8 = 0x08
    static let ack: UInt8 = 0x10
}

// Test-only TCP conversations: a client and a server exchanging bytes, turned into packets
// (which tests may then drop, duplicate, reorder or cut) and into capture records.

import Capture

/// One TCP segment of a conversation.
struct Segment: Sendable {
    var fromClient: Bool
    var seq: UInt32
    var ack: UInt32
    var flags: UInt8
    var payload: [UInt8]
    var time: Double
    /// Bytes on the wire beyond `payload` (the capture cut them: snaplen).
    var cutBytes = 0
}

struct Conversation: Sendable {
    var client: Address
    var clientPort: Int
    var server: Address
    var serverPort: Int
    var clientNext: UInt32
    var serverNext: UInt32
    var time: Double
    var segments: [Segment] = []

    init(
        client: Address = .v4("198.19.1.10"), clientPort: Int = 40001,
        server: Address = .v4("192.0.2.25"), serverPort: Int = 25,
        clientISN: UInt32 = 1000, serverISN: UInt32 = 500_000, time: Double = 1_795_563_513.25
    ) {
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.clientNext = clientISN
        self.serverNext = serverISN
        self.time = time
    }

    private mutating func add(fromClient: Bool, flags: UInt8, payload: [UInt8] = []) {
        time += 0.001
        let seq = fromClient ? clientNext : serverNext
        let ack = fromClient ? serverNext : clientNext
        segments.append(Segment(fromClient: fromClient, seq: seq, ack: ack, flags: flags, payload: payload, time: time))
        let advance = UInt32(payload.count) + (flags & (Flag.syn | Flag.fin) != 0 ? 1 : 0)
        if fromClient { clientNext &+= advance } else { serverNext &+= advance }
    }

    /// SYN, SYN-ACK, ACK.
    mutating func open() {
        time += 0.001
        segments.append(Segment(fromClient: true, seq: clientNext, ack: 0, flags: Flag.syn, payload: [], time: time))
        clientNext &+= 1
        add(fromClient: false, flags: Flag.syn | Flag.ack)
        add(fromClient: true, flags: Flag.ack)
    }

    /// The server sends `text` (use \r\n yourself); the client acknowledges it.
    mutating func server(_ text: String, ackAfter: Bool = true) {
        serverBytes(Array(text.utf8), ackAfter: ackAfter)
    }

    mutating func serverBytes(_ bytes: [UInt8], ackAfter: Bool = true) {
        add(fromClient: false, flags: Flag.ack | Flag.psh, payload: bytes)
        if ackAfter { add(fromClient: true, flags: Flag.ack) }
    }

    /// The client sends `text`.
    mutating func client(_ text: String) {
        clientBytes(Array(text.utf8))
    }

    mutating func clientBytes(_ bytes: [UInt8]) {
        add(fromClient: true, flags: Flag.ack | Flag.psh, payload: bytes)
    }

    /// FIN from one side, ACK, FIN from the other, ACK.
    mutating func close(clientFirst: Bool = true) {
        add(fromClient: clientFirst, flags: Flag.fin | Flag.ack)
        add(fromClient: !clientFirst, flags: Flag.ack)
        add(fromClient: !clientFirst, flags: Flag.fin | Flag.ack)
        add(fromClient: clientFirst, flags: Flag.ack)
    }

    mutating func finFrom(client fromClient: Bool) {
        add(fromClient: fromClient, flags: Flag.fin | Flag.ack)
    }

    mutating func reset(fromClient: Bool) {
        add(fromClient: fromClient, flags: Flag.rst | Flag.ack)
    }

    /// A plain exchange: greeting, then each command with its reply, then QUIT/221 and close.
    static func smtp(
        _ exchanges: [(String, String)], greeting: String = "220 mx.example.net ESMTP\r\n",
        clientPort: Int = 40001, client: Address = .v4("198.19.1.10"), server: Address = .v4("192.0.2.25"),
        serverPort: Int = 25, quit: Bool = true
    ) -> Conversation {
        var conversation = Conversation(client: client, clientPort: clientPort, server: server, serverPort: serverPort)
        conversation.open()
        conversation.server(greeting)
        for (command, reply) in exchanges {
            conversation.client(command)
            conversation.server(reply)
        }
        if quit {
            conversation.client("QUIT\r\n")
            conversation.server("221 mx.example.net\r\n")
        }
        conversation.close()
        return conversation
    }

    // MARK: - Packets

    func ipDatagram(_ segment: Segment) -> [UInt8] {
        let tcp = Frames.tcp(
            sourcePort: segment.fromClient ? clientPort : serverPort,
            destinationPort: segment.fromClient ? serverPort : clientPort,
            seq: segment.seq, ack: segment.ack, flags: segment.flags, payload: segment.payload)
        let source = segment.fromClient ? client : server
        let destination = segment.fromClient ? server : client
        if segment.cutBytes > 0 {
            // The datagram claims the bytes the capture cut.
            if source.isV6 {
                var datagram = Frames.ipv6(source: source, destination: destination, proto: 6, payload: tcp)
                let length = tcp.count + segment.cutBytes
                datagram[4] = UInt8(length >> 8)
                datagram[5] = UInt8(length & 0xFF)
                return datagram
            }
            return Frames.ipv4(
                source: source, destination: destination, proto: 6, payload: tcp,
                totalLength: 20 + tcp.count + segment.cutBytes)
        }
        return Frames.ip(source: source, destination: destination, proto: 6, payload: tcp)
    }

    func record(_ segment: Segment, link: Frames.Link = .ethernet(tags: [])) -> Record {
        let frame = Frames.frame(ipDatagram(segment), link: link)
        return Record(time: segment.time, data: frame, wireLength: frame.count + segment.cutBytes)
    }

    func records(link: Frames.Link = .ethernet(tags: [])) -> [Record] {
        segments.map { record($0, link: link) }
    }
}

/// Reads records written as a capture of `linkType`.
func readCapture(
    _ records: [Record], linkType: Int = 1, format: CaptureFormat = .pcap(nanoseconds: true, bigEndian: false),
    options: CaptureOptions = CaptureOptions()
) throws -> CaptureResult {
    try CaptureReader(options: options).readAll(
        capture: PcapWriter.file(records, linkType: linkType, format: format), name: "test.pcap")
}

/// Reads one conversation and returns its only dialogue.
func readOne(
    _ conversation: Conversation, link: Frames.Link = .ethernet(tags: []), options: CaptureOptions = CaptureOptions()
) throws -> Dialogue? {
    let result = try readCapture(conversation.records(link: link), linkType: link.linkType, options: options)
    return result.dialogues.count == 1 ? result.dialogues[0] : nil
}

extension Dialogue {
    /// Each step as `line -> reply lines` (for compact expectations).
    var transcript: [String] {
        steps.map { step in
            let reply = step.reply.map { $0.lines.joined(separator: " / ") } ?? "-"
            return "\(step.line) -> \(reply)"
        }
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

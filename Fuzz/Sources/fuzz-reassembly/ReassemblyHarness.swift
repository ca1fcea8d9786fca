// TCP reassembly on arbitrary segment sequences. The input is decoded into segments between a
// few clients and servers (so connections collide, reopen and get evicted), with sequence and
// acknowledgement numbers near per-flow bases just below 2^32 (wrap-around), any flags, captured
// or snaplen-cut payloads (raw bytes or SMTP lines), and time steps that trigger idle sweeps. The
// segments go through the capture reader as a raw-IP pcap, with small limits so that every limit
// is reached.
//
// Segment record: selector (client 0-3, direction, server port), flags, seq delta (2 bytes, or 4
// with the selector's top bit), ack delta, time step, payload (length byte: top bit set = the SMTP
// line its low bits number in the vocabulary, else that many raw bytes), snaplen cut.

import Capture
import FuzzSupport

let serverPorts: [UInt16] = [25, 587, 2525, 25]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(LibFuzzer.bytes(start, count))
    let mode = input.byte()
    let limits = CaptureLimits(
        maxLiveConnections: Int(mode & 3) + 1, maxOutOfOrderBytes: 16 << Int((mode >> 2) & 3),
        maxBytesPerConnection: 64 << Int((mode >> 4) & 3), maxLineLength: 24 << Int((mode >> 6) & 1),
        maxFragmentBytes: 256, maxPTRRecords: 4)
    var writer = PcapWriter(linkType: 101)
    var time: UInt32 = 1_700_000_000
    var packets = 0
    while !input.isEmpty && packets < 400 {
        packets += 1
        let selector = input.byte()
        let client = UInt32(selector & 3)
        let fromClient = selector & 4 == 0
        let serverPort = serverPorts[Int(selector >> 3) & 3]
        let flags = input.byte() & 0x1F | (selector & 0x40 != 0 ? 0x10 : 0)
        let base: UInt32 = 0xFFFF_FF00 &+ client &* 0x1000 &+ (fromClient ? 0 : 0x8000_0000)
        let otherBase: UInt32 = 0xFFFF_FF00 &+ client &* 0x1000 &+ (fromClient ? 0x8000_0000 : 0)
        let seq = selector & 0x80 != 0 ? input.u32() : base &+ UInt32(input.u16())
        let ack = otherBase &+ UInt32(input.u16())
        time &+= UInt32(input.byte() >> 3) &* 8
        let lengthByte = input.byte()
        let payload = lengthByte & 0x80 != 0
            ? smtpVocabulary[Int(lengthByte & 0x7F) % smtpVocabulary.count] : input.take(Int(lengthByte & 0x3F))
        let cut = Int(input.byte() & 0x07)
        let clientAddress: UInt32 = 0xC000_0200 | (10 + client)  // 192.0.2.10-13
        let serverAddress: UInt32 = 0xC000_0219  // 192.0.2.25
        let clientPort = UInt16(40000 + client)
        let packet = ipv4TCPPacket(
            source: fromClient ? clientAddress : serverAddress, destination: fromClient ? serverAddress : clientAddress,
            sourcePort: fromClient ? clientPort : serverPort, destinationPort: fromClient ? serverPort : clientPort,
            seq: seq, ack: ack, flags: flags, payload: payload)
        let captured = Array(packet.prefix(max(40, packet.count - cut)))
        writer.packet(seconds: time, microseconds: UInt32(packets), data: captured, wireLength: packet.count)
    }
    let reader = CaptureReader(options: CaptureOptions(limits: limits, idleTimeout: 300))
    do {
        let result = try reader.readAll(capture: writer.bytes, name: "segments.pcap")
        checkCaptureResult(result.dialogues, result.summary, limits: limits)
        fuzzCheck(result.summary.packets == packets, "packets read \(result.summary.packets) of \(packets)")
    } catch {
        fuzzCheck(false, "a well-formed pcap is refused: \(error)")
    }
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

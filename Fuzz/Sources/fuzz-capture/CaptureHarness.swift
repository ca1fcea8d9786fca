// The pcap/pcapng reader and packet decoder on arbitrary bytes. An input that starts with a pcap
// or pcapng magic number is read as a file; any other input is wrapped: its first byte picks the
// link type, then records follow, each a 2-byte length and that many bytes (so mutations reach
// the link, IP, TCP, UDP and DNS decoders instead of libpcap's file header check).
//
// Properties: see checkCaptureResult (every connection delivered once, the summary adds up, the
// limits hold); damage is reported, never a crash.

import Capture
import FuzzSupport

let linkTypes: [UInt32] = [1, 101, 113, 276, 0, 108, 12, 228, 229]

func wrap(_ input: inout FuzzInput) -> [UInt8] {
    var writer = PcapWriter(linkType: input.pick(linkTypes), snaplen: 262144)
    var time: UInt32 = 1_700_000_000
    while !input.isEmpty {
        time &+= UInt32(input.byte() >> 4)
        let length = Int(input.u16() % 2048)
        let data = input.take(length)
        let extra = Int(input.byte() & 0x0F)
        writer.packet(seconds: time, microseconds: UInt32(time % 1000), data: data, wireLength: data.count + extra)
    }
    return writer.bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = LibFuzzer.bytes(start, count)
    let magics: [[UInt8]] = [[0xD4, 0xC3, 0xB2, 0xA1], [0xA1, 0xB2, 0xC3, 0xD4], [0x4D, 0x3C, 0xB2, 0xA1],
        [0xA1, 0xB2, 0x3C, 0x4D], [0x0A, 0x0D, 0x0D, 0x0A]]
    let capture: [UInt8]
    var limits = CaptureLimits()
    if magics.contains(where: { bytes.starts(with: $0) }) {
        capture = bytes
    } else {
        var input = FuzzInput(bytes)
        let mode = input.byte()
        if mode & 0x80 != 0 {
            limits = CaptureLimits(
                maxLiveConnections: 2, maxOutOfOrderBytes: 32, maxBytesPerConnection: 256, maxLineLength: 40,
                maxFragmentBytes: 128, maxPTRRecords: 2)
        }
        capture = wrap(&input)
    }
    let reader = CaptureReader(options: CaptureOptions(limits: limits, idleTimeout: 60))
    do {
        let result = try reader.readAll(capture: capture, name: "fuzz.pcap")
        checkCaptureResult(result.dialogues, result.summary, limits: limits)
        for damage in result.summary.damage { fuzzCheck(isOneLine(damage.description), "damage message is not one line") }
    } catch {
        fuzzCheck(isOneLine("\(error)"), "capture error is not one line: \(error)")
    }
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

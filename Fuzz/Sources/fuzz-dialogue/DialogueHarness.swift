// SMTP dialogue reconstruction from in-order byte streams: client and server bytes (raw or SMTP
// lines), bytes lost in either direction, then the end of the connection. Small limits (chosen by
// the first byte) make long lines and long connections hit them.
//
// Properties: the kept bytes respect the limits; every step's text is printable; a dialogue fed
// again in the same packets is reconstructed identically (no hidden state).

import Capture
import FuzzSupport

struct Op {
    var kind: UInt8
    var bytes: [UInt8]
    var count: Int
    var time: Double
}

func reconstruct(_ ops: [Op], limits: CaptureLimits, midstream: Bool, end: DialogueEnd, serverCaptured: Bool) -> Dialogue {
    var reconstructor = DialogueReconstructor(limits: limits, midstream: midstream)
    for op in ops {
        switch op.kind {
        case 0: reconstructor.clientSent(op.bytes, time: op.time)
        case 1: reconstructor.serverSent(op.bytes, time: op.time)
        case 2: reconstructor.clientLost(op.count)
        default: reconstructor.serverLost(op.count)
        }
    }
    return reconstructor.finish(end: end, serverCaptured: serverCaptured)
}

func summary(_ dialogue: Dialogue) -> [String] {
    var lines = [dialogue.greeting.map { "\($0.code ?? -1) \(Array($0.bytes))" } ?? "-"]
    for step in dialogue.steps {
        lines.append("\(step.kind) \(Array(step.clientBytes)) \(step.reply.map { Array($0.bytes) } ?? []) \(step.unobservable ?? "") \(step.lostBytes)")
    }
    lines.append(dialogue.problems.map(\.message).joined(separator: "|"))
    return lines
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(LibFuzzer.bytes(start, count))
    let mode = input.byte()
    let limits = mode & 1 == 0
        ? CaptureLimits()
        : CaptureLimits(maxBytesPerConnection: 128 << Int((mode >> 1) & 3), maxLineLength: 16 << Int((mode >> 3) & 3))
    let midstream = mode & 0x20 != 0
    let serverCaptured = mode & 0x40 == 0
    let end = DialogueEnd.allCases[Int(input.byte()) % DialogueEnd.allCases.count]
    var ops: [Op] = []
    var time = 0.0
    while !input.isEmpty && ops.count < 300 {
        let header = input.byte()
        time += Double(header >> 5)
        let kind = header & 3
        switch kind {
        case 0, 1:
            let bytes = header & 4 != 0 ? input.pick(smtpVocabulary) : input.lengthPrefixed(max: 80)
            ops.append(Op(kind: kind, bytes: bytes, count: 0, time: time))
        default:
            ops.append(Op(kind: kind, bytes: [], count: Int(input.u16() % 4096), time: time))
        }
    }
    let dialogue = reconstruct(ops, limits: limits, midstream: midstream, end: end, serverCaptured: serverCaptured)
    fuzzCheck(dialogue.clientStream.count + dialogue.serverStream.count <= limits.maxBytesPerConnection, "kept more bytes than the limit")
    for step in dialogue.steps {
        fuzzCheck(isOneLine(step.line) || step.line.isEmpty, "a step's printable line has a line break: \(step.line.debugDescription)")
        if let reply = step.reply { _ = reply.lines }
    }
    let again = reconstruct(ops, limits: limits, midstream: midstream, end: end, serverCaptured: serverCaptured)
    fuzzCheck(summary(dialogue) == summary(again), "the same input reconstructs differently")
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

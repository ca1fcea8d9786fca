// capture-bench: measures the Capture layer (libpcap input, TCP reassembly, SMTP pairing) on
// capture files, and prints dialogues for inspection.
//
//   capture-bench [--dump] [--ceiling] [--threads N] [--port N]... FILE...
//
// --dump     prints every dialogue (credentials redacted) instead of timing
// --ceiling  also times a loop that only reads the packets (the libpcap ceiling)
// --threads  reconstruction threads (CaptureOptions.reconstructionThreads)

import Capture

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
}

/// User plus system CPU seconds used so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    #if canImport(Darwin)
    getrusage(RUSAGE_SELF, &usage)
    #else
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}

func peakMemoryMB() -> Double {
    var usage = rusage()
    #if canImport(Darwin)
    getrusage(RUSAGE_SELF, &usage)
    #else
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #endif
    #if canImport(Darwin)
    return Double(usage.ru_maxrss) / 1_048_576
    #else
    return Double(usage.ru_maxrss) / 1024
    #endif
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return digits == 0 ? String(Int(rounded)) : String(rounded)
}

var files: [String] = []
var dump = false
var ceiling = false
var ports: Set<Int> = []
var threads = 0
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--dump": dump = true
    case "--ceiling": ceiling = true
    case "--threads":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else {
            print("capture-bench: --threads needs a number")
            exit(2)
        }
        threads = value
    case "--port":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else {
            print("capture-bench: --port needs a number")
            exit(2)
        }
        ports.insert(value)
    default: files.append(argument)
    }
}
guard !files.isEmpty else {
    print("usage: capture-bench [--dump] [--ceiling] [--threads N] [--port N]... FILE...")
    exit(2)
}

var options = CaptureOptions()
if !ports.isEmpty { options.smtpPorts = ports }
options.reconstructionThreads = threads
let reader = CaptureReader(options: options)

do {
    if dump {
        let summary = try reader.read(files: files) { dialogue in
            print("#\(dialogue.index) \(dialogue.client) -> \(dialogue.server) end=\(dialogue.end.rawValue) source=\(dialogue.source)"
                + (dialogue.midstream ? " midstream" : "") + (dialogue.earlyTalker ? " early-talker" : "")
                + (dialogue.clientPTR.map { " ptr=\($0)" } ?? ""))
            if let greeting = dialogue.greeting { print("  greeting: \(greeting.lines)") }
            for step in dialogue.steps {
                let reply = step.reply.map { "\($0.lines)" } ?? "-"
                let batch = step.batch.map { " batch=\($0)" } ?? ""
                let unobservable = step.unobservable.map { " UNOBSERVABLE: \($0)" } ?? ""
                print("  \(step.kind.rawValue): \(step.line) -> \(reply)\(batch)\(unobservable)")
            }
            for reply in dialogue.unpairedReplies { print("  unpaired reply: \(reply.lines)") }
            for problem in dialogue.problems { print("  problem: \(problem)") }
        }
        print("connections \(summary.connections) complete \(summary.completeConnections) incomplete \(summary.incompleteConnections) packets \(summary.packets)")
        for damage in summary.damage { print("damage: \(damage)") }
        exit(0)
    }
    var sizes = 0
    for file in files {
        var info = stat()
        if stat(file, &info) == 0 { sizes += Int(info.st_size) }
    }
    let megabytes = Double(sizes) / 1_000_000
    if ceiling {
        let cpuStart = cpuSeconds()
        let start = now()
        let summary = try CaptureReader(options: CaptureOptions(smtpPorts: [], parseDNS: false)).read(files: files) { _ in }
        let seconds = now() - start
        let cpu = cpuSeconds() - cpuStart
        print("decode only (no SMTP port): \(fixed(seconds, 3)) s (cpu \(fixed(cpu, 3)) s), \(fixed(megabytes / seconds, 0)) MB/s, \(summary.packets) packets")
    }
    let cpuStart = cpuSeconds()
    let start = now()
    var steps = 0
    let summary = try reader.read(files: files) { dialogue in steps += dialogue.steps.count }
    let seconds = now() - start
    let cpu = cpuSeconds() - cpuStart
    print(
        "capture layer: \(fixed(seconds, 3)) s (cpu \(fixed(cpu, 3)) s), \(summary.connections) sessions, "
            + "\(fixed(Double(summary.connections) / seconds, 0)) sessions/s, \(fixed(megabytes / seconds, 0)) MB/s, "
            + "\(steps) steps, \(summary.packets) packets, peak RSS \(fixed(peakMemoryMB(), 0)) MB")
    print("complete \(summary.completeConnections) incomplete \(summary.incompleteConnections) ends \(summary.ends.map { "\($0.key.rawValue)=\($0.value)" }.sorted())")
    for damage in summary.damage { print("damage: \(damage)") }
} catch {
    print("capture-bench: \(error)")
    exit(2)
}

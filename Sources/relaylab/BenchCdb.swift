import ArgumentParser
import CDB
import Dispatch
import Foundation
import Histogram

/// `relaylab bench cdb FILE`: high-volume lookups on a cdb, timed.
struct BenchCdb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdb",
        abstract: "Measure cdb lookup throughput and latency on a file.",
        discussion: """
            Makes --lookups lookups (default 10 million) in FILE and reports throughput, the \
            latency distribution (HdrHistogram), the file's statistics and the memory-latency \
            context: how many cache lines a lookup reads in this file, how long one dependent \
            read from a working set of this size takes on this machine, and what that means \
            for a lookup.

            Keys come from --keys FILE (one per line, used in order and repeated), or are \
            generated: --distinct-keys queries in random order, --hit-ratio of them sampled from \
            the file's keys and the rest realistic domain names absent from it (seeded, \
            reproducible with --seed).

            --batch uses the batched lookup (CDB.firstBatch), which keeps many independent \
            lookups in flight so their memory reads overlap. --suffix makes qmail-smtpd's \
            morercpthosts check per query: the domain a.b.example.com, then .b.example.com, \
            .example.com and .com until one is found.

            Timing every lookup would cost more than a lookup on a cached file, so single \
            lookups are sampled (one in --sample-every is timed, including the clock's own \
            overhead, which is reported); batched runs time each batch and record its mean \
            time per lookup.

            relaylab bench cdb --generate N OUT.cdb writes a reproducible database of N \
            realistic domain-name keys (as in a large morercpthosts.cdb) to benchmark with.

            Examples:
              relaylab bench cdb --generate 1000000 /tmp/domains-1m.cdb
              relaylab bench cdb /tmp/domains-1m.cdb --lookups 5000000
              relaylab bench cdb /tmp/domains-1m.cdb --batch --format json
              relaylab bench cdb control/morercpthosts.cdb --suffix --keys recipients.txt
            """
    )

    @Argument(help: ArgumentHelp("The cdb file to measure (with --generate: the file to write).", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("Read the keys from this file, one per line.", valueName: "file"))
    var keys: String?

    @Option(name: .customLong("hit-ratio"), help: ArgumentHelp("Share of generated keys that are in the file (0...1; default 0.5).", valueName: "ratio"))
    var hitRatio: Double?

    @Option(help: "Number of cdb lookups to make.")
    var lookups: Int = 10_000_000

    @Option(help: "Number of threads making lookups at the same time.")
    var threads: Int = 1

    @Flag(help: "Use batched lookups (many in flight at once).")
    var batch = false

    @Option(name: .customLong("batch-size"), help: "Keys per batch call with --batch.")
    var batchSize: Int = 1024

    @Flag(help: "Make qmail-smtpd's suffix lookups per query (domain, then each .suffix).")
    var suffix = false

    @Option(name: .customLong("distinct-keys"), help: "Number of different generated queries (cycled).")
    var distinctKeys: Int = 1_000_000

    @Option(help: "Seed for generated keys and databases.")
    var seed: UInt64 = 1

    @Option(name: .customLong("sample-every"), help: "Time one single lookup (or query) in this many.")
    var sampleEvery: Int = 64

    @Option(help: "Output format: text or json.")
    var format: CdbOutputFormat = .text

    @Option(name: .customLong("write-keys"), help: ArgumentHelp("Also write the query keys, one per line, to this file (to replay the same stream with --keys or another tool).", valueName: "file"))
    var writeKeys: String?

    @Option(help: ArgumentHelp("Write a database of this many realistic domain-name keys to FILE and exit.", valueName: "n"))
    var generate: Int?

    func validate() throws {
        if lookups < 1 { throw ValidationError("--lookups must be at least 1") }
        if threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if distinctKeys < 1 { throw ValidationError("--distinct-keys must be at least 1") }
        if sampleEvery < 1 { throw ValidationError("--sample-every must be at least 1") }
        if let hitRatio, !(0...1).contains(hitRatio) { throw ValidationError("--hit-ratio must be between 0 and 1") }
        if keys != nil && hitRatio != nil { throw ValidationError("--hit-ratio applies to generated keys, not to --keys") }
        if let generate, generate < 0 || generate > CDBSampleDomains.capacity {
            throw ValidationError("--generate must be between 0 and \(CDBSampleDomains.capacity)")
        }
    }

    func run() throws {
        if let generate {
            try generateDatabase(records: generate)
            return
        }
        let cdb: CDB
        let stats: CDB.Statistics
        do {
            cdb = try CDB(contentsOf: file)
            stats = try cdb.statistics()
        } catch {
            throw cdbFailure(error)
        }

        // The query pool.
        let keyList: [[UInt8]]
        let source: String
        if let keys {
            var bytes: [UInt8] = []
            let failure = try CdbInput(path: keys).forEachChunk { bytes.append(contentsOf: $0) }
            if let failure { throw cdbFailure("\(keys): unable to read: \(cdbErrnoText(failure))") }
            keyList = BenchKeys.lines(of: bytes, suffix: suffix)
            if keyList.isEmpty { throw cdbFailure("\(keys): no keys (one per line expected)") }
            source = "\(keys) (\(keyList.count) keys, in file order)"
        } else {
            let ratio = hitRatio ?? 0.5
            let count = min(distinctKeys, lookups)
            let generated: (keys: [[UInt8]], hits: Int)
            do {
                generated = try BenchKeys.generate(cdb, count: count, hitRatio: ratio, suffix: suffix, seed: seed)
            } catch {
                throw cdbFailure(error)
            }
            if generated.keys.count < count {
                throw cdbFailure("\(file): cannot generate keys that are absent from this file")
            }
            keyList = generated.keys
            source =
                "generated: \(count) distinct queries, \(generated.hits) from the file "
                + "(\(CdbFormat.fixed(100 * Double(generated.hits) / Double(count), 1))%), seed \(seed), random order"
        }
        if let writeKeys {
            var text: [UInt8] = []
            for key in keyList {
                if key.isEmpty || key.contains(0x0a) || key.last == 0x0d {
                    throw cdbFailure("\(writeKeys): a key cannot be written one per line (empty or with a line break)")
                }
                text.append(contentsOf: key)
                text.append(0x0a)
            }
            do {
                try OutputFile.write(text, to: writeKeys, kind: .list, inputs: [file] + [keys].compactMap { $0 })
            } catch {
                throw cdbFailure("\(error)")
            }
        }
        let pool = BenchKeyPool(keyList)
        let workload = BenchWorkload(
            cdb: cdb, pool: pool, batch: batch, batchSize: batchSize, suffix: suffix, sampleEvery: sampleEvery)

        // Warm up: fault the mapping in and run a short untimed pass.
        do {
            var cursor = cdb.records()
            var touched = 0
            while let record = try cursor.next() { touched &+= record.key.count }
            _ = try workload.run(lookups: min(lookups, 200_000), start: 0)
            if touched < 0 { return }  // uses the sum, so the pass over the records stays
        } catch {
            throw cdbFailure(error)
        }

        let clockOverhead = benchClockOverhead()
        let (total, seconds) = try measure(workload)
        let latency = benchDependentReadLatency(bytes: cdb.byteCount, seed: seed)
        let report = BenchCdbReport(
            file: file, stats: stats, source: source, workload: workload, threads: threads, result: total,
            seconds: seconds, clockOverhead: clockOverhead, dependentReadNs: latency,
            lastLevelCache: benchLastLevelCacheBytes())
        let output = CdbOutput()
        output.write(format == .json ? report.json() + "\n" : report.text())
        output.flush()
    }

    /// Runs the workload on `threads` threads at once; returns the merged result and wall time.
    private func measure(_ workload: BenchWorkload) throws -> (BenchThreadResult, Double) {
        let shared = BenchShared()
        let poolCount = workload.pool.count
        let threads = self.threads
        let lookups = self.lookups
        let work = workload
        let start = benchNow()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let share = lookups / threads + (thread < lookups % threads ? 1 : 0)
            let begin = poolCount * thread / threads
            do throws(CDBError) {
                let result = try work.run(lookups: share, start: begin)
                shared.withLock { $0.result.add(result) }
            } catch {
                let failure: CDBError = error
                shared.withLock { if $0.failure == nil { $0.failure = failure } }
            }
        }
        let elapsed = benchNow() - start
        let (total, failure) = shared.withLock { ($0.result, $0.failure) }
        if let failure { throw cdbFailure(failure) }
        return (total, Double(elapsed) / 1e9)
    }

    /// `--generate N FILE`: keys 0..<N of `CDBSampleDomains(seed:)`, empty data.
    private func generateDatabase(records: Int) throws {
        let domains = CDBSampleDomains(seed: seed)
        let start = benchNow()
        do {
            let writer = try CDBWriter(path: file)
            var key: [UInt8] = []
            key.reserveCapacity(64)
            for index in 0..<records {
                key.removeAll(keepingCapacity: true)
                domains.append(index, to: &key)
                try key.withUnsafeBufferPointer { (raw) throws(CDBError) in
                    try writer.add(key: UnsafeRawBufferPointer(raw), data: UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
            try writer.finish()
        } catch {
            throw cdbFailure(error)
        }
        let seconds = Double(benchNow() - start) / 1e9
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let output = CdbOutput()
        if format == .json {
            output.write(
                "{\"file\": \(jsonString(file)), \"records\": \(records), \"bytes\": \(size), \"seed\": \(seed), "
                    + "\"seconds\": \(CdbFormat.fixed(seconds, 3))}\n")
        } else {
            output.write(
                "wrote \(file): \(records) domain-name keys (seed \(seed)), \(size) bytes (\(CdbFormat.bytes(size))) "
                    + "in \(CdbFormat.fixed(seconds, 2)) s\n")
        }
        output.flush()
    }
}

/// What the benchmark threads report, behind a lock (NSLock: Synchronization's Mutex needs
/// macOS 15, the package supports macOS 13).
final class BenchShared: @unchecked Sendable {
    // Sendable: `state` is only touched with `lock` held.
    struct State {
        var result = BenchThreadResult()
        var failure: CDBError?
    }

    private let lock = NSLock()
    private var state = State()

    func withLock<R>(_ body: (inout State) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
    return String(decoding: data, as: UTF8.self)
}

/// The outcome of a `relaylab bench cdb` run, as text or as one JSON object.
struct BenchCdbReport: Encodable {
    var file: String
    var mode: String
    var suffix: Bool
    var threads: Int
    var keySource: String
    var lookups: Int
    var seconds: Double
    var lookupsPerSecond: Double
    var nsPerLookup: Double
    var hits: Int
    var misses: Int
    var queries: Int
    var queriesPerSecond: Double
    var queryHits: Int
    var latencyUnit: String
    var latencySamples: UInt64
    var sampleEvery: Int
    var clockOverheadNs: UInt64
    var p50: UInt64
    var p90: UInt64
    var p99: UInt64
    var p999: UInt64
    var max: UInt64
    var memory: Memory
    var fileStats: CdbStatsReport

    struct Memory: Encodable {
        var fileBytes: Int
        var lastLevelCacheBytes: Int?
        var dependentReadNs: Double?
        var cacheLinesPerLookup: Double
        var dependentReadsPerLookup: Double
        var serialLimitNs: Double?
        var measuredOverSerialLimit: Double?

        enum CodingKeys: String, CodingKey {
            case fileBytes = "file_bytes", lastLevelCacheBytes = "last_level_cache_bytes"
            case dependentReadNs = "dependent_read_ns", cacheLinesPerLookup = "cache_lines_per_lookup"
            case dependentReadsPerLookup = "dependent_reads_per_lookup", serialLimitNs = "serial_limit_ns"
            case measuredOverSerialLimit = "measured_over_serial_limit"
        }
    }

    enum CodingKeys: String, CodingKey {
        case file, mode, suffix, threads, lookups, seconds, hits, misses, queries, memory
        case keySource = "key_source", lookupsPerSecond = "lookups_per_second", nsPerLookup = "ns_per_lookup"
        case queriesPerSecond = "queries_per_second", queryHits = "query_hits", latencyUnit = "latency_unit"
        case latencySamples = "latency_samples", sampleEvery = "sample_every", clockOverheadNs = "clock_overhead_ns"
        case p50 = "p50_ns", p90 = "p90_ns", p99 = "p99_ns", p999 = "p999_ns", max = "max_ns"
        case fileStats = "file_stats"
    }

    init(
        file: String, stats: CDB.Statistics, source: String, workload: BenchWorkload, threads: Int,
        result: BenchThreadResult, seconds: Double, clockOverhead: UInt64, dependentReadNs: Double?,
        lastLevelCache: Int?
    ) {
        self.file = file
        mode = workload.batch ? "batch" : "single"
        suffix = workload.suffix
        self.threads = threads
        keySource = source
        lookups = result.lookups
        self.seconds = seconds
        lookupsPerSecond = seconds > 0 ? Double(result.lookups) / seconds : 0
        nsPerLookup = result.lookups > 0 ? seconds * 1e9 * Double(threads) / Double(result.lookups) : 0
        hits = result.hits
        misses = result.lookups - result.hits
        queries = result.queries
        queriesPerSecond = seconds > 0 ? Double(result.queries) / seconds : 0
        queryHits = result.queryHits
        switch (workload.batch, workload.suffix) {
        case (false, false): latencyUnit = "one lookup, timed on its own"
        case (true, false): latencyUnit = "mean per lookup of one batch call of up to \(workload.batchSize) keys"
        case (false, true): latencyUnit = "one query (its whole suffix walk), timed on its own"
        case (true, true): latencyUnit = "mean per query of one batched suffix walk of up to \(workload.batchSize) queries"
        }
        let histogram = result.histogram
        latencySamples = histogram.totalCount
        sampleEvery = workload.batch ? 1 : workload.sampleEvery
        clockOverheadNs = clockOverhead
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
        // What a lookup reads: a hit reads its slots, then (depending on them) its record; a
        // miss reads only slots. The measured hit share weighs the two.
        let hitShare = result.lookups > 0 ? Double(result.hits) / Double(result.lookups) : 0
        let lines = hitShare * stats.meanHitCacheLines + (1 - hitShare) * stats.meanMissCacheLines
        let dependent = hitShare * 2 + (1 - hitShare) * (stats.meanMissProbe > 0 ? 1 : 0)
        let serial = dependentReadNs.map { $0 * dependent }
        memory = Memory(
            fileBytes: stats.bytes, lastLevelCacheBytes: lastLevelCache, dependentReadNs: dependentReadNs,
            cacheLinesPerLookup: lines, dependentReadsPerLookup: dependent, serialLimitNs: serial,
            measuredOverSerialLimit: serial.flatMap { [nsPerLookup] in $0 > 0 ? nsPerLookup / $0 : nil })
        var summary = CdbStatsReport(file: file, stats)
        summary.tables = []
        fileStats = summary
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    func text() -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value)
        }
        let f = CdbFormat.self
        row("file", "\(file): \(fileStats.records) records, \(f.bytes(fileStats.bytes)), load \(f.fixed(fileStats.load, 3))")
        row(
            "lookup cost",
            "hit \(f.fixed(fileStats.hit.meanProbe, 2)) slots, \(f.fixed(fileStats.hit.meanCacheLines, 2)) cache lines; "
                + "miss \(f.fixed(fileStats.miss.meanProbe, 2)) slots, \(f.fixed(fileStats.miss.meanCacheLines, 2)) cache lines")
        row("keys", keySource)
        row(
            "mode",
            (mode == "batch" ? "batched lookups" : "single lookups") + (suffix ? ", qmail suffix walk" : "")
                + ", \(threads) thread" + (threads == 1 ? "" : "s"))
        row(
            "lookups",
            "\(lookups) in \(f.fixed(seconds, 3)) s = \(f.fixed(lookupsPerSecond / 1e6, 2)) M lookups/s "
                + "(\(f.fixed(nsPerLookup, 1)) ns per lookup per thread)")
        row("hits", "\(hits) hits, \(misses) misses (\(f.fixed(lookups > 0 ? 100 * Double(hits) / Double(lookups) : 0, 1))% hits)")
        if suffix {
            row(
                "queries",
                "\(queries) (\(f.fixed(queriesPerSecond / 1e6, 3)) M/s), \(queryHits) found, "
                    + "\(f.fixed(queries > 0 ? Double(lookups) / Double(queries) : 0, 2)) lookups per query")
        }
        row(
            "latency",
            "p50 \(p50) ns  p90 \(p90) ns  p99 \(p99) ns  p99.9 \(p999) ns  max \(max) ns")
        if mode == "batch" {
            row("", "(\(latencyUnit); \(latencySamples) batches timed)")
        } else {
            row(
                "",
                "(\(latencyUnit); sampled: 1 in \(sampleEvery) timed, \(latencySamples) samples, "
                    + "each including ~\(clockOverheadNs) ns of clock reads)")
        }
        var context = "file \(f.bytes(memory.fileBytes))"
        if let cache = memory.lastLevelCacheBytes {
            context += " vs last-level cache \(f.bytes(cache))"
            context +=
                memory.fileBytes > cache
                ? ": lookups mostly read main memory" : ": the file fits in the cache"
        }
        row("memory", context)
        row(
            "",
            "a lookup here reads ~\(f.fixed(memory.cacheLinesPerLookup, 2)) cache lines in "
                + "~\(f.fixed(memory.dependentReadsPerLookup, 2)) dependent steps (hit: slot, then record; miss: slots)")
        if let read = memory.dependentReadNs, let serial = memory.serialLimitNs {
            row("", "one dependent read from a \(f.bytes(memory.fileBytes)) working set: \(f.fixed(read, 1)) ns (pointer chase, 4 KiB pages)")
            var verdict = "serial memory limit ~\(f.fixed(serial, 1)) ns per lookup; measured \(f.fixed(nsPerLookup, 1)) ns"
            if let ratio = memory.measuredOverSerialLimit {
                verdict += " = \(f.fixed(ratio, 2)) x the limit"
                if ratio < 0.9 { verdict += " (memory reads overlapped)" }
            }
            row("", verdict)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

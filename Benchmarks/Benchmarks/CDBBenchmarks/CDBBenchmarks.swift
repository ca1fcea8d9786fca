// cdb lookups per second: relaylab's CDB against tinycdb's C library, on the same file and the
// same query stream, in the same run.
//
// Data sets: realistic domain-name databases (CDBSampleDomains, seed 1, as written by
// `relaylab bench cdb --generate N`) of 10k, 100k, 1M and 5M records, generated once into
// Benchmarks/.build/cdb-bench-cache (or $RELAYLAB_BENCH_CACHE). Queries: 1M per data set, half keys
// of the file and half realistic names absent from it, in random order (seeded).
//
// Each measured iteration makes 1M lookups (scaling factor mega), so the wall clock and
// throughput columns read per lookup: ns per lookup and lookups per second.

import Benchmark
import CDB
import CTinyCDB
import Foundation

/// Record counts of the data sets.
let sizes: [(label: String, records: Int)] = [("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000), ("5M", 5_000_000)]

let queriesPerSet = 1_000_000

/// Where generated files are kept between runs.
let cacheFolder: String = {
    if let folder = ProcessInfo.processInfo.environment["RELAYLAB_BENCH_CACHE"] { return folder }
    var url = URL(fileURLWithPath: #filePath)  // Benchmarks/Benchmarks/CDBBenchmarks/CDBBenchmarks.swift
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path + "/.build/cdb-bench-cache"
}()

/// A query stream: keys packed in one buffer, with views the lookups take directly.
final class QueryStream: @unchecked Sendable {
    // Sendable: written only in init, freed only in deinit.
    let bytes: UnsafeMutableRawBufferPointer
    let keys: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    let hits: Int

    init(records: Int, count: Int, seed: UInt64) {
        let domains = CDBSampleDomains(seed: 1)
        var random = SplitMix64(seed: seed)
        var indexes: [Int] = []
        indexes.reserveCapacity(count)
        for i in 0..<count {
            if i < count / 2 {
                indexes.append(Int(random.next() % UInt64(records)))  // a key of the file
            } else {  // never in the file: indexes >= records are other names
                indexes.append(records + Int(random.next() % UInt64(CDBSampleDomains.capacity - records)))
            }
        }
        indexes.shuffle(using: &random)
        hits = count / 2
        var packed: [UInt8] = []
        var ends: [Int] = []
        for index in indexes {
            domains.append(index, to: &packed)
            ends.append(packed.count)
        }
        bytes = .allocate(byteCount: max(packed.count, 1), alignment: 64)
        bytes.copyBytes(from: packed)
        keys = .allocate(capacity: count)
        var start = 0
        for (i, end) in ends.enumerated() {
            keys[i] = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            start = end
        }
    }

    deinit {
        bytes.deallocate()
        keys.deallocate()
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The database file with `records` keys, generated on first use.
func databasePath(records: Int) throws -> String {
    let path = "\(cacheFolder)/domains-\(records)-seed1-v1.cdb"
    if FileManager.default.fileExists(atPath: path) { return path }
    try FileManager.default.createDirectory(atPath: cacheFolder, withIntermediateDirectories: true)
    let domains = CDBSampleDomains(seed: 1)
    let writer = try CDBWriter(path: path)
    var key: [UInt8] = []
    for index in 0..<records {
        key.removeAll(keepingCapacity: true)
        domains.append(index, to: &key)
        try writer.add(key: key, data: [])
    }
    try writer.finish()
    return path
}

/// Everything a data set's benchmarks share, built once per process.
final class DataSet: @unchecked Sendable {
    // Sendable: immutable after init, used by one benchmark thread at a time.
    let cdb: CDB
    /// tinycdb's handle, at a fixed address: cdb_find writes the found position into it, and a
    /// pointer (unlike an inout class property) costs no exclusivity check per call.
    let tiny: UnsafeMutablePointer<CTinyCDB.cdb>
    let fd: Int32
    let queries: QueryStream
    let results: UnsafeMutableBufferPointer<CDB.Location?>

    init(records: Int) throws {
        let path = try databasePath(records: records)
        cdb = try CDB(contentsOf: path)
        fd = open(path, O_RDONLY)
        tiny = .allocate(capacity: 1)
        tiny.initialize(to: CTinyCDB.cdb())
        guard fd >= 0, cdb_init(tiny, fd) == 0 else { throw CDBError(.system(operation: "cdb_init", errno: errno), path: path) }
        queries = QueryStream(records: records, count: queriesPerSet, seed: 42)
        results = .allocate(capacity: 1024)
        results.initialize(repeating: nil)
    }

    /// Checks that both libraries agree on every query before anything is measured.
    func verify() throws {
        var hits = 0
        for key in queries.keys {
            let ours = try cdb.firstLocation(key)
            let theirs = cdb_find(tiny, key.baseAddress, UInt32(key.count))
            if (ours != nil) != (theirs > 0) { fatalError("relaylab and tinycdb disagree on a key") }
            if let ours, ours.offset != Int(tiny.pointee.cdb_vpos) || ours.count != Int(tiny.pointee.cdb_vlen) {
                fatalError("relaylab and tinycdb return different data")
            }
            if ours != nil { hits += 1 }
        }
        if hits != queries.hits { fatalError("expected \(queries.hits) hits, found \(hits)") }
    }
}

nonisolated(unsafe) var dataSets: [Int: DataSet] = [:]

func dataSet(_ records: Int) throws -> DataSet {
    if let set = dataSets[records] { return set }
    let set = try DataSet(records: records)
    try set.verify()
    dataSets[records] = set
    return set
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1,
        scalingFactor: .mega,
        maxDuration: .seconds(4),
        maxIterations: 8
    )

    for (label, records) in sizes {
        // tinycdb: one cdb_find per query.
        Benchmark("tinycdb cdb_find \(label)", configuration: configuration) { benchmark in
            let set = try dataSet(records)
            let tiny = set.tiny
            let keys = set.queries.keys
            var hits = 0
            var index = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let key = keys[index]
                if cdb_find(tiny, key.baseAddress, UInt32(key.count)) > 0 { hits &+= 1 }
                index &+= 1
                if index == keys.count { index = 0 }
            }
            benchmark.stopMeasurement()
            blackHole(hits)
        }

        // relaylab: one CDB.firstLocation per query.
        Benchmark("relaylab first \(label)", configuration: configuration) { benchmark in
            let set = try dataSet(records)
            let cdb = set.cdb
            let keys = set.queries.keys
            var hits = 0
            var index = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                if try cdb.firstLocation(keys[index]) != nil { hits &+= 1 }
                index &+= 1
                if index == keys.count { index = 0 }
            }
            benchmark.stopMeasurement()
            blackHole(hits)
        }

        // relaylab: CDB.firstBatch over runs of 1024 queries.
        Benchmark("relaylab firstBatch \(label)", configuration: configuration) { benchmark in
            let set = try dataSet(records)
            let cdb = set.cdb
            let keys = set.queries.keys
            let results = set.results
            var hits = 0
            var index = 0
            var remaining = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            while remaining > 0 {
                let count = min(1024, remaining, keys.count - index)
                try cdb.firstBatch(
                    UnsafeBufferPointer(rebasing: keys[index..<(index + count)]),
                    into: UnsafeMutableBufferPointer(rebasing: results[0..<count]))
                for i in 0..<count where results[i] != nil { hits &+= 1 }
                index += count
                if index == keys.count { index = 0 }
                remaining -= count
            }
            benchmark.stopMeasurement()
            blackHole(hits)
        }
    }
}

import CDB
import Histogram

/// A seeded SplitMix64 generator, so generated query streams are reproducible.
struct BenchRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The lookups one `relaylab bench cdb` run makes, and how they are made.
struct BenchWorkload {
    var cdb: CDB
    var pool: BenchKeyPool
    var batch: Bool
    var batchSize: Int
    var suffix: Bool
    /// Time one lookup (or query) in this many; batches are timed whole.
    var sampleEvery: Int
}

/// What one thread measured.
struct BenchThreadResult: Sendable {
    var lookups = 0
    var hits = 0
    var queries = 0
    var queryHits = 0
    var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func add(_ other: BenchThreadResult) {
        lookups += other.lookups
        hits += other.hits
        queries += other.queries
        queryHits += other.queryHits
        histogram.add(other.histogram)
    }
}

extension BenchWorkload {
    /// Makes at least `lookups` cdb lookups, starting at query `start` of the pool and cycling.
    func run(lookups: Int, start: Int) throws(CDBError) -> BenchThreadResult {
        switch (suffix, batch) {
        case (false, false): return try runSingle(lookups: lookups, start: start)
        case (false, true): return try runBatched(lookups: lookups, start: start)
        case (true, false): return try runSuffixSingle(lookups: lookups, start: start)
        case (true, true): return try runSuffixBatched(lookups: lookups, start: start)
        }
    }

    /// One `firstLocation` per key; every `sampleEvery`-th is timed on its own.
    private func runSingle(lookups: Int, start: Int) throws(CDBError) -> BenchThreadResult {
        var result = BenchThreadResult()
        let keys = pool.keys
        let poolCount = pool.count
        let cdb = self.cdb
        var index = start % poolCount
        var hits = 0
        var countdown = 0
        for _ in 0..<lookups {
            let key = keys[index]
            index &+= 1
            if index == poolCount { index = 0 }
            if countdown == 0 {
                countdown = sampleEvery
                let before = benchNow()
                let found = try cdb.firstLocation(key) != nil
                let after = benchNow()
                _ = result.histogram.record(after &- before)
                if found { hits &+= 1 }
            } else if try cdb.firstLocation(key) != nil {
                hits &+= 1
            }
            countdown &-= 1
        }
        result.lookups = lookups
        result.hits = hits
        result.queries = lookups
        result.queryHits = hits
        return result
    }

    /// `firstBatch` over runs of `batchSize` keys; each batch is timed and recorded as its mean
    /// time per lookup.
    private func runBatched(lookups: Int, start: Int) throws(CDBError) -> BenchThreadResult {
        var result = BenchThreadResult()
        let poolCount = pool.count
        let scratch = BenchResults(capacity: batchSize)
        var index = start % poolCount
        var remaining = lookups
        var hits = 0
        while remaining > 0 {
            let count = min(batchSize, remaining, poolCount - index)
            let output = UnsafeMutableBufferPointer(rebasing: scratch.buffer[0..<count])
            let before = benchNow()
            try cdb.firstBatch(pool.slice(index, count), into: output)
            let after = benchNow()
            _ = result.histogram.record(max(1, (after &- before) / UInt64(count)))
            for location in output where location != nil { hits &+= 1 }
            index += count
            if index == poolCount { index = 0 }
            remaining -= count
        }
        result.lookups = lookups
        result.hits = hits
        result.queries = lookups
        result.queryHits = hits
        return result
    }

    /// qmail-smtpd's morercpthosts check per query: the domain, then every suffix starting at a
    /// dot (`a.b.example.com`, `.b.example.com`, `.example.com`, `.com`), until one is found.
    /// Every `sampleEvery`-th query is timed whole.
    private func runSuffixSingle(lookups: Int, start: Int) throws(CDBError) -> BenchThreadResult {
        var result = BenchThreadResult()
        let keys = pool.keys
        let poolCount = pool.count
        let cdb = self.cdb
        var index = start % poolCount
        var made = 0
        var hits = 0
        var queries = 0
        var queryHits = 0
        var countdown = 0
        while made < lookups {
            let domain = keys[index]
            index &+= 1
            if index == poolCount { index = 0 }
            let timed = countdown == 0
            if timed { countdown = sampleEvery }
            countdown &-= 1
            let before = timed ? benchNow() : 0
            var found = false
            var position = 0
            while position < domain.count {
                if position == 0 || domain[position] == UInt8(ascii: ".") {
                    made &+= 1
                    if try cdb.firstLocation(UnsafeRawBufferPointer(rebasing: domain[position...])) != nil {
                        found = true
                        break
                    }
                }
                position &+= 1
            }
            if timed { _ = result.histogram.record(benchNow() &- before) }
            queries &+= 1
            if found {
                hits &+= 1
                queryHits &+= 1
            }
        }
        result.lookups = made
        result.hits = hits
        result.queries = queries
        result.queryHits = queryHits
        return result
    }

    /// The suffix walk for `batchSize` queries at once: round 1 looks up every domain in one
    /// batch, round 2 the next suffix of those not yet found, and so on — the same lookups as
    /// one query at a time, with their memory reads overlapped. Each group of queries is timed
    /// and recorded as its mean time per query.
    private func runSuffixBatched(lookups: Int, start: Int) throws(CDBError) -> BenchThreadResult {
        var result = BenchThreadResult()
        let poolCount = pool.count
        let scratch = BenchResults(capacity: batchSize)
        let roundKeys = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: batchSize)
        defer { roundKeys.deallocate() }
        var active = [Int](repeating: 0, count: batchSize)  // pool index of each pending query
        var offsets = [Int](repeating: 0, count: batchSize)  // where its current suffix starts
        var index = start % poolCount
        var made = 0
        var hits = 0
        var queries = 0
        while made < lookups {
            let count = min(batchSize, poolCount - index)
            var pending = count
            for i in 0..<count {
                active[i] = index + i
                offsets[i] = 0
            }
            let before = benchNow()
            while pending > 0 {
                for i in 0..<pending {
                    let domain = pool.keys[active[i]]
                    roundKeys[i] = UnsafeRawBufferPointer(rebasing: domain[offsets[i]...])
                }
                let output = UnsafeMutableBufferPointer(rebasing: scratch.buffer[0..<pending])
                try cdb.firstBatch(UnsafeBufferPointer(rebasing: roundKeys[0..<pending]), into: output)
                made += pending
                var kept = 0
                for i in 0..<pending {
                    if output[i] != nil {
                        hits += 1
                        continue
                    }
                    let domain = pool.keys[active[i]]
                    var next = offsets[i] + 1
                    while next < domain.count && domain[next] != UInt8(ascii: ".") { next += 1 }
                    if next < domain.count {
                        active[kept] = active[i]
                        offsets[kept] = next
                        kept += 1
                    }
                }
                pending = kept
            }
            let after = benchNow()
            _ = result.histogram.record(max(1, (after &- before) / UInt64(count)))
            queries += count
            index += count
            if index == poolCount { index = 0 }
        }
        result.lookups = made
        result.hits = hits
        result.queries = queries
        result.queryHits = hits
        return result
    }
}

/// Building the query pool: keys from a file, or a generated mix of hits and misses.
enum BenchKeys {
    /// Lines of a file (without their newline; a trailing carriage return is dropped too), empty
    /// lines skipped. In suffix mode each line is an address or a domain: the part after the last
    /// `@`, lowercased, as qmail-smtpd checks it.
    static func lines(of bytes: [UInt8], suffix: Bool) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for line in bytes.split(separator: 0x0a, omittingEmptySubsequences: true) {
            var key = Array(line)
            if key.last == 0x0d { key.removeLast() }
            if suffix {
                if let at = key.lastIndex(of: UInt8(ascii: "@")) { key.removeSubrange(...at) }
                key = key.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }
            }
            if !key.isEmpty { keys.append(key) }
        }
        return keys
    }

    /// Whether qmail-smtpd's suffix walk finds `domain` in `cdb`.
    static func suffixHit(_ cdb: CDB, _ domain: [UInt8]) throws(CDBError) -> Bool {
        try domain.withUnsafeBytes { raw in
            Result { () throws(CDBError) -> Bool in
                for position in 0..<raw.count where position == 0 || raw[position] == UInt8(ascii: ".") {
                    if try cdb.firstLocation(UnsafeRawBufferPointer(rebasing: raw[position...])) != nil {
                        return true
                    }
                }
                return false
            }
        }.get()
    }

    /// `count` queries in random order, `hitRatio` of them keys of the file (sampled uniformly
    /// from its records) and the rest realistic domain names that are not in it. Returns fewer
    /// keys if absent names cannot be found (a file that matches nearly everything).
    static func generate(
        _ cdb: CDB, count: Int, hitRatio: Double, suffix: Bool, seed: UInt64
    ) throws(CDBError) -> (keys: [[UInt8]], hits: Int) {
        var random = BenchRandom(seed: seed)
        var wantedHits = Int((Double(count) * hitRatio).rounded())
        // Reservoir-sample the hit keys from the records.
        var sample: [CDB.Location] = []
        if wantedHits > 0 {
            sample.reserveCapacity(wantedHits)
            var cursor = cdb.records()
            var seen = 0
            while let record = try cursor.next() {
                if suffix && record.key.isEmpty { continue }
                let location = CDB.Location(offset: record.key.offset, count: record.key.count)
                seen += 1
                if sample.count < wantedHits {
                    sample.append(location)
                } else {
                    let slot = Int(random.next() % UInt64(seen))
                    if slot < wantedHits { sample[slot] = location }
                }
            }
        }
        // Fewer records than wanted hits: repeat them.
        var keys: [[UInt8]] = []
        keys.reserveCapacity(count)
        if !sample.isEmpty {
            let hosts = ["mail", "mx", "www", "smtp", "lists"]
            for i in 0..<wantedHits {
                var key = cdb.value(at: sample[i % sample.count]).bytes
                if suffix && key.first == UInt8(ascii: ".") {
                    key.insert(contentsOf: hosts[Int(random.next() % 5)].utf8, at: 0)
                }
                keys.append(key)
            }
        } else {
            wantedHits = 0
        }
        let domains = CDBSampleDomains(seed: seed ^ 0x6D69_7373_6573_2121)
        var attempts = 0
        while keys.count < count {
            let key = domains.key(Int(random.next() % UInt64(CDBSampleDomains.capacity)))
            let present = try suffix ? suffixHit(cdb, key) : cdb.first(key) != nil
            if present {
                attempts += 1
                if attempts > 1000 + count { break }  // the caller reports the shortfall
                continue
            }
            keys.append(key)
        }
        keys.shuffle(using: &random)
        return (keys, wantedHits)
    }
}

@_spi(Testing) import CDB
import TestSupport
import Testing

/// `firstBatch` must give exactly what `firstLocation` gives, key by key — on good files and
/// on damaged ones (the same error, for the first key whose single lookup fails).
@Suite("batched lookups equal single lookups")
struct CDBBatchTests {
    /// Single lookups in order: results until the first error, and that error.
    static func single(_ cdb: CDB, _ keys: [[UInt8]]) -> ([CDB.Location?], CDBError?) {
        var results: [CDB.Location?] = []
        for key in keys {
            do {
                results.append(try key.withUnsafeBytes { try cdb.firstLocation($0) })
            } catch {
                return (results, error as? CDBError)
            }
        }
        return (results, nil)
    }

    /// The batch over `keys`: all results (unspecified after an error) and the error. `staged`
    /// forces the staged path, which the public `firstBatch` skips for files that fit in the
    /// caches (all the files here).
    static func batch(_ cdb: CDB, _ keys: [[UInt8]], staged: Bool = true) -> ([CDB.Location?], CDBError?) {
        let packed = keys.flatMap { $0 }
        var results = [CDB.Location?](repeating: nil, count: keys.count)
        var failure: CDBError?
        packed.withUnsafeBytes { raw in
            var pointers: [UnsafeRawBufferPointer] = []
            var start = 0
            for key in keys {
                pointers.append(UnsafeRawBufferPointer(rebasing: raw[start..<(start + key.count)]))
                start += key.count
            }
            pointers.withUnsafeBufferPointer { keyBuffer in
                results.withUnsafeMutableBufferPointer { resultBuffer in
                    do {
                        if staged {
                            try cdb._firstBatchStaged(keyBuffer, into: resultBuffer)
                        } else {
                            try cdb.firstBatch(keyBuffer, into: resultBuffer)
                        }
                    } catch {
                        failure = error as? CDBError
                    }
                }
            }
        }
        return (results, failure)
    }

    static func queries(for records: [([UInt8], [UInt8])], count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            if !records.isEmpty && Bool.random(using: &rng) {
                return records[Int.random(in: 0..<records.count, using: &rng)].0
            }
            return (0..<Int.random(in: 0...12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
    }

    @Test("random databases and queries", arguments: [(0, 1), (1, 2), (31, 3), (33, 4), (700, 5), (5000, 6)])
    func randomDatabases(records count: Int, seed: UInt64) throws {
        let records = CDBImage.randomRecords(count: count, seed: seed, maxKey: 8)
        let cdb = try CDB(bytes: CDBWriter.build(records))
        for length in [0, 1, 5, 31, 32, 33, 64, 1000, 3001] {
            let keys = Self.queries(for: records, count: length, seed: seed &* 31 &+ UInt64(length))
            let (expected, expectedError) = Self.single(cdb, keys)
            let (results, error) = Self.batch(cdb, keys)
            #expect(expectedError == nil && error == nil)
            #expect(results == expected)
            let (viaPublic, publicError) = Self.batch(cdb, keys, staged: false)
            #expect(publicError == nil)
            #expect(viaPublic == expected)
        }
    }

    @Test("a file larger than the cache threshold goes through the stages")
    func largeFile() throws {
        // 1.6 MiB: over CDB.cacheResidentSize, so the public firstBatch takes the staged path.
        let records = (0..<20_000).map { (Array("host\($0).example.net".utf8), [UInt8](repeating: UInt8($0 & 255), count: 40)) }
        let cdb = try CDB(bytes: CDBWriter.build(records))
        #expect(cdb.byteCount > CDB.cacheResidentSize)
        let keys = Self.queries(for: records, count: 5000, seed: 12)
        let (expected, _) = Self.single(cdb, keys)
        let (results, error) = Self.batch(cdb, keys, staged: false)
        #expect(error == nil)
        #expect(results == expected)
        #expect(results.compactMap { $0 }.count > 2000)
    }

    @Test("the convenience batches return values")
    func convenience() throws {
        let records = (0..<300).map { (Array("host\($0).example".utf8), Array("data \($0)".utf8)) }
        let cdb = try CDB(bytes: CDBWriter.build(records))
        let keys = (0..<600).map { "host\($0).example" }
        let values = try cdb.firstBatch(keys)
        #expect(values.map { $0?.string } == keys.map { try? cdb.first($0)?.string })
        #expect(values.compactMap { $0 }.count == 300)
        #expect(try cdb.firstBatch(keys.map { Array($0.utf8) }) == values)
        #expect(try cdb.firstBatch([String]()).isEmpty)
    }

    @Test("damaged files: the same error as the first failing single lookup", arguments: 0..<6)
    func damagedFiles(seed: UInt64) throws {
        let records = CDBImage.randomRecords(count: 200, seed: 40 + seed, maxKey: 6, maxData: 6)
        let good = try CDBWriter.build(records)
        var rng = SplitMix64(seed: 900 + seed)
        var compared = 0
        var failures = 0
        for _ in 0..<60 {
            var bytes = good
            // Damage the slots and record headers (where lookups read), a few bytes at a time.
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let offset = Int.random(in: 2048..<bytes.count, using: &rng)
                bytes[offset] = UInt8.random(in: 0...255, using: &rng)
            }
            guard let cdb = try? CDB(bytes: bytes) else { continue }
            let keys = Self.queries(for: records, count: 100, seed: rng.next())
            let (expected, expectedError) = Self.single(cdb, keys)
            let (results, error) = Self.batch(cdb, keys)
            #expect(error == expectedError)
            #expect(Array(results.prefix(expected.count)) == expected)
            #expect(Self.batch(cdb, keys, staged: false).1 == expectedError)
            compared += 1
            if error != nil { failures += 1 }
        }
        #expect(compared > 40)
        #expect(failures > 0, "some damage must reach a lookup for this test to mean anything")
    }
}

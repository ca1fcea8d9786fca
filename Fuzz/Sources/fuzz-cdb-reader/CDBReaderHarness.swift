// The cdb reader on arbitrary bytes: the header check, record iteration, statistics, single,
// "find next" and batched lookups. Properties: nothing reads outside the file (AddressSanitizer),
// iteration ends, and the three lookup paths agree (same location, or the same error).

import CDB
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = LibFuzzer.bytes(start, count)
    let cdb: CDB
    do {
        cdb = try CDB(bytes: bytes, name: "fuzz.cdb")
    } catch {
        fuzzCheck(isOneLine(error.description), "header error is not one line: \(error.description)")
        return 0
    }
    if let statistics = try? cdb.statistics() {
        fuzzCheck(statistics.indexedRecords <= statistics.totalSlots, "more indexed records than slots")
    }
    // Iterate: every record lies inside the record area; the walk ends.
    var keys: [[UInt8]] = [[], Array(bytes.prefix(4))]
    var cursor = cdb.records()
    var records = 0
    while true {
        let record: CDB.Record?
        do {
            record = try cursor.next()
        } catch {
            fuzzCheck(isOneLine(error.description), "record error is not one line")
            break
        }
        guard let record else { break }
        records += 1
        fuzzCheck(record.position >= 2048 && record.data.offset + record.data.count <= cdb.recordAreaEnd,
            "record outside the record area")
        if keys.count < 48 { keys.append(record.key.bytes) }
        fuzzCheck(records <= bytes.count / 8, "more records than the file can hold")
    }
    // Lookups: first, all, firstLocation and firstBatch agree.
    var singles: [Result<CDB.Location?, CDBError>] = []
    for key in keys {
        let single = key.withUnsafeBytes { raw in Result { () throws(CDBError) in try cdb.firstLocation(raw) } }
        singles.append(single)
        let first = Result { () throws(CDBError) in try cdb.first(key) }
        let all = Result { () throws(CDBError) in try cdb.all(key) }
        switch (single, first) {
        case (.success(let location), .success(let value)):
            fuzzCheck(location?.offset == value?.offset && location?.count == value?.count, "first and firstLocation differ")
        case (.failure(let a), .failure(let b)):
            fuzzCheck(a == b, "first and firstLocation throw different errors")
        default:
            fuzzCheck(false, "first and firstLocation disagree on success")
        }
        if case .success(let value) = first, case .success(let values) = all {
            fuzzCheck(values.first?.offset == value?.offset, "all(key).first differs from first(key)")
        }
        if case .failure = first {
            if case .success = all { fuzzCheck(false, "all(key) succeeds where first(key) throws") }
        }
    }
    let batch = Result { () throws(CDBError) in try cdb.firstBatch(keys) }
    if let failing = singles.firstIndex(where: { if case .failure = $0 { true } else { false } }) {
        guard case .failure(let expected) = singles[failing] else { return 0 }
        switch batch {
        case .success: fuzzCheck(false, "firstBatch succeeds where key \(failing)'s lookup throws")
        case .failure(let error): fuzzCheck(error == expected, "firstBatch throws \(error), key \(failing) throws \(expected)")
        }
    } else {
        switch batch {
        case .failure(let error): fuzzCheck(false, "firstBatch throws \(error) where every single lookup succeeds")
        case .success(let values):
            for (index, value) in values.enumerated() {
                guard case .success(let location) = singles[index] else { continue }
                fuzzCheck(value?.offset == location?.offset && value?.count == location?.count,
                    "firstBatch differs from firstLocation for key \(index)")
            }
        }
    }
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

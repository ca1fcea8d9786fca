// The cdbmake text parser on arbitrary bytes, fed whole and in chunks of sizes drawn from the
// input. Properties: the chunking changes nothing (same records, same error at the same line and
// offset); errors are one line; accepted input round-trips through the writer, the reader and
// the formatter.

import CDB
import FuzzSupport

struct Outcome: Equatable {
    var records: [[UInt8]] = []
    var error: CDBError?
}

func parse(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var parser = CDBMakeParser(name: "fuzz.txt")
    var outcome = Outcome()
    do throws(CDBError) {
        for chunk in chunks {
            var records: [[UInt8]] = []
            let fed = Array(chunk).withUnsafeBytes { raw in
                Result { () throws(CDBError) in
                    try parser.feed(raw) { (key, data) throws(CDBError) in
                        records.append(key)
                        records.append(data)
                    }
                }
            }
            outcome.records += records
            try fed.get()
            if parser.isComplete { break }
        }
        try parser.finish()
    } catch {
        outcome.error = error
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(LibFuzzer.bytes(start, count))
    let chunkSeed = input.byte()
    let text = input.rest()
    let whole = parse([text[...]])
    var sizes = FuzzInput([chunkSeed, chunkSeed &* 7, chunkSeed ^ 0x5A, chunkSeed &+ 3] + text.prefix(16))
    let chunked = parse(sizes.chunks(of: text, maxChunk: 17))
    fuzzCheck(whole == chunked, "chunking changes the outcome: \(String(describing: whole.error)) vs \(String(describing: chunked.error))")
    if let error = whole.error {
        fuzzCheck(isOneLine(error.description), "error is not one line: \(error.description)")
        return 0
    }
    // Round trip: writer → reader gives the same records in order; the formatter reparses to them.
    let writer = CDBWriter()
    var pairs: [([UInt8], [UInt8])] = []
    var index = 0
    while index + 1 < whole.records.count {
        pairs.append((whole.records[index], whole.records[index + 1]))
        index += 2
    }
    do {
        for (key, data) in pairs { try writer.add(key: key, data: data) }
        let bytes = try writer.finishInMemory()
        let cdb = try CDB(bytes: bytes)
        let records = try cdb.allRecords()
        fuzzCheck(records.count == pairs.count, "record count changes in the round trip")
        for (record, pair) in zip(records, pairs) {
            fuzzCheck(record.key.bytes == pair.0 && record.data.bytes == pair.1, "record changes in the round trip")
        }
        for (key, data) in pairs.prefix(32) {
            let found = try cdb.all(key).contains { $0.bytes == data }
            fuzzCheck(found, "a written record is not found")
        }
    } catch {
        fuzzCheck(false, "valid records do not round-trip: \(error)")
    }
    let formatted = CDBMakeFormat.format(pairs)
    fuzzCheck(parse([formatted[...]]).records == whole.records, "formatted records reparse differently")
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

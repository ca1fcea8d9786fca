import CDB
import Foundation
import TestSupport
import Testing

/// Parses `input` whole; returns the records or the error.
func parseCDBMake(_ input: [UInt8], chunk: Int = .max) -> Result<[([UInt8], [UInt8])], CDBError> {
    var parser = CDBMakeParser(name: "input.txt")
    var records: [([UInt8], [UInt8])] = []
    do {
        var start = 0
        while start < input.count {
            let end = min(input.count, start + chunk)
            try input[start..<end].withUnsafeBytes { raw in
                try parser.feed(raw) { (key, data) throws(CDBError) in records.append((key, data)) }
            }
            start = end
        }
        try parser.finish()
        return .success(records)
    } catch let error as CDBError {
        return .failure(error)
    } catch {
        fatalError("unexpected \(error)")
    }
}

@Suite("cdbmake input: parsing and precise errors")
struct CDBMakeParserTests {
    @Test("well-formed input, including binary keys with newlines and trailing text")
    func accepted() throws {
        let cases: [(String, [(String, String)])] = [
            ("\n", []),
            ("+0,0:->\n\n", [("", "")]),
            ("+3,5:one->Hello\n+3,7:one->Goodbye\n\n", [("one", "Hello"), ("one", "Goodbye")]),
            ("+2,3:a\n->b\nc\n\n", [("a\n", "b\nc")]),
            ("+,:->\n\n", [("", "")]),  // cdbmake reads a missing length as 0
            ("+03,0005:one->Hello\n\n", [("one", "Hello")]),
            ("+1,1:a->b\n\nanything after the empty line is ignored", [("a", "b")]),
        ]
        for (input, expected) in cases {
            let result = try parseCDBMake(Array(input.utf8)).get()
            #expect(result.map { String(decoding: $0.0, as: UTF8.self) } == expected.map(\.0), "\(input)")
            #expect(result.map { String(decoding: $0.1, as: UTF8.self) } == expected.map(\.1), "\(input)")
        }
    }

    /// Every malformed form, with the line and byte offset of the first bad byte.
    static let rejected: [(input: String, line: Int, offset: UInt64, message: String)] = [
        ("", 1, 0, "unexpected end of input: the records must be followed by an empty line"),
        ("+3,5:one->Hello\n", 2, 16, "unexpected end of input: the records must be followed by an empty line"),
        ("+3,5:one->Hello", 1, 15, "unexpected end of input in the middle of a record"),
        ("+3,5:one->Hel", 1, 13, "unexpected end of input in the middle of a record"),
        ("+3,5", 1, 4, "unexpected end of input in the middle of a record"),
        ("x\n", 1, 0, "expected '+' at the start of a record or an empty line at the end, found 'x'"),
        ("+1,1:a->b\n \n", 2, 10, "expected '+' at the start of a record or an empty line at the end, found a space"),
        ("\r\n", 1, 0, "expected '+' at the start of a record or an empty line at the end, found a carriage return"),
        ("+3 ,5:one->Hello\n\n", 1, 2, "expected a digit or ',' in the key length, found a space"),
        ("+-1,1:a->b\n\n", 1, 1, "expected a digit or ',' in the key length, found '-'"),
        ("+1:1,a->b\n\n", 1, 2, "expected a digit or ',' in the key length, found ':'"),
        ("+1,1,a->b\n\n", 1, 4, "expected a digit or ':' in the data length, found ','"),
        ("+1,x:a->b\n\n", 1, 3, "expected a digit or ':' in the data length, found 'x'"),
        ("+3,5:one-Hello\n\n", 1, 9, "expected '->' after a key of 3 bytes, found '-' then 'H'"),
        ("+3,5:on->Hello\n\n", 1, 8, "expected '->' after a key of 3 bytes, found '>'"),
        ("+1,1:a=>b\n\n", 1, 6, "expected '->' after a key of 1 byte, found '='"),
        ("+1,1:a->bc\n\n", 1, 9, "expected a newline after 1 byte of data, found 'c'"),
        ("+3,5:one->Hello\r\n\n", 1, 15, "expected a newline after 5 bytes of data, found a carriage return"),
        ("+2,1:a\n->b\n+1,1:a=>b\n\n", 3, 17, "expected '->' after a key of 1 byte, found '='"),
        ("+4294967210,0:", 1, 10, "key length too large (cdbmake accepts at most 4294967209)"),
        ("+1,99999999999:", 1, 12, "data length too large (cdbmake accepts at most 4294967209)"),
        ("+1,1:a->b\n+1,1:\u{1}->b\n+", 3, 21, "unexpected end of input in the middle of a record"),
    ]

    @Test("malformed input: line, offset and problem", arguments: 0..<rejected.count)
    func rejectedForms(index: Int) {
        let (input, line, offset, message) = Self.rejected[index]
        let expected = CDBError(.badFormat(line: line, message: message), path: "input.txt", offset: offset)
        for chunk in [Int.max, 1, 3] {
            guard case .failure(let error) = parseCDBMake(Array(input.utf8), chunk: chunk) else {
                Issue.record("accepted \(input.debugDescription)")
                continue
            }
            #expect(error == expected, "\(input.debugDescription) in chunks of \(chunk)")
        }
    }

    @Test("a length up to cdbmake's limit is read, then the input must really hold that many bytes")
    func largestLength() {
        let result = parseCDBMake(Array("+4294967209,0:".utf8))
        guard case .failure(let error) = result else {
            Issue.record("accepted")
            return
        }
        #expect(error.kind == .badFormat(line: 1, message: "unexpected end of input in the middle of a record"))
    }

    @Test("feeding one byte at a time gives the same records as feeding everything")
    func incremental() throws {
        let records = CDBImage.randomRecords(count: 300, seed: 5)
        let text = CDBMakeFormat.format(records)
        for chunk in [1, 2, 7, 4096, Int.max] {
            let parsed = try parseCDBMake(text, chunk: chunk).get()
            #expect(parsed.map(\.0) == records.map(\.0))
            #expect(parsed.map(\.1) == records.map(\.1))
        }
        var parser = CDBMakeParser(name: "-")
        try text.withUnsafeBytes { raw in try parser.feed(raw) { (_, _) throws(CDBError) in } }
        #expect(parser.isComplete)
        #expect(parser.recordCount == 300)
    }
}

/// Accept/reject and output compared with the real `cdbmake` on malformed and odd inputs.
@Suite("cdbmake input compared with cdbmake")
struct CDBMakeDifferentialTests {
    static let haveCdbmake = TestSupport.has("cdbmake")

    /// cdbmake's verdict on `input`: the database it writes, or nil if it refuses.
    static func cdbmake(_ input: [UInt8], in dir: String) throws -> [UInt8]? {
        try? FileManager.default.removeItem(atPath: "\(dir)/c.cdb")
        let result = try TestSupport.run("cdbmake", ["\(dir)/c.cdb", "\(dir)/c.tmp"], input: input)
        return result.status == 0 ? try TestSupport.read("\(dir)/c.cdb") : nil
    }

    /// Ours: the database written from `input`, or nil on an error.
    static func ours(_ input: [UInt8]) throws -> [UInt8]? {
        guard case .success(let records) = parseCDBMake(input) else { return nil }
        return try CDBWriter.build(records)
    }

    @Test("every listed malformed form is refused by cdbmake too", .enabled(if: haveCdbmake, "cdbmake (Debian freecdb) is not installed"))
    func listedForms() throws {
        let dir = try TestSupport.temporaryDirectory("cdbmake-forms")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for form in CDBMakeParserTests.rejected where !form.input.contains("4294967") && !form.input.contains("99999999999") {
            #expect(try Self.cdbmake(Array(form.input.utf8), in: dir) == nil, "cdbmake accepted \(form.input.debugDescription)")
        }
        // Over-long lengths: cdbmake fails as soon as it reads the length (as "out of memory").
        #expect(try Self.cdbmake(Array("+4294967210,0:".utf8), in: dir) == nil)
    }

    @Test("mutated inputs: accepted and refused alike, identical output", .enabled(if: haveCdbmake, "cdbmake (Debian freecdb) is not installed"))
    func mutations() throws {
        let dir = try TestSupport.temporaryDirectory("cdbmake-mutations")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 2024)
        let alphabet = Array("+,:->\n0123456789ab\r ".utf8)
        var accepted = 0
        var refused = 0
        for _ in 0..<160 {
            let records = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                (
                    (0..<Int.random(in: 0...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! },
                    (0..<Int.random(in: 0...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
                )
            }
            var input = CDBMakeFormat.format(records)
            for _ in 0..<Int.random(in: 0...2, using: &rng) {
                let position = Int.random(in: 0...input.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where position < input.count: input.remove(at: position)
                case 1: input.insert(alphabet.randomElement(using: &rng)!, at: position)
                default: if position < input.count { input[position] = alphabet.randomElement(using: &rng)! }
                }
            }
            let theirs = try Self.cdbmake(input, in: dir)
            let ours = try Self.ours(input)
            #expect(ours == theirs, "input \(String(decoding: input, as: UTF8.self).debugDescription)")
            if theirs == nil { refused += 1 } else { accepted += 1 }
        }
        #expect(accepted > 20 && refused > 20, "the mutations must exercise both outcomes")
    }
}

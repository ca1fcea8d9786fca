// tcprules source parsing (both dialects), compiling, linting and tcpserver's matcher, and the
// matcher over an arbitrary cdb. Input: a mode byte, the rules (source text or cdb bytes) up to
// the first 0xFF byte, then client queries (`ip host info` per line).
//
// Properties: errors are one line; compiled source answers the same with and without the
// in-memory index (and both equal `lookup`); so does an arbitrary cdb, whenever both answer.

import CDB
import FuzzSupport
import TCPRules

func clients(_ queryBytes: [UInt8], keys: [[UInt8]]) -> [RuleClient] {
    var result: [RuleClient] = []
    for line in queryBytes.split(separator: 0x0A, omittingEmptySubsequences: false).prefix(8) {
        let words = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard let ip = words.first else { continue }
        result.append(RuleClient(ip: ip, host: words.count > 1 ? words[1] : nil, info: words.count > 2 ? words[2] : nil))
    }
    // Clients that hit the rules: each key as an address, as a host name and as info@ip.
    for key in keys.prefix(6) {
        let text = String(decoding: key, as: UTF8.self)
        if text.hasPrefix("=") {
            result.append(RuleClient(ip: "192.0.2.1", host: String(text.dropFirst()).trimmingDot))
        } else if let at = text.firstIndex(of: "@") {
            result.append(RuleClient(ip: String(text[text.index(after: at)...]), info: String(text[..<at])))
        } else {
            result.append(RuleClient(ip: text + (text.hasSuffix(".") || text.hasSuffix(":") ? "7" : ""), host: "mx.example.com"))
        }
    }
    return result
}

extension String {
    var trimmingDot: String { hasPrefix(".") ? "www" + self : self }
}

/// Match, lookup and tcprulescheck output agree between two databases over the same records.
func compare(_ indexed: RulesDatabase, _ probing: RulesDatabase, _ clients: [RuleClient], bothMustAnswer: Bool) {
    for client in clients {
        for dialect in [nil, RulesDialect.ucspiTCP] {
            let a = Result { () throws(RulesError) in try indexed.match(client, dialect: dialect) }
            let b = Result { () throws(RulesError) in try probing.match(client, dialect: dialect) }
            switch (a, b) {
            case (.success(let x), .success(let y)):
                fuzzCheck(x == y, "indexed and probing matchers differ for \(client): \(x.summary) vs \(y.summary)")
                let lookup = try? indexed.lookup(client, dialect: dialect)
                fuzzCheck(lookup?.bytes == (try? probing.lookup(client, dialect: dialect))?.bytes, "lookup differs")
                if let out1 = try? indexed.tcprulescheckOutput(for: client, dialect: dialect),
                    let out2 = try? probing.tcprulescheckOutput(for: client, dialect: dialect)
                {
                    fuzzCheck(out1 == out2, "tcprulescheck output differs")
                }
            case (.failure(let error), _), (_, .failure(let error)):
                fuzzCheck(isOneLine(error.description), "match error is not one line: \(error.description)")
                fuzzCheck(!bothMustAnswer, "a compiled database fails to answer: \(error)")
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(LibFuzzer.bytes(start, count))
    let mode = input.byte()
    let body = input.rest()
    let split = body.firstIndex(of: 0xFF) ?? body.count
    let rules = Array(body[..<split])
    let queries = split < body.count ? Array(body[(split + 1)...]) : []

    if mode & 0x80 != 0 {
        // The rules part is a cdb file, as tcpserver would open it.
        guard let cdb = try? CDB(bytes: rules, name: "fuzz.cdb") else { return 0 }
        var keys: [[UInt8]] = []
        var cursor = cdb.records()
        while keys.count < 8, let record = try? cursor.next() { keys.append(record.key.bytes) }
        let indexed = RulesDatabase(cdb: cdb, path: "fuzz.cdb", source: nil, indexed: true)
        let probing = RulesDatabase(cdb: cdb, path: "fuzz.cdb", source: nil, indexed: false)
        compare(indexed, probing, clients(queries, keys: keys), bothMustAnswer: false)
        _ = try? RulesLinter.lint(cdb: cdb, path: "fuzz.cdb")
        return 0
    }

    let dialect: RulesDialect = mode & 1 == 0 ? .ucspiTCP : .ucspiTCPIPv6
    let source: RulesSource
    do {
        source = try RulesSource(parsing: rules, path: "fuzz.rules", dialect: dialect)
    } catch {
        fuzzCheck(isOneLine(error.description), "syntax error is not one line: \(error.description)")
        _ = error.diagnostic
        _ = error.tcprulesOutput
        return 0
    }
    _ = RulesLinter.lint(source)
    let compiled: [UInt8]
    do {
        compiled = try source.compiled()
    } catch {
        fuzzCheck(false, "parsed rules do not compile: \(error)")
        return 0
    }
    do {
        let cdb = try CDB(bytes: compiled, name: "fuzz.cdb")
        let recordCount = try cdb.allRecords().count
        fuzzCheck(recordCount == source.recordCount, "record count differs from the source")
        let fromSource = try RulesDatabase(parsed: source)
        let probing = RulesDatabase(cdb: cdb, path: "fuzz.rules", source: source, indexed: false)
        let keys = source.rules.prefix(6).compactMap { $0.keyBytes.first }
        compare(fromSource, probing, clients(queries, keys: keys), bothMustAnswer: true)
        _ = try RulesLinter.lint(cdb: cdb, path: "fuzz.cdb")
    } catch {
        fuzzCheck(false, "compiled rules cannot be read back: \(error)")
    }
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

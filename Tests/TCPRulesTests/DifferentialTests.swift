// Seeded, reproducible differential tests: thousands of random rule files compiled by the real
// tcprules and by relaylab (bytes and error messages compared), and random client queries answered
// by the real tcprulescheck and by relaylab (output compared byte for byte), for Debian's stock
// ucspi-tcp and for its ucspi-tcp-ipv6 (unpacked into .tools/ by scripts/test).

import CDB
import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("Differential tests against the real tcprules and tcprulescheck")
struct DifferentialTests {
    @Test(.enabled(if: RealPrograms.hasStock, "tcprules/tcprulescheck (Debian ucspi-tcp) are not installed"))
    func stockUcspiTCP() throws {
        try compare(dialect: .ucspiTCP, seed: 0x7C9_0001, files: 1500, queries: 900, brokenPerMille: 12)
    }

    @Test(
        .enabled(
            if: RealPrograms.hasIPv6,
            "ucspi-tcp-ipv6 is not unpacked at .tools/ucspi-tcp-ipv6 (scripts/test unpacks it)"))
    func ucspiTCPIPv6() throws {
        try compare(dialect: .ucspiTCPIPv6, seed: 0x7C9_0006, files: 600, queries: 500, brokenPerMille: 2)
    }

    /// Statistics that prove the comparison exercised what it should.
    struct Tally {
        var compiled = 0
        var refused = 0
        var loopedForever = 0
        var queries = 0
        var hits = 0
        var mismatches: [String] = []
    }

    func compare(dialect: RulesDialect, seed: UInt64, files count: Int, queries queryCount: Int, brokenPerMille: Int)
        throws
    {
        let tcprules = try #require(RealPrograms.tcprules(dialect))
        let tcprulescheck = try #require(RealPrograms.tcprulescheck(dialect))
        let folder = try TestSupport.temporaryDirectory("rules-diff-\(dialect)")
        defer { try? FileManager.default.removeItem(atPath: folder) }

        var generator = RuleFileGenerator(
            seed: seed, ipv6: dialect == .ucspiTCPIPv6, brokenPerMille: brokenPerMille)
        let files = (0..<count).map { _ in Array(generator.file().utf8) }
        // Only ucspi-tcp-ipv6's tcprules can loop forever; a short limit keeps those runs cheap.
        var real = try RealPrograms.compile(
            files, with: tcprules, in: folder, timeout: dialect == .ucspiTCPIPv6 ? 0.3 : nil)
        var tally = Tally()
        var sources: [Int: RulesSource] = [:]

        for (index, file) in files.enumerated() {
            let context = "seed \(seed) file \(index):\n\(file.visible)"
            var ours: Result<RulesSource, RulesSyntaxError>
            do {
                ours = .success(try RulesSource(parsing: file, path: "f\(index).rules", dialect: dialect))
            } catch {
                ours = .failure(error)
            }
            if real[index].status == RealPrograms.timedOut, case .success = ours {
                // A timeout on a line we accept: give the real program more time before judging.
                let retry = try TestSupport.temporaryDirectory("rules-retry")
                defer { try? FileManager.default.removeItem(atPath: retry) }
                real[index] = try RealPrograms.compile([file], with: tcprules, in: retry, timeout: 10)[0]
            }
            switch (real[index].status, ours) {
            case (0, .success(let source)):
                tally.compiled += 1
                sources[index] = source
                let bytes = try source.compiled()
                if bytes != real[index].cdb {
                    tally.mismatches.append("compiled bytes differ for \(context)")
                }
            case (100, .failure(let error)):
                tally.refused += 1
                if error.tcprulesOutput != real[index].stderr {
                    tally.mismatches.append(
                        "error differs: real \(real[index].stderr.visible) ours \(error.tcprulesOutput.visible) for \(context)")
                }
            case (RealPrograms.timedOut, .failure(let error)) where error.reason == .noRuleColon:
                tally.loopedForever += 1
            case (let status, let result):
                tally.mismatches.append(
                    "real tcprules exit \(status) \(real[index].stderr.visible); relaylab: \(result) for \(context)")
            }
        }

        // Queries: built from the keys of files that compiled, answered from the real cdb by the real
        // tcprulescheck, and by relaylab from the source and from the real cdb.
        let compiledIndexes = sources.keys.sorted()
        try #require(!compiledIndexes.isEmpty)
        var queries: [(cdbPath: String, client: RuleClient?)] = []
        var queryFiles: [Int] = []
        for _ in 0..<queryCount {
            let index = generator.pick(compiledIndexes)
            let client: RuleClient? =
                dialect == .ucspiTCP && generator.chance(15) ? nil : generator.client(for: sources[index])
            queries.append((real[index].cdbPath, client))
            queryFiles.append(index)
        }
        let answers = try RealPrograms.check(queries, with: tcprulescheck, in: folder)
        for (number, query) in queries.enumerated() {
            let index = queryFiles[number]
            let client = query.client ?? RuleClient(ip: "0.0.0.0")
            let fromSource = try RulesDatabase(parsed: sources[index]!)
            let fromCDB = RulesDatabase(cdb: try CDB(bytes: real[index].cdb!), path: query.cdbPath)
            let expected = answers[number]
            tally.queries += 1
            if !expected.output.starts(with: Array("default:".utf8)) { tally.hits += 1 }
            let context = "seed \(seed) query \(number) \(client) on file \(index):\n\(files[index].visible)"
            if expected.status != 0 {
                tally.mismatches.append("tcprulescheck exit \(expected.status) \(expected.output.visible) for \(context)")
                continue
            }
            for database in [fromSource, fromCDB] {
                let ours = try database.tcprulescheckOutput(for: client, dialect: dialect)
                if ours != expected.output {
                    tally.mismatches.append(
                        "check output differs (\(database.kind)): real\n\(expected.output.visible)ours\n\(ours.visible)for \(context)")
                }
            }
            // The default matcher (no dialect) is ucspi-tcp-ipv6's, which equals stock for IPv4.
            if dialect == .ucspiTCPIPv6 || !client.ip.contains(":") {
                let ours = try fromCDB.tcprulescheckOutput(for: client)
                if ours != expected.output {
                    tally.mismatches.append("default-dialect check output differs for \(context)")
                }
            }
            // The explained match agrees with the check output.
            let match = try fromSource.match(client, dialect: dialect)
            let summary = RulesDatabase.tcprulescheckOutput(
                key: match.key.map { Array($0.utf8) }, data: [])
            if !expected.output.starts(with: summary.prefix(while: { $0 != 0x0A })) {
                tally.mismatches.append("match key \(match.key ?? "default") disagrees for \(context)")
            }
            if (match.action == .deny) != expected.output.visible.hasSuffix("deny connection\n") {
                tally.mismatches.append("match action \(match.action) disagrees for \(context)")
            }
        }

        for mismatch in tally.mismatches.prefix(8) { Issue.record(Comment(rawValue: mismatch)) }
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.count) mismatches (first ones recorded above)")
        // The random inputs must really exercise compiling, refusing and matching.
        #expect(tally.compiled > count / 2, "only \(tally.compiled) of \(count) files compiled")
        #expect(tally.refused > 0, "no file was refused")
        #expect(tally.hits > tally.queries / 2, "only \(tally.hits) of \(tally.queries) queries hit a rule")
        print(
            "differential \(dialect): \(count) files (\(tally.compiled) compiled, \(tally.refused) refused, \(tally.loopedForever) loop forever), \(tally.queries) queries (\(tally.hits) hit a rule)"
        )
    }
}

// Loading rules (cdb or source, told apart by content), line numbers, and the fast lookup path.

import CDB
import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("Loading rules databases")
struct RulesDatabaseTests {
    static let source = """
        # office
        10.1.:allow,RELAYCLIENT=""
        192.0.2.4-6:deny
        =.example.org:allow,RBLSMTPD=""

        """

    func folder() throws -> String { try TestSupport.temporaryDirectory("rules-db") }

    @Test func sourceAndCompiledCDBAnswerTheSame() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write(Self.source, to: dir + "/tcp.smtp")
        try RulesSource(contentsOf: dir + "/tcp.smtp").compile(to: dir + "/tcp.smtp.cdb")
        let fromSource = try RulesDatabase.load(path: dir + "/tcp.smtp")
        let fromCDB = try RulesDatabase.load(path: dir + "/tcp.smtp.cdb")
        #expect(fromSource.kind == .source)
        #expect(fromCDB.kind == .cdb)
        for client in [
            RuleClient(ip: "10.1.2.3"), RuleClient(ip: "192.0.2.5"), RuleClient(ip: "9.9.9.9", host: "a.example.org"),
            RuleClient(ip: "9.9.9.9"),
        ] {
            var expected = try fromSource.match(client)
            let actual = try fromCDB.match(client)
            #expect(expected.path == dir + "/tcp.smtp" || expected.key == nil)
            expected.path = actual.path
            #expect(actual == expected, "\(client)")
        }
    }

    @Test func cdbMatchesGetLineNumbersFromTheSourceNextToThem() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write(Self.source, to: dir + "/tcp.smtp")
        try RulesSource(contentsOf: dir + "/tcp.smtp").compile(to: dir + "/tcp.smtp.cdb")
        let match = try RulesDatabase.load(path: dir + "/tcp.smtp.cdb").match(RuleClient(ip: "192.0.2.6"))
        #expect(match.line == 3)
        #expect(match.path == dir + "/tcp.smtp")
        #expect(match.location == dir + "/tcp.smtp:3")

        // When the source has changed since, a key whose data differs gets no line.
        try TestSupport.write(Self.source.replacingOccurrences(of: ":deny", with: ":allow"), to: dir + "/tcp.smtp")
        let stale = try RulesDatabase.load(path: dir + "/tcp.smtp.cdb").match(RuleClient(ip: "192.0.2.6"))
        #expect(stale.action == .deny)
        #expect(stale.line == nil)
        #expect(stale.path == dir + "/tcp.smtp.cdb")
        // A cdb without a neighbour works without lines.
        try FileManager.default.removeItem(atPath: dir + "/tcp.smtp")
        let alone = try RulesDatabase.load(path: dir + "/tcp.smtp.cdb")
        #expect(alone.source == nil)
        #expect(try alone.match(RuleClient(ip: "10.1.0.1")).line == nil)
    }

    @Test func contentDecidesNotTheName() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write(Self.source, to: dir + "/rules.bin")
        #expect(try RulesDatabase.load(path: dir + "/rules.bin").kind == .source)
        try TestSupport.write(try parse(Self.source).compiled(), to: dir + "/compiled.txt")
        #expect(try RulesDatabase.load(path: dir + "/compiled.txt").kind == .cdb)
        try TestSupport.write("", to: dir + "/empty")
        #expect(try RulesDatabase.load(path: dir + "/empty").match(RuleClient(ip: "1.2.3.4")).isDefault)
    }

    @Test func damagedCDBIsAnErrorNotSource() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = try parse(Self.source).compiled()
        bytes.removeLast(20)
        try TestSupport.write(bytes, to: dir + "/tcp.smtp.cdb")
        #expect(throws: RulesError.self) { try RulesDatabase.load(path: dir + "/tcp.smtp.cdb") }
        try TestSupport.write("short", to: dir + "/x.cdb")
        do {
            _ = try RulesDatabase.load(path: dir + "/x.cdb")
            Issue.record("a 5-byte .cdb loaded")
        } catch {
            guard case .cdb = error else { Issue.record("\(error)"); return }
        }
        let server = try RulesDatabase.loadForTCPServer(path: dir + "/tcp.smtp.cdb")
        #expect(server.readFailure == .protocolError)
    }

    @Test func syntaxErrorsCarryFileAndLine() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write("1:allow\n2:Deny\n", to: dir + "/tcp.smtp")
        do {
            _ = try RulesDatabase.load(path: dir + "/tcp.smtp")
            Issue.record("loaded")
        } catch {
            #expect(error.description.hasPrefix(dir + "/tcp.smtp:2: expected 'allow' or 'deny'"))
        }
    }

    @Test func fastLookupReturnsTheSameData() throws {
        let database = try RulesDatabase(source: Self.source, path: "tcp.smtp")
        #expect(try database.lookup(RuleClient(ip: "10.1.9.9"))?.string == "+RELAYCLIENT=\0")
        #expect(try database.lookup(RuleClient(ip: "10.2.9.9")) == nil)
    }

    @Test func explainedMatchRecordsKeysUpToTheMatch() throws {
        let found = try match(Self.source, RuleClient(ip: "10.1.2.3", host: "x.example.org"))
        #expect(found.keysTried == ["10.1.2.3", "=x.example.org", "10.1.2.", "10.1."])
        #expect(found.summary == "rule 10.1.: allow (tcp.smtp:2)")
        #expect(found.environment == ["RELAYCLIENT": ""])
    }

    @Test func indexedAndUnindexedLookupsAgree() throws {
        var generator = RuleFileGenerator(seed: 0x1DE7, brokenPerMille: 0)
        var compared = 0
        for _ in 0..<150 {
            guard let source = try? RulesSource(parsing: generator.file(), path: "r") else { continue }
            let cdb = try CDB(bytes: try source.compiled())
            let indexed = RulesDatabase(cdb: cdb, path: "r.cdb", source: source)
            let probing = RulesDatabase(cdb: cdb, path: "r.cdb", source: source, indexed: false)
            #expect(indexed.isIndexed && !probing.isIndexed)
            for _ in 0..<20 {
                let client = generator.client(for: source)
                #expect(try indexed.lookup(client) == probing.lookup(client), "\(client)")
                #expect(try indexed.match(client) == probing.match(client), "\(client)")
                #expect(try indexed.tcprulescheckOutput(for: client) == probing.tcprulescheckOutput(for: client))
                compared += 1
            }
        }
        #expect(compared > 1000)
    }
}

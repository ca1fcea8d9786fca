// End-to-end tests of `relaylab rules compile | check | lint`, run as the built binary and
// compared with the real tcprules / tcprulescheck where they are installed.

import Foundation
import TestSupport
import Testing

@Suite("relaylab rules (end to end)", .enabled(if: TestSupport.relaylabBinary != nil, "relaylab is not built (swift build)"))
final class RulesCLITests {
    /// Output of one run. Outputs go through files, not pipes.
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let source = """
        # relay for the office
        127.:allow,RELAYCLIENT=""
        10.1.:allow,RELAYCLIENT=""
        192.0.2.4-6:deny
        =.example.org:allow,RBLSMTPD="-go away",X="a:b,c"
        joe@10.9.9.9:allow,RELAYCLIENT=""
        :allow

        """

    let folder: String

    init() throws {
        folder = try TestSupport.temporaryDirectory("rules-cli")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> Run {
        try Self.run(TestSupport.relaylabBinary!, arguments, in: folder, environment: environment, stdin: stdin)
    }

    static func run(
        _ program: String, _ arguments: [String], in folder: String, environment: [String: String] = [:],
        stdin: String? = nil
    ) throws -> Run {
        let id = UUID().uuidString
        let out = "\(folder)/.out-\(id)"
        let err = "\(folder)/.err-\(id)"
        let input = "\(folder)/.in-\(id)"
        try TestSupport.write(stdin ?? "", to: input)
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        let inHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        defer {
            try? outHandle.close()
            try? errHandle.close()
            try? inHandle.close()
            for file in [out, err, input] { try? FileManager.default.removeItem(atPath: file) }
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = inHandle
        try process.run()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            stdout: String(decoding: try TestSupport.read(out), as: UTF8.self),
            stderr: String(decoding: try TestSupport.read(err), as: UTF8.self))
    }

    func write(_ text: String, _ name: String = "tcp.smtp") throws {
        try TestSupport.write(text, to: "\(folder)/\(name)")
    }

    func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
    }

    // MARK: - compile

    @Test func compileWritesSourceDotCDB() throws {
        try write(Self.source)
        let result = try run(["rules", "compile", "tcp.smtp"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "tcp.smtp.cdb: 6 rules, 8 keys\n")
        #expect(try files() == ["tcp.smtp", "tcp.smtp.cdb"])
        if let tcprules = TestSupport.which("tcprules") {
            let reference = try Self.run(
                "/bin/sh", ["-c", "\(tcprules) ref.cdb ref.tmp < tcp.smtp"], in: folder)
            #expect(reference.status == 0)
            #expect(try TestSupport.read(folder + "/ref.cdb") == TestSupport.read(folder + "/tcp.smtp.cdb"))
        }
    }

    @Test func compileFromStandardInputNeedsOutput() throws {
        #expect(try run(["rules", "compile", "-"], stdin: Self.source).status == 2)
        let result = try run(["rules", "compile", "-", "-o", "out.cdb", "--quiet"], stdin: Self.source)
        #expect(result.status == 0 && result.stdout.isEmpty)
        #expect(try files() == ["out.cdb"])
    }

    @Test func compileErrorWritesNothing() throws {
        try write("1.2.3.4:allow\n")
        #expect(try run(["rules", "compile", "tcp.smtp"]).status == 0)
        let before = try TestSupport.read(folder + "/tcp.smtp.cdb")
        try write("1.2.3.4:deny\n10.0.0.1:allowed\n")
        let result = try run(["rules", "compile", "tcp.smtp"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderr
                == "relaylab rules compile: tcp.smtp:2: expected ',' or the end of the line, found 'e'\n    10.0.0.1:allowed\n                  ^\n")
        #expect(try TestSupport.read(folder + "/tcp.smtp.cdb") == before, "the old cdb stays")
        #expect(try files() == ["tcp.smtp", "tcp.smtp.cdb"], "no temporary file is left")
    }

    @Test func compileNamesCRLFFiles() throws {
        try write("# rules\r\n1.2.3.4:allow\r\n")
        let result = try run(["rules", "compile", "tcp.smtp"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("tcp.smtp:2: the line ends in a carriage return"))
    }

    @Test func compileIPv6RulesNeedsTheIPv6Dialect() throws {
        try write("2001:db8::1:allow,RELAYCLIENT=\"\"\n")
        let stock = try run(["rules", "compile", "tcp.smtp"])
        #expect(stock.status == 2)
        #expect(stock.stderr.contains("--dialect ucspi-tcp-ipv6"))
        #expect(try run(["rules", "compile", "--dialect", "ucspi-tcp-ipv6", "tcp.smtp"]).status == 0)
    }

    // MARK: - check

    static let queries: [[String: String]] = [
        ["TCPREMOTEIP": "10.1.2.3"], ["TCPREMOTEIP": "192.0.2.5"], ["TCPREMOTEIP": "8.8.8.8"],
        ["TCPREMOTEIP": "8.8.8.8", "TCPREMOTEHOST": "mail.example.org"],
        ["TCPREMOTEIP": "10.9.9.9", "TCPREMOTEINFO": "joe"], ["TCPREMOTEIP": "10.9.9.9", "TCPREMOTEINFO": ""], [:],
    ]

    static func options(_ environment: [String: String]) -> [String] {
        var options: [String] = []
        if let ip = environment["TCPREMOTEIP"] { options += ["--ip", ip] }
        if let host = environment["TCPREMOTEHOST"] { options += ["--host", host] }
        if let info = environment["TCPREMOTEINFO"] { options += ["--info", info] }
        return options
    }

    @Test func checkPrintsExactlyWhatTcprulescheckPrints() throws {
        try write(Self.source)
        #expect(try run(["rules", "compile", "tcp.smtp"]).status == 0)
        for query in Self.queries {
            for rules in ["tcp.smtp", "tcp.smtp.cdb"] {
                let byOptions = try run(["rules", "check", rules] + Self.options(query))
                let byEnvironment = try run(["rules", "check", rules], environment: query)
                #expect(byOptions.status == 0 && byEnvironment.status == 0)
                #expect(byOptions.stdout == byEnvironment.stdout)
                if let tcprulescheck = TestSupport.which("tcprulescheck") {
                    let real = try Self.run(tcprulescheck, ["tcp.smtp.cdb"], in: folder, environment: query)
                    #expect(byOptions.stdout == real.stdout, "\(query) on \(rules)")
                }
            }
        }
        // Without --ip and TCPREMOTEIP, the IP is 0.0.0.0, as in tcprulescheck.
        try write("0.:deny\n")
        #expect(try run(["rules", "check", "tcp.smtp"]).stdout == "rule 0.:\ndeny connection\n")
    }

    @Test func checkExplainsKeysAndSourceLine() throws {
        try write(Self.source)
        #expect(try run(["rules", "compile", "tcp.smtp"]).status == 0)
        let result = try run(["rules", "check", "tcp.smtp.cdb", "--ip", "10.1.2.3", "--explain"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("rule 10.1.:\nset environment variable RELAYCLIENT=\nallow connection\n\nexplanation:\n"))
        #expect(result.stdout.contains("    10.1.2.3  not present\n    10.1.2.   not present\n    10.1.     matched\n"))
        #expect(result.stdout.contains("  rule: tcp.smtp:3: 10.1.:allow,RELAYCLIENT=\"\"\n"))
        let odd = try run(["rules", "check", "tcp.smtp", "--ip", "010.1.2.3", "--host", "Mail.Example.ORG", "--explain"])
        #expect(odd.stdout.contains("note: tcpserver prints this address as 10.1.2.3"))
        #expect(odd.stdout.contains("note: tcpserver would set TCPREMOTEHOST=mail.example.org"))
    }

    @Test func checkJSON() throws {
        try write(Self.source)
        let result = try run(["rules", "check", "tcp.smtp", "--ip", "8.8.8.8", "--host", "a.example.org", "--format", "json"])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["key"] as? String == "=.example.org")
        #expect(json["action"] as? String == "allow")
        #expect(json["line"] as? Int == 5)
        #expect(json["path"] as? String == "tcp.smtp")
        #expect(json["keysTried"] as? [String] == ["8.8.8.8", "=a.example.org", "8.8.8.", "8.8.", "8.", "=.example.org"])
        #expect((json["environment"] as? [String: String]) == ["RBLSMTPD": "-go away", "X": "a:b,c"])
        #expect((json["client"] as? [String: Any])?["info"] is NSNull)
        #expect(json["tcprulescheck"] as? String == "rule =.example.org:\nset environment variable RBLSMTPD=-go away\nset environment variable X=a:b,c\nallow connection\n")
    }

    @Test func checkMissingFileIsAnError() throws {
        let result = try run(["rules", "check", "/nonexistent/rules.cdb", "--ip", "1.2.3.4"])
        #expect(result.status == 2)
        #expect(result.stderr == "relaylab rules check: unable to read /nonexistent/rules.cdb: file does not exist\n")
    }

    // MARK: - lint

    @Test func lintCleanFileExitsZero() throws {
        try write("127.:allow,RELAYCLIENT=\"\"\n10.1.2.:allow,RELAYCLIENT=\"\"\n:allow\n")
        let result = try run(["rules", "lint", "tcp.smtp"])
        #expect(result.status == 0)
        #expect(result.stdout == "tcp.smtp: no findings\n")
    }

    @Test func lintFindingsExitOneWithWhyAndFix() throws {
        try write("# x\n:allow,RELAYCLIENT=\"\"\n10.0.0:deny\n")
        let result = try run(["rules", "lint", "tcp.smtp"])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("tcp.smtp:2: high: RELAYCLIENT is set for the empty key") == true)
        #expect(lines.contains { $0.hasPrefix("tcp.smtp:3: high: '10.0.0' looks like a prefix") })
        #expect(lines.filter { $0.hasPrefix("  why: ") }.count == 2)
        #expect(lines.filter { $0.hasPrefix("  fix: ") }.count == 2)
        #expect(lines.last == "tcp.smtp: 2 findings (2 high)")
        let json = try run(["rules", "lint", "tcp.smtp", "--format", "json"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.map { $0["code"] as? String } == ["relay-any-client", "ip-prefix-without-dot"])
        #expect(findings.first?["line"] as? Int == 2)
    }

    @Test func lintStaleCDB() throws {
        try write("1.2.3.4:deny\n")
        #expect(try run(["rules", "compile", "tcp.smtp"]).status == 0)
        try write("1.2.3.5:deny\n")
        let result = try run(["rules", "lint", "tcp.smtp.cdb"])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("tcp.smtp.cdb: high: tcp.smtp.cdb differs from what tcprules makes of tcp.smtp [cdb-stale]\n"))
    }

    @Test func lintUnparsableFileExitsTwo() throws {
        try write("1.2.3.4:Allow\n")
        let result = try run(["rules", "lint", "tcp.smtp"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("relaylab rules lint: tcp.smtp:1: expected 'allow' or 'deny'"))
    }
}

import CDB
import Foundation
import RelayEngine
import TCPRules
import TestSupport
import Testing

/// Simulated connections per second for a typical session against a 1M-domain
/// morercpthosts.cdb and a 10k-rule rules cdb. Reports numbers, asserts only correctness; it
/// runs when RELAYLAB_THROUGHPUT is set, and is meant for release builds:
///
///     RELAYLAB_THROUGHPUT=1 swift test -c release --filter ThroughputTests
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["RELAYLAB_THROUGHPUT"] != nil, "set RELAYLAB_THROUGHPUT=1 (and use -c release) to measure"))
struct ThroughputTests {
    /// CPU time of the calling thread, in seconds (unaffected by other processes' load).
    static func threadCPUTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func setUp() throws -> (RelayConfiguration, String) {
        let folder = try TestSupport.temporaryDirectory("throughput")
        let writer = try CDBWriter(path: folder + "/morercpthosts.cdb")
        for index in 0..<1_000_000 {
            try Array("customer\(index).example".utf8).withUnsafeBytes { key in
                try [UInt8]().withUnsafeBytes { try writer.add(key: key, data: $0) }
            }
        }
        try writer.finish()
        try TestSupport.write("mx.example.net\n", to: folder + "/me")
        try TestSupport.write("example.net\nexample.com\n.sub.example.org\n", to: folder + "/rcpthosts")
        try TestSupport.write("spammer@bulk.example\n@junk.example\n", to: folder + "/badmailfrom")
        try TestSupport.write("10240000\n", to: folder + "/databytes")
        var rules = ""
        for index in 0..<10_000 {
            switch index % 4 {
            case 0: rules += "10.\(index / 256 % 256).\(index % 256).:allow,RELAYCLIENT=\"\"\n"
            case 1: rules += "=host\(index).partner.example:allow,RELAYCLIENT=\"\"\n"
            case 2: rules += "203.\(index / 256 % 256).\(index % 256).:deny\n"
            default: rules += "198.51.\(index / 256 % 256).\(index % 256):allow,RBLSMTPD=\"-listed\"\n"
            }
        }
        rules += "=:allow\n:allow,RBLSMTPD=\"No reverse DNS\"\n"
        try TestSupport.write(rules, to: folder + "/tcp.smtp")
        let result = try TestSupport.run("tcprules", [folder + "/tcp.smtp.cdb", folder + "/tcp.smtp.tmp"], input: Array(rules.utf8))
        let rulesDatabase: RulesDatabase
        if result.status == 0 {
            rulesDatabase = try RulesDatabase.load(path: folder + "/tcp.smtp.cdb")
        } else {
            rulesDatabase = try RulesDatabase(source: rules, path: folder + "/tcp.smtp")
        }
        let control = try QmailControl.load(directory: folder)
        let config = RelayConfiguration(
            control: control, rblsmtpd: RBLSMTPDOptions(), rules: rulesDatabase,
            tcpserver: TCPServerOptions(lookupRemoteInfo: false, localHostName: "mx.example.net"))
        return (config, folder)
    }

    @Test func connectionsPerSecond() throws {
        let (config, _) = try Self.setUp()
        let connection = ClientConnection(clientIP: "198.19.1.10", clientPort: 40001, serverIP: "192.0.2.25", serverPort: 25, ptrName: "mail.partner-a.example")
        let sessions: [(String, [UInt8])] = [
            ("EHLO, MAIL, 3×RCPT (rcpthosts, morercpthosts.cdb, refused), QUIT",
             Array("EHLO mail.partner-a.example\r\nMAIL FROM:<bob@partner-a.example>\r\nRCPT TO:<alice@example.net>\r\nRCPT TO:<sales@customer777777.example>\r\nRCPT TO:<x@elsewhere.example>\r\nQUIT\r\n".utf8)),
            ("the same with DATA and a 1 KB message",
             Array(("EHLO mail.partner-a.example\r\nMAIL FROM:<bob@partner-a.example>\r\nRCPT TO:<alice@example.net>\r\nRCPT TO:<sales@customer777777.example>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\nSubject: hello\r\n\r\n" + String(repeating: "0123456789012345678901234567890123456789012345678901234567890123456789\r\n", count: 14) + ".\r\nQUIT\r\n").utf8)),
        ]
        for (label, input) in sessions {
            var check = RelaySession(configuration: config, connection: connection)
            _ = check.receive(input)
            #expect(check.ending == .quit)
            #expect(check.exchanges.compactMap(\.decision).filter { $0.subject == .rcpt }.map(\.outcome) == [.accept, .accept, .refuse])
            for pipelined in [true, false] {
                // The best of 5 rounds of CPU time: the machine may be busy with other work.
                let rounds = 5
                let perRound = 20_000
                var best = Double.infinity
                var bestWall = Double.infinity
                var bytes = 0
                let clock = ContinuousClock()
                for _ in 0..<rounds {
                    let cpuStart = Self.threadCPUTime()
                    let elapsed = clock.measure {
                        for _ in 0..<perRound {
                            var session = RelaySession(configuration: config, connection: connection)
                            if pipelined {
                                bytes &+= session.receive(input).count
                            } else {
                                bytes &+= session.start().count
                                var start = 0
                                for index in input.indices where input[index] == 10 {
                                    bytes &+= session.receive(input[start...index]).count
                                    start = index + 1
                                }
                            }
                        }
                    }
                    best = min(best, (Self.threadCPUTime() - cpuStart) / Double(perRound))
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    bestWall = min(bestWall, seconds / Double(perRound))
                }
                print(
                    "throughput: \(label), \(pipelined ? "one write" : "line by line"): \(Int(1 / best)) connections/s of CPU time "
                        + "(\(String(format: "%.2f", best * 1e6)) µs each; wall clock \(Int(1 / bestWall))/s; \(bytes) reply bytes)")
            }
        }
    }
}

extension ThroughputTests {
    @Test func breakdown() throws {
        let (config, _) = try Self.setUp()
        let connection = ClientConnection(clientIP: "198.19.1.10", clientPort: 40001, serverIP: "192.0.2.25", serverPort: 25, ptrName: "mail.partner-a.example")
        let input = Array("EHLO mail.partner-a.example\r\nMAIL FROM:<bob@partner-a.example>\r\nRCPT TO:<alice@example.net>\r\nRCPT TO:<sales@customer777777.example>\r\nRCPT TO:<x@elsewhere.example>\r\nQUIT\r\n".utf8)
        let count = 100_000
        var check = RelaySession(configuration: config, connection: connection)
        let expectedBytes = check.receive(input).count
        #expect(check.ending == .quit)
        func measure(_ label: String, expect perCall: Int? = nil, _ body: () -> Int) {
            // The best of 5 rounds: the machine may be busy with other work.
            var best = Double.infinity
            var sink = 0
            for _ in 0..<5 {
                let start = Self.threadCPUTime()
                for _ in 0..<(count / 5) {
                    let value = body()
                    if let perCall { #expect(value == perCall) }
                    sink &+= value
                }
                best = min(best, (Self.threadCPUTime() - start) / Double(count / 5))
            }
            print("breakdown: \(label): \(String(format: "%.2f", best * 1e6)) µs (\(sink))")
        }
        let tcpConnection = TCPServerConnection(localIP: "192.0.2.25", localPort: 25, remoteIP: "198.19.1.10", remotePort: 40001, remotePTR: "mail.partner-a.example")
        measure("TCPServer.accept") { (try? TCPServer.accept(tcpConnection, options: config.tcpserver, rules: config.rules, inheritedEnvironment: [:]))?.environment.count ?? 0 }
        measure("RelaySession.init") { RelaySession(configuration: config, connection: connection).exchanges.count }
        let environment = try TCPServer.accept(tcpConnection, options: config.tcpserver, rules: config.rules, inheritedEnvironment: [:]).environment
        measure("init from environment") { RelaySession(configuration: config, childEnvironment: environment).exchanges.count }
        measure("init from environment + session", expect: expectedBytes) {
            var session = RelaySession(configuration: config, childEnvironment: environment)
            return session.receive(input).count
        }
        measure("full", expect: expectedBytes) {
            var session = RelaySession(configuration: config, connection: connection)
            return session.receive(input).count
        }
    }
}

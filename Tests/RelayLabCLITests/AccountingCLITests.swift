// Nothing is lost: every run's summary states connections seen = compared + unobservable +
// skipped (with reasons), and the JSON summary carries the same counts — also when inputs are
// partly broken and when limits are exceeded.

import Foundation
import TestSupport
import Testing

@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct AccountingCLITests {
    func relaylab(_ arguments: [String]) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, currentDirectory: TestSupport.packageRoot)
    }

    /// The last JSON Lines record, parsed.
    func summary(_ output: String) throws -> [String: Any] {
        let last = try #require(output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
    }

    func int(_ object: [String: Any], _ key: String) -> Int { object[key] as? Int ?? -1 }

    /// `N connection(s) seen = C compared + U unobservable + S skipped` in a text report.
    func accounting(_ text: String) throws -> [Int] {
        let pattern = try NSRegularExpression(pattern: #"(\d+) (?:connections? )?seen = (\d+) compared \+ (\d+) unobservable \+ (\d+) skipped"#)
        let match = try #require(pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)))
        return (1...4).map { Int((text as NSString).substring(with: match.range(at: $0)))! }
    }

    @Test func checkCountsTheConnectionsOfAFileItCannotRun() throws {
        let folder = try TestSupport.temporaryDirectory("accounting-check")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Parses, but its rules file does not exist: its two connections are not run.
        try TestSupport.write(
            "config: {control_files: {me: mx.example.net}, rules: missing.smtp}\nconnections:\n  - client: 192.0.2.9\n  - client: 192.0.2.10\n",
            to: folder + "/broken.yaml")
        let args = ["check", folder + "/broken.yaml", "Tests/Fixtures/check/failing.yaml"]
        let human = try relaylab(args)
        #expect(human.status == 2)
        let counts = try accounting(human.stdoutText)
        #expect(counts == [3, 1, 0, 2])
        #expect(human.stdoutText.contains("  skipped 2: \(folder)/broken.yaml: not run: "))
        let json = try relaylab(args + ["--format", "json"])
        let record = try summary(json.stdoutText)
        #expect([int(record, "connections"), int(record, "compared"), int(record, "unobservable"), int(record, "skipped")] == counts)
        #expect(int(record, "passed") + int(record, "failed") == int(record, "compared"))
        let reasons = try #require(record["skipped_reasons"] as? [String: Int])
        #expect(reasons.values.reduce(0, +) == 2)
    }

    /// A raw-IP pcap of `count` SMTP connections to 192.0.2.25:25 that run side by side: every
    /// connection's SYN, then every greeting, HELO, reply, QUIT, reply and FIN in turn.
    static func interleavedCapture(count: Int) -> [UInt8] {
        var file: [UInt8] = []
        func le32(_ value: UInt32) { for shift in [0, 8, 16, 24] { file.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) } }
        le32(0xA1B2_C3D4)
        file += [2, 0, 4, 0]
        le32(0)
        le32(0)
        le32(65535)
        le32(101)
        var time: UInt32 = 1_700_000_000
        var next: [[UInt32]] = Array(repeating: [1000, 5000], count: count)  // client, server sequence numbers
        func packet(_ index: Int, fromClient: Bool, flags: UInt8, _ text: String = "") {
            let payload = Array(text.utf8)
            var bytes: [UInt8] = [0x45, 0]
            let total = 40 + payload.count
            bytes += [UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0]
            let client: [UInt8] = [198, 51, 100, UInt8(10 + index)]
            let server: [UInt8] = [192, 0, 2, 25]
            bytes += fromClient ? client + server : server + client
            let clientPort = 40000 + index
            let ports = fromClient ? [clientPort, 25] : [25, clientPort]
            for port in ports { bytes += [UInt8(port >> 8), UInt8(port & 0xFF)] }
            let seq = next[index][fromClient ? 0 : 1]
            let ack = next[index][fromClient ? 1 : 0]
            for value in [seq, ack] { bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> UInt32($0)) } }
            bytes += [0x50, flags | (flags & 0x02 != 0 && fromClient ? 0 : 0x10), 0xFF, 0xFF, 0, 0, 0, 0]
            bytes += payload
            next[index][fromClient ? 0 : 1] = seq &+ UInt32(payload.count) &+ (flags & 0x03 != 0 ? 1 : 0)
            time += 1
            le32(time)
            le32(0)
            le32(UInt32(bytes.count))
            le32(UInt32(bytes.count))
            file += bytes
        }
        for index in 0..<count { packet(index, fromClient: true, flags: 0x02) }
        for index in 0..<count { packet(index, fromClient: false, flags: 0x02) }
        for (fromClient, text) in [
            (false, "220 mx.example.net ESMTP\r\n"), (true, "HELO client.example\r\n"), (false, "250 mx.example.net\r\n"),
            (true, "QUIT\r\n"), (false, "221 mx.example.net\r\n"),
        ] {
            for index in 0..<count { packet(index, fromClient: fromClient, flags: 0x18, text) }
        }
        for index in 0..<count { packet(index, fromClient: false, flags: 0x01) }
        for index in 0..<count { packet(index, fromClient: true, flags: 0x01) }
        return file
    }

    @Test func replayAccountsForEveryCapturedConnectionWhenLimitsAreHit() throws {
        let folder = try TestSupport.temporaryDirectory("accounting-replay")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try TestSupport.write(Self.interleavedCapture(count: 8), to: folder + "/side-by-side.pcap")
        let args = [
            "replay", folder + "/side-by-side.pcap", "--config", "captures/qmail-relay/relaylab.yaml",
            "--max-live-connections", "2", "--threads", "1",
        ]
        // Without the limit: eight connections, all compared.
        let unlimited = try relaylab(Array(args.dropLast(4)) + ["--threads", "1"])
        #expect(try accounting(unlimited.stdoutText) == [8, 8, 0, 0], "\(unlimited.stdoutText)\(unlimited.stderrText)")
        // Two live connections at most: connections are flushed early, and their later packets
        // start new (mid-stream) connections, which are skipped with a reason.
        let human = try relaylab(args)
        #expect(human.status == 0 || human.status == 1, "\(human.stderrText)")
        let counts = try accounting(human.stdoutText)
        #expect(counts[0] == counts[1] + counts[2] + counts[3])
        #expect(counts[0] > 8, "evicted connections continue as new ones")
        #expect(counts[3] > 0)
        #expect(human.stdoutText.contains("limit: too many simultaneous live connections"))
        let json = try relaylab(args + ["--format", "json"])
        let record = try summary(json.stdoutText)
        #expect(
            [int(record, "connections"), int(record, "compared"), int(record, "unobservable_connections"), int(record, "skipped")]
                == counts)
        let limits = try #require(record["limits_hit"] as? [String: Int])
        #expect((limits["liveConnections"] ?? 0) > 0)
        let reasons = (record["skipped_reasons"] as? [String: Int] ?? [:]).values.reduce(0, +)
            + (record["unobservable_reasons"] as? [String: Int] ?? [:]).values.reduce(0, +)
        #expect(reasons == counts[2] + counts[3])
        // One connection record per connection that was not skipped.
        let connectionRecords = json.stdoutText.split(separator: "\n").filter { $0.hasPrefix(#"{"type":"connection""#) }
        #expect(connectionRecords.count == counts[1] + counts[2])
    }

    @Test func replayMarksLinesLongerThanTheLimit() throws {
        let args = [
            "replay", "captures/qmail-relay/relay.pcap", "--config", "captures/qmail-relay/relaylab.yaml",
            "--ptr", "captures/qmail-relay/ptr.txt", "--max-line-length", "16", "--format", "json", "--threads", "1",
        ]
        let json = try relaylab(args)
        #expect(json.status == 0 || json.status == 1, "\(json.stderrText)")
        let record = try summary(json.stdoutText)
        #expect(int(record, "connections") == 36)
        #expect(int(record, "connections") == int(record, "compared") + int(record, "unobservable_connections") + int(record, "skipped"))
        #expect(((record["limits_hit"] as? [String: Int])?["lineLength"] ?? 0) > 0)
        #expect(int(record, "unobservable") > 0, "commands longer than 16 bytes are unobservable")
    }

    @Test func compareAccountsTheSameWay() throws {
        let args = [
            "compare", "captures/qmail-relay/relay.pcap", "Tests/Fixtures/compare/traffic.yaml",
            "--baseline", "captures/qmail-relay/relaylab.yaml", "--candidate", "captures/qmail-relay/relaylab.yaml",
            "--max-live-connections", "3", "--threads", "1",
        ]
        let human = try relaylab(args)
        #expect(human.status == 0, "\(human.stdoutText)\(human.stderrText)")
        let counts = try accounting(human.stdoutText)
        #expect(counts[0] == counts[1] + counts[2] + counts[3])
        let json = try relaylab(args + ["--format", "json"])
        let record = try summary(json.stdoutText)
        #expect([int(record, "connections"), int(record, "compared"), int(record, "unobservable"), int(record, "skipped")] == counts)
        #expect((record["skipped_reasons"] as? [String: Int] ?? [:]).values.reduce(0, +) == counts[3])
    }
}

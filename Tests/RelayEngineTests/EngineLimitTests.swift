// RelayLimits: long lines and large messages are simulated in bounded memory with the real
// programs' replies; what was not kept is recorded on the step, and flagged when it could matter.

import Foundation
import RelayEngine
import TestSupport
import Testing

@Suite("Engine limits: long lines and large messages")
struct EngineLimitTests {
    static func configuration(
        maxLineLength: Int = RelayLimits.minimumLineLength, maxMessageBytes: Int = 64, auth: Bool = false,
        files: [String: String] = Harness.standardFiles
    ) -> RelayConfiguration {
        var configuration = Harness.configuration(
            files, auth: auth ? AuthOptions(credentials: .rejectAll) : nil,
            environment: auth ? ["SMTPAUTH": ""] : [:])
        configuration.limits = RelayLimits(maxLineLength: maxLineLength, maxMessageBytes: maxMessageBytes)
        return configuration
    }

    /// The resident set size of this process, from /proc/self/status (Linux), in bytes.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.filter(\.isNumber)
            return Int(digits).map { $0 * 1024 }
        }
        return nil
    }

    @Test func aGigabyteWithoutALineEndIsSimulatedInBoundedMemory() {
        var session = RelaySession(configuration: Self.configuration(), childEnvironment: Harness.environment())
        _ = session.start()
        _ = session.receive(Array("HELO client.example\r\n".utf8))
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 16 << 20)
        let baseline = Self.residentBytes()
        var output: [UInt8] = []
        for index in 0..<64 {  // 64 × 16 MiB = 1 GiB
            output += session.receive(chunk)
            #expect(session.bufferedClientBytes <= RelayLimits.minimumLineLength)
            if index % 16 == 15, let baseline, let now = Self.residentBytes() {
                // Storing the line would take a gigabyte; other tests running meanwhile take far less.
                #expect(now - baseline < 512 << 20, "resident memory grew by \(now - baseline) bytes")
            }
        }
        #expect(output.isEmpty)
        output += session.receive(Array("\r\n".utf8))
        #expect(String(decoding: output, as: UTF8.self) == "502 unimplemented (#5.5.1)\r\n")
        let exchange = session.exchanges.last!
        #expect(exchange.truncation == Truncation(
            limit: .lineLength, totalBytes: (1 << 30) + 2, droppedBytes: (1 << 30) - RelayLimits.minimumLineLength + 1,
            affectsOutcome: false))
        #expect(exchange.clientBytes.count == RelayLimits.minimumLineLength + 2)
        #expect(session.bufferedClientBytes == 0)
        // The session goes on normally.
        #expect(String(decoding: session.receive(Array("NOOP\r\n".utf8)), as: UTF8.self) == "250 ok\r\n")
    }

    @Test func longLinesGetTheRealPrograms() {
        let configuration = Self.configuration()
        let long = String(repeating: "y", count: 10_000)
        // qmail-smtpd's answers: a 10000-character line is an unknown command; NOOP ignores its argument.
        #expect(Harness.replies(configuration, [long, "NOOP " + long, "RSET" + " " + long, "VRFY " + long, "HELP " + long]) == [
            "502 unimplemented (#5.5.1)\r\n", "250 ok\r\n", "250 flushed\r\n", "252 send some mail, i'll try my best\r\n",
            "214 netqmail home page: http://qmail.org/netqmail\r\n",
        ])
        let run = Harness.run(configuration, "NOOP \(long)\r\nQUIT \(long)\n")
        #expect(run.session.exchanges.dropFirst().map(\.truncation?.affectsOutcome) == [false, false])
        #expect(run.session.ending == .quit)
    }

    @Test func addressesClosedInTheKeptPartAreExact() {
        let configuration = Self.configuration()
        let junk = String(repeating: "z", count: 5_000)
        let run = Harness.run(
            configuration,
            "HELO x\r\nMAIL FROM:<a@b.example> \(junk)\r\nRCPT TO:<r@example.com> \(junk)\r\nRCPT TO:<r@elsewhere.example>\(junk)\r\nDATA\r\nhi\r\n.\r\n")
        let steps = Array(run.session.exchanges.dropFirst(2))
        #expect(steps.prefix(3).map { String(decoding: $0.reply, as: UTF8.self) } == [
            "250 ok\r\n", "250 ok\r\n", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
        ])
        #expect(steps.prefix(3).map(\.truncation?.affectsOutcome) == [false, false, false])
        #expect(run.session.envelopes.first?.senderText == "a@b.example")
        #expect(run.session.envelopes.first?.recipientTexts == ["r@example.com"])
    }

    @Test func addressesTooLongInTheKeptPartAre555() {
        // 3000 bytes without '@': whatever follows, the address is too long.
        let address = String(repeating: "a", count: 3_000) + "@example.com"
        let plain = Harness.run(Self.configuration(), "HELO x\r\nMAIL FROM:<x@y>\r\nRCPT TO:<\(address)>\r\n")
        let rcpt = plain.session.exchanges.last!
        #expect(String(decoding: rcpt.reply, as: UTF8.self) == "555 syntax error (#5.5.4)\r\n")
        #expect(rcpt.truncation?.affectsOutcome == false)
        // A domain literal of this host (0.0.0.0 always counts) could still end it (digits are unlimited) and be replaced by
        // localiphost (default: me), which makes it short enough: qmail-smtpd then answers 250.
        let literal = "a@[" + String(repeating: "0", count: 2_000) + ".0.0.0]"
        let run = Harness.run(Self.configuration(), "HELO x\r\nMAIL FROM:<\(literal)>\r\n")
        #expect(run.session.exchanges.last!.truncation?.affectsOutcome == true)
        var unlimited = Self.configuration()
        unlimited.limits = RelayLimits(maxLineLength: 1 << 20)
        let exact = Harness.run(unlimited, "HELO x\r\nMAIL FROM:<\(literal)>\r\n")
        #expect(String(decoding: exact.session.exchanges.last!.reply, as: UTF8.self) == "250 ok\r\n")
        #expect(exact.session.exchanges.last!.decision?.address == "a@mx.example.net")
        #expect(exact.session.exchanges.last!.truncation == nil)
    }

    @Test func argumentsThatMayContinueAreFlaggedAndExplained() {
        let spaces = String(repeating: " ", count: 3_000)
        let run = Harness.run(Self.configuration(), "HELO x\r\nMAIL FROM:\(spaces)a@b.example\r\nEHLO \(spaces)\r\n")
        let mail = run.session.exchanges[2]
        #expect(mail.truncation?.affectsOutcome == true)
        #expect(mail.decision?.reasons.contains { fact in
            if case .lineNotKept(let length, let kept) = fact.kind { return length == 3_021 && kept == 1_024 }
            return false
        } == true)
        #expect(run.session.exchanges[3].truncation?.affectsOutcome == true)
        // The AUTH build reads MAIL's parameters to the end of the line.
        let auth = Harness.run(Self.configuration(auth: true), "EHLO x\r\nMAIL FROM:<a@b> \(spaces)SIZE=1\r\n")
        #expect(auth.session.exchanges.last!.truncation?.affectsOutcome == true)
    }

    @Test func messagesBeyondTheLimitAreCountedNotKept() {
        var files = Harness.standardFiles
        files["databytes"] = "500\n"
        let configuration = Self.configuration(maxMessageBytes: 64, files: files)
        let small = String(repeating: "line of text\r\n", count: 20)  // 280 bytes on the wire, 260 kept as LF lines
        let large = String(repeating: "line of text\r\n", count: 60)
        let run = Harness.run(
            configuration,
            "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n\(small).\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n\(large).\r\n")
        let bodies = run.session.exchanges.filter { $0.kind == .messageBody }
        #expect(bodies.map { String(decoding: $0.reply.prefix(3), as: UTF8.self) } == ["250", "552"])
        #expect(bodies.map(\.truncation?.totalBytes) == [small.utf8.count + 3, large.utf8.count + 3])
        #expect(bodies.allSatisfy { $0.clientBytes.count == 64 && $0.truncation?.affectsOutcome == false })
        let message = run.session.envelopes[0]
        #expect(message.body.count == 64)
        #expect(message.bodyBytes == 260)
        #expect(!message.isComplete)
        #expect(message.body == Array(String(repeating: "line of text\n", count: 20).utf8.prefix(64)))
    }

    @Test func limitsHaveSaneMinimums() {
        let limits = RelayLimits(maxLineLength: 5, maxMessageBytes: -3)
        #expect(limits.maxLineLength == RelayLimits.minimumLineLength)
        #expect(limits.maxMessageBytes == 0)
        #expect(RelayLimits().maxLineLength == 1 << 20)
    }
}

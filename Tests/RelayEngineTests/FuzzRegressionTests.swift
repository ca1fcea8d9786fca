// Inputs the fuzz-engine harness (Fuzz/) found, kept as regression tests, and the property they
// broke: with the smallest RelayLimits, every step answers and decides as without limits until the
// first one whose cut part could matter.

import Foundation
import RelayEngine
import TestSupport
import Testing

@Suite("Engine fuzzing regressions")
struct EngineFuzzRegressionTests {
    /// Runs `input` with and without the smallest limits and compares step by step.
    static func compareLimited(_ configuration: RelayConfiguration, _ connection: ClientConnection, _ input: [UInt8]) {
        func run(_ configuration: RelayConfiguration) -> RelaySession {
            var session = RelaySession(configuration: configuration, connection: connection)
            _ = session.receive(input)
            session.clientClosed()
            return session
        }
        var small = configuration
        small.limits = RelayLimits(maxLineLength: RelayLimits.minimumLineLength, maxMessageBytes: 100)
        let full = run(configuration)
        let cut = run(small)
        for (a, b) in zip(full.exchanges, cut.exchanges) {
            if b.truncation?.affectsOutcome == true { break }
            #expect(a.reply == b.reply)
            var decision = b.decision
            if b.stage == .rblsmtpd, b.truncation != nil { decision?.address = a.decision?.address }
            #expect(a.decision == decision)
        }
    }

    /// A 555's explanation gives the whole argument's length, up to a NUL, even when the line was cut.
    @Test func addressTooLongCountsTheWholeArgument() {
        let configuration = Harness.configuration()
        let connection = ClientConnection(clientIP: "192.0.2.9")
        let long = String(repeating: "a", count: 1_100)
        for tail in ["", "xyz", "x\u{0}yyyyyyyyyy"] {
            let input = Array("HELO x\r\nMAIL FROM:<x@y>\r\nRCPT TO:<\(long)\(tail)\r\nMAIL FROM:<a@[\(String(repeating: "0", count: 1_050))\(tail)\r\n".utf8)
            Self.compareLimited(configuration, connection, input)
        }
    }

    /// fuzz-engine finding: a MAIL line cut right after a CR that is followed by a NUL. The kept
    /// part ended in that CR, which was then read as the CR of a CRLF, so the 555's explanation
    /// counted the argument one byte short (1018 instead of 1019). The CR belongs to the argument.
    @Test func aCREndingTheKeptPartIsNotALineEnd() {
        let configuration = Harness.configuration()
        let connection = ClientConnection(clientIP: "192.0.2.9")
        let head = "MAIL FROM:<a@["
        // Not a domain literal of this host (that could still shorten the address), so the cut
        // cannot change the 555.
        let keptZeros = String(repeating: "0", count: 400) + String(repeating: "Q", count: RelayLimits.minimumLineLength - 401 - head.utf8.count)
        for tail in ["\u{0}\u{0}\u{0}QUFB", "QUFB", "\r", "\r\u{0}", ""] {
            for lineEnd in ["\n", "\r\n"] {
                // The CR is the last byte kept; `tail` and the line end follow.
                let input = Array("HELO x\r\n\(head)\(keptZeros)\r\(tail)\(lineEnd)QUIT\r\n".utf8)
                Self.compareLimited(configuration, connection, input)
            }
        }
        // The crasher itself is Fuzz/Corpus/engine/regression-kept-part-ends-in-cr.bin, replayed
        // by committedCrashersKeepLimitedSessionsExact.
    }

    /// fuzz-engine finding: behind rblsmtpd, a RCPT line cut before its `<` showed the text after
    /// the colon as the address (the whole line's address is inside the `<…>` not kept). The
    /// explanation now shows no address then; with the `<` kept, it shows the kept part.
    @Test func rblsmtpdShowsNoAddressWhenTheCutHidesIt() {
        var rbl = Harness.configuration()
        var fixture = BlocklistFixture()
        fixture.list("192.0.2.66", in: "zen.example", text: "listed")
        rbl.rblsmtpd = RBLSMTPDOptions(options: [.rbl("zen.example")], fixture: fixture)
        rbl.limits = RelayLimits(maxLineLength: RelayLimits.minimumLineLength, maxMessageBytes: 100)
        let filler = String(repeating: "A", count: 1_100)
        func rcptDecision(_ line: String) -> Decision? {
            var session = RelaySession(configuration: rbl, connection: ClientConnection(clientIP: "192.0.2.66"))
            _ = session.start()
            _ = session.receive(Array("HELO x\r\nMAIL FROM:<a@b>\r\n\(line)\r\n".utf8))
            return session.exchanges.last?.decision
        }
        let hidden = rcptDecision("RCPT B\(filler):<c@example.com>")
        #expect(hidden?.subject == .rcpt && hidden?.address == nil)
        let kept = rcptDecision("RCPT TO:<c@\(filler).example.com>")
        #expect(kept?.address?.hasPrefix("c@AAAA") == true)
        // Without the cut, the address is the one between < and >.
        rbl.limits = RelayLimits()
        #expect(rcptDecision("RCPT B\(filler):<c@example.com>")?.address == "c@example.com")
    }

    @Test func committedCrashersKeepLimitedSessionsExact() throws {
        let folder = TestSupport.packageRoot + "/Fuzz/Corpus/engine"
        var rbl = Harness.configuration()
        var fixture = BlocklistFixture()
        fixture.list("192.0.2.66", in: "zen.example", text: "listed; see https://zen.example/")
        rbl.rblsmtpd = RBLSMTPDOptions(options: [.rbl("zen.example")], fixture: fixture)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("regression-") }
        #expect(!names.isEmpty)
        for name in names {
            // The harness's input: configuration, client and chunking bytes, then the client's bytes.
            let input = Array(try TestSupport.read(folder + "/" + name).dropFirst(3))
            Self.compareLimited(Harness.configuration(), ClientConnection(clientIP: "192.0.2.9"), input)
            Self.compareLimited(rbl, ClientConnection(clientIP: "192.0.2.66"), input)
        }
    }
}

// The relay engine on arbitrary client bytes: a fixed, realistic set of configurations (stock
// netqmail with tcpserver rules, morercpthosts.cdb, badmailfrom and databytes; the AUTH patch
// offering every mechanism; AUTH required on notqmail; rblsmtpd blocking with 553 or 451, or
// passing), a client chosen among addresses the rules treat differently, and the bytes fed in
// chunks drawn from the input.
//
// Properties: the chunking changes nothing (output, exchanges, envelopes, ending, exit status),
// as with the real programs; replies are CRLF-terminated lines; with the smallest limits
// (RelayLimits: 1024-byte lines, 100-byte messages) every step answers as without them until
// the first one whose cut could matter (flagged `affectsOutcome`), and the kept message bodies
// are prefixes of the real ones.
//
// Input: configuration byte, client byte, chunk seed byte, then the client's bytes.

import CDB
import FuzzSupport
import RelayEngine
import TCPRules

let rulesText = """
    127.:allow,RELAYCLIENT=""
    192.0.2.9:allow,RELAYCLIENT="",DATABYTES="300"
    10.0.0.66:deny
    198.51.100.:allow,RBLSMTPD="-you are listed"
    203.0.113.:allow,RBLSMTPD="slow down"
    =.partner.example:allow,RBLSMTPD=""
    :allow

    """

let configurations: [RelayConfiguration] = {
    let morercpthosts = try! CDBWriter.build([
        (Array("hosted-a.example".utf8), [UInt8]()), (Array("hosted-b.example".utf8), [UInt8]()),
    ])
    let control = QmailControl(files: [
        "me": .text("mx.example.net\n"),
        "rcpthosts": .text("example.com\n.sub.example.org\nlocalhost\n"),
        "morercpthosts.cdb": .contents(morercpthosts),
        "badmailfrom": .text("spammer@bulk.example\n@junk.example\n"),
        "databytes": .text("2000\n"),
        "localiphost": .text("mx.example.net\n"),
    ])
    let rules = try! RulesDatabase(source: rulesText, path: "tcp.smtp")
    var fixture = BlocklistFixture()
    fixture.list("192.0.2.66", in: "zen.example", text: "listed; see https://zen.example/")
    fixture.allow("192.0.2.67", in: "allow.example")
    fixture.fail(zone: "broken.example")
    let users = AuthOptions(credentials: .users(["alice": "secret", "bob": "hunter2"]))
    let stock = RelayConfiguration(control: control, ipme: ["192.0.2.25"], rules: rules)
    var auth = stock
    auth.auth = users
    auth.environment = ["SMTPAUTH": "+cram"]
    var required = stock
    required.variant = .notqmail
    required.auth = users
    required.environment = ["SMTPAUTH": "!"]
    required.queue = .exitCode(31)
    var rbl = stock
    rbl.rblsmtpd = RBLSMTPDOptions(
        options: [.antiRBL("allow.example"), .rbl("zen.example"), .failClosed(true), .rbl("broken.example")],
        fixture: fixture)
    var rblBounce = rbl
    rblBounce.rblsmtpd = RBLSMTPDOptions(options: [.bounce(true), .timeout(0), .rbl("zen.example")], fixture: fixture)
    var noRules = stock
    noRules.rules = nil
    noRules.auth = AuthOptions(credentials: .recorded([false, true]))
    noRules.environment = ["SMTPAUTH": "", "DATABYTES": "100"]
    return [stock, auth, required, rbl, rblBounce, noRules]
}()

let clients: [ClientConnection] = [
    ClientConnection(clientIP: "192.0.2.44", ptrName: "mail.partner.example"),
    ClientConnection(clientIP: "127.0.0.1"),
    ClientConnection(clientIP: "192.0.2.9"),
    ClientConnection(clientIP: "10.0.0.66"),
    ClientConnection(clientIP: "198.51.100.7"),
    ClientConnection(clientIP: "203.0.113.5", ptrName: "x.partner.example"),
    ClientConnection(clientIP: "192.0.2.66"),
    ClientConnection(clientIP: "192.0.2.67", identInfo: "carol"),
]

struct Run: Equatable {
    var output: [UInt8]
    var exchanges: [Exchange]
    var envelopes: [QueuedMessage]
    var ending: RelaySession.Ending?
    var exitStatus: Int32?
}

func drive(_ configuration: RelayConfiguration, _ client: ClientConnection, _ chunks: [ArraySlice<UInt8>]) -> Run {
    var session = RelaySession(configuration: configuration, connection: client)
    var output = session.start()
    for chunk in chunks { output += session.receive(chunk) }
    session.clientClosed()
    return Run(
        output: output, exchanges: session.exchanges, envelopes: session.envelopes, ending: session.ending,
        exitStatus: session.exitStatus)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(LibFuzzer.bytes(start, count))
    let configuration = input.pick(configurations)
    let client = input.pick(clients)
    let seed = input.byte()
    let bytes = input.rest()
    let whole = drive(configuration, client, [bytes[...]])
    var sizes = FuzzInput([seed, seed &* 31, seed ^ 0xA5] + bytes.suffix(24))
    let chunked = drive(configuration, client, sizes.chunks(of: bytes, maxChunk: 9))
    fuzzCheck(whole == chunked, "the chunking changes the session")
    var small = configuration
    small.limits = RelayLimits(maxLineLength: RelayLimits.minimumLineLength, maxMessageBytes: 100)
    let limited = drive(small, client, sizes.chunks(of: bytes, maxChunk: 700))
    fuzzCheck(limited.exchanges.count == whole.exchanges.count || limited.exchanges.contains { $0.truncation?.affectsOutcome == true },
        "the limits change the number of steps")
    var exact = true
    for (full, cut) in zip(whole.exchanges, limited.exchanges) {
        if cut.truncation?.affectsOutcome == true {
            exact = false
            break
        }
        fuzzCheck(full.reply == cut.reply, "a limit changes a reply: \(String(decoding: full.reply, as: UTF8.self)) vs \(String(decoding: cut.reply, as: UTF8.self))")
        var sameKind = full.kind == cut.kind
        if case .command(let fullVerb) = full.kind, case .command(let cutVerb) = cut.kind, cut.truncation != nil {
            sameKind = fullVerb.hasPrefix(cutVerb)  // a verb longer than the kept part is cut too
        }
        var cutDecision = cut.decision
        if cut.stage == .rblsmtpd, cut.truncation != nil, let fullAddress = full.decision?.address,
            cut.decision?.address.map({ fullAddress.hasPrefix(String($0.dropLast())) }) ?? true
        {
            // rblsmtpd never reads the address; its explanation shows the kept part of it, or none
            // when the kept part has no `<` (one may follow in the part not kept).
            cutDecision?.address = fullAddress
        }
        fuzzCheck(full.decision == cutDecision && full.closedAfter == cut.closedAfter && sameKind,
            "a limit changes a decision: \(String(describing: full.decision)) vs \(String(describing: cut.decision)) (\(full.kind), truncation \(String(describing: cut.truncation)))")
        fuzzCheck(full.truncation == nil, "a truncation without a limit")
        if let truncation = cut.truncation {
            fuzzCheck(truncation.totalBytes == full.clientBytes.count, "truncation counts \(truncation.totalBytes) of \(full.clientBytes.count) bytes")
            fuzzCheck(cut.clientBytes.count <= RelayLimits.minimumLineLength + 2 || truncation.limit == .messageBytes, "kept more than the limit")
        } else {
            fuzzCheck(full.clientBytes == cut.clientBytes, "client bytes differ without a truncation")
        }
    }
    if exact {
        fuzzCheck(whole.output == limited.output && whole.ending == limited.ending && whole.exitStatus == limited.exitStatus,
            "a limit changes the session's output or ending")
        fuzzCheck(whole.envelopes.count == limited.envelopes.count, "a limit changes the messages queued")
        for (full, cut) in zip(whole.envelopes, limited.envelopes) {
            fuzzCheck(full.sender == cut.sender && full.recipients == cut.recipients && full.receivedLine == cut.receivedLine
                && full.qp == cut.qp && full.bodyBytes == cut.bodyBytes && full.body.starts(with: cut.body)
                && cut.body.count == min(100, full.body.count), "a limit changes a queued message")
        }
    }
    for exchange in whole.exchanges where !exchange.reply.isEmpty {
        fuzzCheck(exchange.reply.count >= 2 && exchange.reply.suffix(2) == [13, 10], "a reply does not end with CRLF")
        _ = exchange.decision?.description
    }
    return 0
}

@main
enum Harness {
    static func main() { LibFuzzer.run(testOneInput) }
}

import TCPRules

/// rblsmtpd (ucspi-tcp 0.88, Debian) as a pure state machine.
struct RBLSMTPDStage {
    /// The refusal line with CRLF (`553 text` or `451 text`).
    let message: [UInt8]
    /// rblsmtpd's alarm in seconds (0: none).
    let alarmSeconds: UInt32
    /// `-t 0`: only the refusal, then exit.
    let rejectOnly: Bool
    /// Why the client is blocked (attached to every refusal).
    let reasons: [Fact]
    /// 451 rather than 553.
    let temporary: Bool

    /// rblsmtpd's decision for a client: nil = pass on to qmail-smtpd.
    static func decide(
        environment: TCPServerEnvironment, sources: _EnvironmentSources, options: RBLSMTPDOptions
    ) -> (stage: RBLSMTPDStage?, decision: Decision) {
        let rblsmtpd = environment["RBLSMTPD"]
        if rblsmtpd == nil, options.options.isEmpty { return (nil, unlisted) }
        var decision = 0  // 0 undecided, 1 accept, 2 reject (451), 3 bounce (553)
        var text: [UInt8] = []
        var reasons: [Fact] = []
        var mustNotBounce = false
        if let value = rblsmtpd {
            let bytes = Bytes.cString(value)
            reasons.append(Fact(.rblsmtpdVariable(value: Bytes.text(bytes)), source: sources["RBLSMTPD"]))
            if bytes.isEmpty {
                decision = 1
            } else if bytes[0] == UInt8(ascii: "-") {
                text = Array(bytes.dropFirst())
                decision = 3
            } else {
                text = bytes
                decision = 2
            }
        }
        var ip: String { environment["TCPREMOTEIP"].map(Bytes.cText) ?? "" }
        var bounce = false
        var failClosed = false
        var zones: [String] = []
        for option in options.options {
            switch option {
            case .bounce(let on): bounce = on
            case .failClosed(let on): failClosed = on
            case .timeout: break
            case .rbl(let zone):
                zones.append(zone)
                if decision != 0 { continue }
                let answer = options.fixture.lookup(BlocklistFixture.queryName(ip: ip, zone: zone))
                if answer.failed {
                    mustNotBounce = true
                    reasons.append(Fact(.lookupFailed(zone: zone)))
                    if failClosed {
                        text = Array("temporary RBL lookup error".utf8)
                        decision = 2
                    }
                    continue
                }
                // dns_txt: all TXT strings concatenated, bytes outside 32...126 as '?'.
                var found: [UInt8] = []
                for string in answer.record?.txt ?? [] {
                    for byte in string.utf8 { found.append(byte < 32 || byte > 126 ? UInt8(ascii: "?") : byte) }
                }
                if !found.isEmpty {
                    text = found
                    decision = bounce ? 3 : 2
                    reasons.append(Fact(.listed(zone: zone, text: Bytes.text(found))))
                }
            case .antiRBL(let zone):
                if decision != 0 { continue }
                let answer = options.fixture.lookup(BlocklistFixture.queryName(ip: ip, zone: zone))
                if answer.failed {
                    mustNotBounce = true
                    reasons.append(Fact(.lookupFailed(zone: zone)))
                    if !failClosed { decision = 1 }
                    continue
                }
                if answer.record?.hasAddress == true {
                    decision = 1
                    reasons.append(Fact(.antiListed(zone: zone)))
                }
            }
        }
        if decision < 2 {
            if rblsmtpd == nil, !reasons.contains(where: { if case .antiListed = $0.kind { return true } else { return false } }) {
                reasons.append(Fact(.notListed(zones: zones)))
            }
            return (nil, Decision(.blocklist, .accept, reasons: reasons))
        }
        var message: [UInt8] = []
        let temporary = mustNotBounce || decision == 2
        Bytes.append(temporary ? "451 " : "553 ", to: &message)
        message.append(contentsOf: text.prefix(200))
        for index in message.indices where message[index] < 32 || message[index] > 126 {
            message[index] = UInt8(ascii: "?")
        }
        message.append(contentsOf: Bytes.crlf)
        if text.count > 200 { reasons.append(Fact(.note("the text is cut to 200 bytes"))) }
        let timeout = options.timeout
        let stage = RBLSMTPDStage(
            message: message, alarmSeconds: UInt32(truncatingIfNeeded: timeout), rejectOnly: timeout == 0,
            reasons: reasons, temporary: temporary)
        return (stage, Decision(.blocklist, temporary ? .tempfail : .refuse, reasons: reasons))
    }

    /// The common case, built once: RBLSMTPD unset and no zones.
    static let unlisted = Decision(.blocklist, .accept, reasons: [Fact(.notListed(zones: []))])

    /// What rblsmtpd sends first.
    func start() -> StepResult {
        if rejectOnly {
            var result = StepResult(reply: message)
            result.exitStatus = 0
            return result
        }
        return StepResult(reply: Replies.r220RblsmtpdLocal)
    }

    /// One command line. The framing is qmail's (LF ends a line, one CR before it is dropped,
    /// the verb runs to the first space, case-insensitive), except that ucspi-tcp's commands.c
    /// looks for the space with byte_chr over the whole line: a NUL inside the verb is part of
    /// it, so `HELO\0` matches nothing (observed with the real rblsmtpd).
    func line(_ line: ArraySlice<UInt8>) -> StepResult {
        var end = line.endIndex - 1
        if end > line.startIndex, line[end - 1] == Bytes.cr { end -= 1 }
        let content = line[line.startIndex..<end]
        let verbEnd = content.firstIndex(of: Bytes.space) ?? content.endIndex
        let verb = content[content.startIndex..<verbEnd]
        if Bytes.equalsFolded(verb, "quit") {
            var result = StepResult(reply: Replies.r221RblsmtpdLocal)
            result.exitStatus = 0
            return result
        }
        if Bytes.equalsFolded(verb, "mail") {
            return StepResult(
                reply: Replies.r250RblsmtpdLocal,
                decision: Decision(
                    .mail, .accept, address: RBLSMTPDStage.displayAddress(content),
                    reasons: [Fact(.note("rblsmtpd answers MAIL without looking at it"))] + reasons))
        }
        if Bytes.equalsFolded(verb, "helo") || Bytes.equalsFolded(verb, "ehlo") || Bytes.equalsFolded(verb, "rset")
            || Bytes.equalsFolded(verb, "noop")
        {
            return StepResult(reply: Replies.r250RblsmtpdLocal)
        }
        var result = StepResult(reply: message)
        let subject: Decision.Subject? =
            Bytes.equalsFolded(verb, "rcpt") ? .rcpt : (Bytes.equalsFolded(verb, "data") ? .data : nil)
        if let subject {
            result.decision = Decision(
                subject, temporary ? .tempfail : .refuse,
                address: subject == .rcpt ? RBLSMTPDStage.displayAddress(content) : nil, reasons: reasons)
        }
        return result
    }

    /// The address in a MAIL/RCPT line, for explanations only (rblsmtpd itself never parses it):
    /// the text between `<` and `>`, or after the colon.
    static func displayAddress(_ content: ArraySlice<UInt8>) -> String {
        let end = content.firstIndex(of: 0) ?? content.endIndex
        let text = content[content.startIndex..<end]
        if let open = text.firstIndex(of: UInt8(ascii: "<")) {
            let close = text[open...].firstIndex(of: UInt8(ascii: ">")) ?? text.endIndex
            return Bytes.text(text[(open + 1)..<close])
        }
        guard let colon = text.firstIndex(of: UInt8(ascii: ":")) else { return "" }
        let rest = text[(colon + 1)...].drop { $0 == Bytes.space }
        return Bytes.text(rest.prefix { $0 != Bytes.space })
    }
}

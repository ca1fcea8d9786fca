import CDB
import TCPRules

/// What one step of a program produced.
struct StepResult {
    var reply: [UInt8] = []
    var decision: Decision? = nil
    /// The program exits after this reply (with this status).
    var exitStatus: Int32? = nil
    /// Seconds the program paused before replying.
    var delay: Double = 0
    /// A message handed to (and accepted by) qmail-queue.
    var queued: QueuedMessage? {
        get { queuedBox?.message }
        set { queuedBox = newValue.map(_QueuedBox.init) }
    }
    /// Held by reference: a step result is made for every line, a queued message is rare and large.
    var queuedBox: _QueuedBox? = nil

    final class _QueuedBox {
        let message: QueuedMessage
        init(_ message: QueuedMessage) { self.message = message }
    }
}

/// qmail-smtpd (netqmail-1.06, optionally with the qmail-authentication 0.8.3 patch) as a pure
/// state machine. It sees only what the real program sees: its environment and control files.
struct SMTPDStage {
    /// What the program is waiting for.
    enum Mode: Equatable {
        /// A command line.
        case command
        /// A line answering an AUTH prompt.
        case authLine(AuthStep)
        /// The message after 354.
        case data
    }

    /// The AUTH dialogue's position.
    enum AuthStep: Equatable {
        case loginUser
        case loginPassword(user: [UInt8])
        case plainResponse
        case cramResponse(challenge: [UInt8])
    }

    // MARK: - Setup (from the environment and control files)

    let replies: QmailVariant.Replies
    let authBuild: Bool
    /// 0 none; 1 LOGIN PLAIN; 2 CRAM-MD5; 3 all; +10 required (the patch's `smtpauth`).
    let smtpauth: Int
    let remoteIP: String
    let local: String
    let remoteHost: String
    var remoteInfo: [UInt8]?
    /// Whether remoteinfo is the patch's reused `AUTH=` buffer (follows later `AUTH=` values).
    var remoteInfoFollowsMailAuth = false
    var relayClient: [UInt8]?
    /// Where RELAYCLIENT came from (rule, inherited environment, AUTH).
    var relayClientSource: SourceLocation?
    var relayClientByAuth = false
    let databytes: UInt32
    /// Where the size limit came from: control/databytes, or the rule or environment that set
    /// `DATABYTES`.
    let databytesSource: SourceLocation?
    let greeting: [UInt8]
    let control: QmailControl.Storage
    let setupFailure: Fact?
    /// The morercpthosts.cdb lookups made (see ``RelaySession/lookups``).
    var moreRcptHostsLookups = CDBLookupRecorder()
    /// Whether the usual commands' decisions carry their address and reasons
    /// (``RelaySession/explainsDecisions``).
    var explains = true

    // MARK: - Session state

    var mode: Mode = .command
    var seenMail = false
    /// The badmailfrom entry (index) matched by the current sender, if any.
    var barf: Int? = nil
    var mailFrom: [UInt8] = []
    var recipients: [[UInt8]] = []
    var heloHost: [UInt8]
    var fakeHelo: Bool
    var seenAuth = false
    var authUser: [UInt8] = []
    var protocolName = "SMTP"
    var authAttempts = 0
    /// The patch's `AUTH=` user buffer.
    var mailAuthUser: [UInt8] = []
    /// The patch's `mfparms` stralloc: its bytes persist between uses (stale reads are real).
    var mailParameterBuffer: [UInt8] = []

    // DATA state
    var queueCount = 0
    var currentQP = 0
    var receivedLine: ReceivedLineParts? = nil
    /// The message as received, at most `maxBody` bytes of it; `bodyCount` counts every byte.
    var body: [UInt8] = []
    var bodyCount = 0
    let maxBody: Int
    var blastState = 1
    var inHeader = true
    var headerPosition = 0
    var maybeReceived = true
    var maybeBlank = true
    var maybeDelivered = true
    var hops = 0

    init(environment: TCPServerEnvironment, sources: _EnvironmentSources, configuration: RelayConfiguration) {
        let control = configuration.control
        replies = configuration.variant.replies
        authBuild = configuration.auth != nil
        setupFailure = control.setupFailure
        greeting = control.greeting?.bytes ?? []
        self.control = control.storage
        maxBody = configuration.limits.maxMessageBytes
        func value(_ name: String) -> [UInt8]? { environment[name].map(Bytes.cString) }
        func text(_ name: String) -> String? { environment[name].map(Bytes.cText) }
        remoteIP = text("TCPREMOTEIP") ?? "unknown"
        local = text("TCPLOCALHOST") ?? text("TCPLOCALIP") ?? "unknown"
        remoteHost = text("TCPREMOTEHOST") ?? "unknown"
        remoteInfo = value("TCPREMOTEINFO")
        relayClient = value("RELAYCLIENT")
        relayClientSource = relayClient == nil ? nil : sources["RELAYCLIENT"]
        var databytes = control.databytes
        var databytesSource: SourceLocation? = control.storage.databytesSource
        if let text = value("DATABYTES") {
            databytes = UInt32(truncatingIfNeeded: ControlReader.scanNumberOrZero(text))
            databytesSource = sources["DATABYTES"]
        }
        self.databytesSource = databytesSource
        if databytes == UInt32.max { databytes -= 1 }
        self.databytes = databytes
        var smtpauth = 0
        if authBuild, let raw = value("SMTPAUTH") {
            let auth = raw.map(Bytes.lower)
            smtpauth = 1
            if auth == Array("-".utf8) { smtpauth = 0 }
            if auth == Array("!".utf8) { smtpauth = 11 }
            if auth.starts(with: Array("cram".utf8)) { smtpauth = 2 }
            if auth.starts(with: Array("+cram".utf8)) { smtpauth = 3 }
            if auth.starts(with: Array("!cram".utf8)) { smtpauth = 12 }
            if auth.starts(with: Array("!+cram".utf8)) { smtpauth = 13 }
        }
        self.smtpauth = smtpauth
        heloHost = []  // dohelo(remotehost): equal to the host name, so never written
        fakeHelo = false
    }

    /// Whether the next bytes are message text (after 354).
    var isReadingMessage: Bool {
        if case .data = mode { return true }
        return false
    }

    /// Whether the next line answers an AUTH prompt.
    var isReadingAuthResponse: Bool {
        if case .authLine = mode { return true }
        return false
    }

    // MARK: - Start

    /// The greeting, or 421 when the control files cannot be read.
    func start() -> StepResult {
        if let failure = setupFailure {
            var result = StepResult()
            Bytes.append("421 unable to read controls (#4.3.0)\r\n", to: &result.reply)
            result.decision = Decision(.greeting, .tempfail, reasons: [failure])
            result.exitStatus = 1
            return result
        }
        return StepResult(reply: control.greetingReply)
    }

    // MARK: - Inbound: command lines

    /// Handles one line (its bytes include the final LF).
    mutating func line(_ line: ArraySlice<UInt8>, configuration: RelayConfiguration, now: Int64) -> StepResult {
        // Strip LF and one CR; the rest is a C string.
        var end = line.endIndex - 1
        if end > line.startIndex, line[end - 1] == Bytes.cr { end -= 1 }
        let content = line[line.startIndex..<end]
        let cEnd = content.firstIndex(of: 0) ?? content.endIndex
        let text = content[content.startIndex..<cEnd]
        if case .authLine(let step) = mode {
            mode = .command
            return authResponse(content, step: step, configuration: configuration, now: now)
        }
        let verbEnd = text.firstIndex(of: Bytes.space) ?? text.endIndex
        let verb = text[text.startIndex..<verbEnd]
        var argStart = verbEnd
        while argStart < text.endIndex, text[argStart] == Bytes.space { argStart += 1 }
        let arg = text[argStart..<text.endIndex]

        switch verb.count {
        case 4:
            if Bytes.equalsFolded(verb, "rcpt") { return rcpt(arg, configuration: configuration) }
            if Bytes.equalsFolded(verb, "mail") { return mail(arg, configuration: configuration) }
            if Bytes.equalsFolded(verb, "data") { return data(configuration: configuration, now: now) }
            if authBuild, Bytes.equalsFolded(verb, "auth") { return auth(arg, configuration: configuration, now: now) }
            if Bytes.equalsFolded(verb, "quit") { return quit() }
            if Bytes.equalsFolded(verb, "helo") { return helo(arg, extended: false) }
            if Bytes.equalsFolded(verb, "ehlo") { return helo(arg, extended: true) }
            if Bytes.equalsFolded(verb, "rset") {
                seenMail = false
                return StepResult(reply: Replies.r250Flushed)
            }
            if Bytes.equalsFolded(verb, "help") { return StepResult(reply: Array((replies.help + "\r\n").utf8)) }
            if Bytes.equalsFolded(verb, "noop") { return StepResult(reply: Replies.r250Ok) }
            if Bytes.equalsFolded(verb, "vrfy") {
                return StepResult(reply: Replies.r252SendSomeMailILl)
            }
        default:
            break
        }
        return StepResult(reply: Replies.r502Unimplemented551)
    }

    /// Whether bytes dropped after `line` (a command line cut at the line length limit, its line
    /// end included) could change what qmail-smtpd does with it. qmail-smtpd reads a line as a
    /// C string, splits the verb at the first space and looks at the argument only for MAIL,
    /// RCPT, HELO, EHLO and AUTH (and AUTH responses); an address closed in the kept part (or
    /// already too long) does not depend on what follows, except for MAIL in the AUTH build,
    /// whose parameters are read to the end of the line.
    func tailMatters(_ line: ArraySlice<UInt8>, configuration: RelayConfiguration) -> Bool {
        if case .authLine = mode { return true }
        var end = line.endIndex - 1
        if end > line.startIndex, line[end - 1] == Bytes.cr { end -= 1 }
        let content = line[line.startIndex..<end]
        if content.contains(0) { return false }
        guard let verbEnd = content.firstIndex(of: Bytes.space) else { return false }
        let verb = content[content.startIndex..<verbEnd]
        guard verb.count == 4 else { return false }
        if Bytes.equalsFolded(verb, "helo") || Bytes.equalsFolded(verb, "ehlo") { return true }
        if authBuild, Bytes.equalsFolded(verb, "auth") { return true }
        let isMail = Bytes.equalsFolded(verb, "mail")
        guard isMail || Bytes.equalsFolded(verb, "rcpt") else { return false }
        if isMail && authBuild { return true }
        // addrparse on the kept argument: does the address end (or pass 899 bytes) inside it?
        var index = verbEnd
        guard let angle = content[index...].firstIndex(of: UInt8(ascii: "<")) else { return true }
        index = angle + 1
        if index < content.endIndex, content[index] == UInt8(ascii: "@") {
            guard let colon = content[index...].firstIndex(of: UInt8(ascii: ":")) else { return true }
            index = colon + 1
        }
        var address: [UInt8] = []
        var escaped = false
        var quoted = false
        while index < content.endIndex {
            let byte = content[index]
            index += 1
            if escaped {
                escaped = false
                address.append(byte)
            } else if !quoted, byte == UInt8(ascii: ">") {
                return false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                quoted.toggle()
            } else {
                address.append(byte)
            }
        }
        // Not closed: 900 bytes or more get 555 whatever follows, unless a domain literal of this
        // host (`@[0…0192.0.2.25]`, digits unlimited) could still end the address and be replaced
        // by localiphost (qmail's default: control/me), which shortens it: only when the address
        // so far ends with `@[` and digits and dots.
        guard address.count >= 900 else { return true }
        guard configuration.control.localIPHost != nil, let at = address.lastIndex(of: UInt8(ascii: "@")) else {
            return false
        }
        let literal = address[(at + 1)...]
        guard let first = literal.first else { return true }
        return first == UInt8(ascii: "[")
            && literal.dropFirst().allSatisfy { $0 == UInt8(ascii: ".") || ($0 >= 48 && $0 <= 57) }
    }

    mutating func quit() -> StepResult {
        var result = StepResult(reply: control.quitReply)
        result.exitStatus = 0
        return result
    }

    mutating func helo(_ arg: ArraySlice<UInt8>, extended: Bool) -> StepResult {
        var result = StepResult()
        if extended {
            if authBuild {
                Bytes.append("250-", to: &result.reply)
                result.reply.append(contentsOf: greeting)
                Bytes.append("\r\n250-PIPELINING\r\n250-8BITMIME\r\n", to: &result.reply)
                switch smtpauth {
                case 1, 11: Bytes.append("250-AUTH LOGIN PLAIN\r\n", to: &result.reply)
                case 2, 12: Bytes.append("250-AUTH CRAM-MD5\r\n", to: &result.reply)
                case 3, 13: Bytes.append("250-AUTH LOGIN PLAIN CRAM-MD5\r\n", to: &result.reply)
                default: break
                }
                Bytes.append("250 SIZE ", to: &result.reply)
                Bytes.appendDecimal(databytes, to: &result.reply)
                result.reply.append(contentsOf: Bytes.crlf)
            } else {
                result.reply = control.ehloReply
            }
        } else {
            result.reply = control.heloReply
        }
        seenMail = false
        heloHost = Array(arg)
        fakeHelo = Bytes.differFolded(remoteHost, heloHost)
        var decision = Decision(.helo, .accept, address: explains ? Bytes.text(heloHost) : nil)
        if fakeHelo, explains {
            decision.reasons.append(Fact(.note("the HELO name differs from TCPREMOTEHOST: it goes into the Received line")))
        }
        result.decision = decision
        return result
    }

    // MARK: - Addresses

    /// qmail's addrparse: the address (without its NUL) and what happened to a domain literal,
    /// or nil for `555 syntax error` (900 characters or more).
    func parseAddress(_ arg: ArraySlice<UInt8>, configuration: RelayConfiguration) -> (address: [UInt8], literal: Fact?)? {
        var index = arg.startIndex
        var terminator = UInt8(ascii: ">")
        if let angle = arg.firstIndex(of: UInt8(ascii: "<")) {
            index = angle + 1
        } else {
            terminator = Bytes.space
            index = arg.firstIndex(of: UInt8(ascii: ":")) ?? arg.endIndex
            if index < arg.endIndex { index += 1 }
            while index < arg.endIndex, arg[index] == Bytes.space { index += 1 }
        }
        // Strip a source route: everything up to and including the first colon.
        if index < arg.endIndex, arg[index] == UInt8(ascii: "@") {
            while index < arg.endIndex {
                let byte = arg[index]
                index += 1
                if byte == UInt8(ascii: ":") { break }
            }
        }
        var address: [UInt8] = []
        var escaped = false
        var quoted = false
        // Fast path: no quote or backslash before the terminator, so the address is one slice.
        var scan = index
        while scan < arg.endIndex {
            let byte = arg[scan]
            if byte == terminator || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { break }
            scan += 1
        }
        if scan == arg.endIndex || arg[scan] == terminator {
            address = Array(arg[index..<scan])
            index = arg.endIndex
        }
        while index < arg.endIndex {
            let byte = arg[index]
            index += 1
            if escaped {
                address.append(byte)
                escaped = false
                continue
            }
            if !quoted, byte == terminator { break }
            switch byte {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "\""): quoted.toggle()
            default: address.append(byte)
            }
        }
        var literal: Fact? = nil
        // A domain literal first (the usual address has none), then localiphost.
        if let at = address.lastIndex(of: UInt8(ascii: "@")),
            at + 1 < address.count, address[at + 1] == UInt8(ascii: "["), let liphost = control.localIPHost
        {
            let bracket = address[(at + 1)...]
            if let (ip, length) = SMTPDStage.scanBracket(bracket), at + 1 + length == address.count,
                configuration.ipmeAddresses.contains(ip)
            {
                let original = Bytes.text(bracket)
                address.removeSubrange((at + 1)...)
                address.append(contentsOf: liphost.bytes)
                literal = Fact(
                    .domainLiteral(literal: original, replacement: liphost.text), source: liphost.location)
            }
        }
        if address.count + 1 > 900 { return nil }
        return (address, literal)
    }

    /// ip_scanbracket: `[a.b.c.d]` with each number read in decimal and taken mod 256; returns
    /// the address and the length consumed.
    static func scanBracket(_ bytes: ArraySlice<UInt8>) -> (UInt32, Int)? {
        var index = bytes.startIndex
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var address: UInt32 = 0
        for part in 0..<4 {
            if part > 0 {
                guard index < bytes.endIndex, bytes[index] == UInt8(ascii: ".") else { return nil }
                index += 1
            }
            var octet: UInt8 = 0
            var digits = 0
            while index < bytes.endIndex, bytes[index] &- 48 < 10 {
                octet = octet &* 10 &+ (bytes[index] - 48)
                index += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
            address = address << 8 | UInt32(octet)
        }
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "]") else { return nil }
        return (address, index + 1 - bytes.startIndex)
    }

    /// badmailfrom: the whole address, then `@domain` from the last `@`.
    func badmailfromEntry(_ address: [UInt8]) -> Int? {
        guard let table = control.badmailfromTable else { return nil }
        if let entry = table.find(address) { return entry }
        if let at = address.lastIndex(of: UInt8(ascii: "@")) {
            return address[at...].withContiguousStorageIfAvailable { table.find($0) } ?? nil
        }
        return nil
    }

    /// The rcpthosts check (rcpthosts.c), with the fact behind it (one
    /// fact, not an array: no allocation per RCPT).
    /// - Returns: allowed or not, whether a lookup failed (die_control), and the fact (nil
    ///   when decisions are not explained: see ``explains``).
    mutating func rcpthosts(_ fullAddress: [UInt8]) -> (allowed: Bool, failed: Bool, reason: Fact?) {
        guard let table = control.rcpthostsTable else {
            return (true, false, explains ? Fact(.rcpthostsMissing, source: control.rcpthostsSource) : nil)
        }
        let length = fullAddress.firstIndex(of: 0) ?? fullAddress.count
        guard let at = fullAddress[..<length].lastIndex(of: UInt8(ascii: "@")) else {
            return (true, false, explains ? Fact(.noDomain) : nil)
        }
        let hostLength = length - at - 1
        // The lower-cased domain lives on the stack while it is looked up.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(hostLength, 1)) { host in
            for offset in 0..<hostLength { host[offset] = Bytes.lower(fullAddress[at + 1 + offset]) }
            let domain = UnsafeBufferPointer(rebasing: host[0..<hostLength])
            for start in 0..<hostLength where start == 0 || domain[start] == UInt8(ascii: ".") {
                if let entry = table.find(UnsafeBufferPointer(rebasing: domain[start...])) {
                    return (true, false, explains ? control.rcpthostsFacts[entry] : nil)
                }
            }
            switch control.morercpthosts {
            case .database(let cdb):
                for start in 0..<hostLength where start == 0 || domain[start] == UInt8(ascii: ".") {
                    do {
                        let key = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: domain[start...]))
                        if try cdb.first(key, recording: &moreRcptHostsLookups) != nil {
                            guard explains else { return (true, false, nil) }
                            return (
                                true, false,
                                Fact(.morercpthostsKey(key: Bytes.text(domain[start...])), source: control.morercpthostsSource)
                            )
                        }
                    } catch {
                        return (
                            false, true,
                            Fact(.morercpthostsDamaged(reason: "\(error)"), source: control.morercpthostsSource)
                        )
                    }
                }
            case .damaged(let reason) where hostLength > 0:
                return (false, true, Fact(.morercpthostsDamaged(reason: reason), source: control.morercpthostsSource))
            default:
                break
            }
            guard explains else { return (false, false, nil) }
            return (false, false, Fact(.notInRcpthosts(domain: Bytes.text(domain)), source: control.rcpthostsSource))
        }
    }

    // MARK: - MAIL / RCPT

    mutating func mail(_ arg: ArraySlice<UInt8>, configuration: RelayConfiguration) -> StepResult {
        if authBuild, smtpauth > 10, !seenAuth {
            return StepResult(
                reply: Replies.r530AuthorizationRequired571,
                decision: Decision(.mail, .refuse, reasons: [Fact(.authenticationRequired)]))
        }
        guard let (address, literal) = parseAddress(arg, configuration: configuration) else {
            return syntaxError(.mail, arg)
        }
        var reasons: [Fact] = []
        if let literal { reasons.append(literal) }
        if authBuild {
            if let size = mailParameters(arg) {
                reasons.append(Fact(.declaredSizeTooLarge(size: size, limit: databytes), source: databytesSource))
                return StepResult(
                    reply: Replies.r552SorryThatMessageSizeExceeds,
                    decision: Decision(.mail, .refuse, address: Bytes.text(address), reasons: reasons))
            }
        }
        barf = badmailfromEntry(address)
        seenMail = true
        recipients.removeAll(keepingCapacity: true)
        mailFrom = address.contains(0) ? Bytes.cString(address) : address
        if let barf, let entries = configuration.control.badmailfrom {
            reasons.append(
                Fact(
                    .note("sender matches badmailfrom entry \(entries[barf].text): every RCPT will be refused"),
                    source: entries[barf].location))
        }
        return StepResult(
            reply: Replies.r250Ok,
            decision: Decision(.mail, .accept, address: explains ? Bytes.text(mailFrom) : nil, reasons: reasons))
    }

    mutating func rcpt(_ arg: ArraySlice<UInt8>, configuration: RelayConfiguration) -> StepResult {
        guard seenMail else {
            return StepResult(
                reply: Replies.r503MailFirst551,
                decision: Decision(.rcpt, .refuse, reasons: [Fact(.noMailTransaction)]))
        }
        guard case (var address, let literal)? = parseAddress(arg, configuration: configuration) else {
            return syntaxError(.rcpt, arg)
        }
        if let barf {
            var reasons: [Fact] = []
            if let literal { reasons.append(literal) }
            reasons.insert(control.badmailfromFacts[barf], at: 0)
            reasons.append(Fact(.sender(Bytes.text(mailFrom))))
            if relayClient != nil {
                reasons.append(Fact(.note("badmailfrom is checked before RELAYCLIENT and AUTH")))
            }
            return StepResult(
                reply: Replies.r553SorryYourEnvelopeSenderIs,
                decision: Decision(.rcpt, .refuse, address: Bytes.text(address), reasons: reasons))
        }
        let outcome: Decision.Outcome
        var reasons: [Fact] = []
        if let relayClient {
            // qmail does not look at rcpthosts here; relaylab does, only to say "accept" or "relay".
            let check = rcpthosts(address)
            let local = check.allowed && !check.failed && control.rcpthostsTable != nil
            if explains {
                // The RELAYCLIENT (or AUTH) fact first, then the literal's, then rcpthosts'.
                reasons.reserveCapacity(4)
                if relayClientByAuth {
                    reasons.append(Fact(.authenticated(user: Bytes.text(authUser))))
                } else {
                    reasons.append(Fact(.relayClient(value: Bytes.text(relayClient)), source: relayClientSource))
                }
                if let literal { reasons.append(literal) }
                if local, let reason = check.reason { reasons.append(reason) }
            }
            outcome = local ? .accept : .relay
            if !relayClient.isEmpty {
                address.append(contentsOf: relayClient)
                if explains {
                    reasons.append(
                        Fact(.relayClientAppended(suffix: Bytes.text(relayClient), stored: Bytes.text(Bytes.cString(address)))))
                }
            }
        } else {
            let check = rcpthosts(address)
            if explains, let literal { reasons.append(literal) }
            if let reason = check.reason { reasons.append(reason) }
            if check.failed {
                var result = StepResult(
                    reply: Replies.r421UnableToReadControls4,
                    decision: Decision(.rcpt, .tempfail, address: Bytes.text(address), reasons: reasons))
                result.exitStatus = 1
                return result
            }
            if !check.allowed {
                return StepResult(
                    reply: Replies.r553SorryThatDomainIsnT,
                    decision: Decision(.rcpt, .refuse, address: Bytes.text(address), reasons: reasons))
            }
            if control.rcpthostsTable == nil, address.contains(UInt8(ascii: "@")) {
                outcome = .relay
            } else {
                outcome = .accept
            }
        }
        recipients.append(address.contains(0) ? Bytes.cString(address) : address)
        return StepResult(
            reply: Replies.r250Ok,
            decision: Decision(.rcpt, outcome, address: explains ? Bytes.text(address) : nil, reasons: reasons))
    }

    func syntaxError(_ subject: Decision.Subject, _ arg: ArraySlice<UInt8>) -> StepResult {
        StepResult(
            reply: Replies.r555SyntaxError554,
            decision: Decision(subject, .refuse, reasons: [Fact(.addressTooLong(length: arg.count))]))
    }

    /// The patch's mailfrom_parms: scans the MAIL argument for `SIZE=` (returns the size when it
    /// is above databytes) and `AUTH=` (sets TCPREMOTEINFO when unset). Runs only when the
    /// argument has a `>` after its fifth byte. The parameter buffer's stale bytes are used, as
    /// in the real program, where a token is shorter than the keyword.
    mutating func mailParameters(_ arg: ArraySlice<UInt8>) -> UInt64? {
        let bytes = Array(arg)
        guard let close = bytes.firstIndex(of: UInt8(ascii: ">")), close > 4 else { return nil }
        resetParameterBuffer()
        var length = 0
        var position = 0
        var remaining = bytes.count
        while remaining > 0 {
            position += 1
            remaining -= 1
            let byte = position < bytes.count ? bytes[position] : 0
            if byte == Bytes.space || byte == 0 {
                if bufferStarts("SIZE=") {
                    let size = scanBuffer(from: 5)
                    if databytes != 0, size > UInt64(databytes) { return size }
                }
                if bufferStarts("AUTH=") { mailAuth(length: length - 5) }
                resetParameterBuffer()
                length = 0
            } else {
                appendParameter(byte, at: length)
                length += 1
            }
        }
        return nil
    }

    private mutating func resetParameterBuffer() {
        if mailParameterBuffer.isEmpty { mailParameterBuffer = [0, 0] }
        mailParameterBuffer[0] = UInt8(ascii: "Z")
    }

    private mutating func appendParameter(_ byte: UInt8, at length: Int) {
        while mailParameterBuffer.count < length + 2 { mailParameterBuffer.append(0) }
        mailParameterBuffer[length] = byte
        mailParameterBuffer[length + 1] = UInt8(ascii: "Z")
    }

    private func bufferByte(_ index: Int) -> UInt8 {
        index < mailParameterBuffer.count ? mailParameterBuffer[index] : 0
    }

    private func bufferStarts(_ keyword: StaticString) -> Bool {
        keyword.withUTF8Buffer { keyword in
            for (index, expected) in keyword.enumerated() where Bytes.lower(bufferByte(index)) != Bytes.lower(expected) {
                return false
            }
            return true
        }
    }

    private func scanBuffer(from start: Int) -> UInt64 {
        var value: UInt64 = 0
        var index = start
        while bufferByte(index) &- 48 < 10 {
            value = value &* 10 &+ UInt64(bufferByte(index) - 48)
            index += 1
        }
        return value
    }

    /// mailfrom_auth: decodes `+2B`/`+3D` (a lone `+` is dropped), `<>` means `unknown`.
    private mutating func mailAuth(length: Int) {
        var user: [UInt8] = []
        var index = 5
        var remaining = length
        if Bytes.lower(bufferByte(5)) == UInt8(ascii: "<"), bufferByte(6) == UInt8(ascii: ">") {
            user = Array("unknown".utf8)
        } else {
            while remaining > 0 {
                if bufferByte(index) == UInt8(ascii: "+") {
                    if bufferByte(index + 1) == UInt8(ascii: "3"), Bytes.lower(bufferByte(index + 2)) == UInt8(ascii: "d") {
                        index += 2
                        remaining -= 2
                        user.append(UInt8(ascii: "="))
                    }
                    if bufferByte(index) == UInt8(ascii: "+"), bufferByte(index + 1) == UInt8(ascii: "2"),
                        Bytes.lower(bufferByte(index + 2)) == UInt8(ascii: "b")
                    {
                        index += 2
                        remaining -= 2
                        user.append(UInt8(ascii: "+"))
                    }
                } else {
                    user.append(bufferByte(index))
                }
                index += 1
                remaining -= 1
            }
        }
        mailAuthUser = Bytes.cString(user)
        if remoteInfo == nil {
            remoteInfoFollowsMailAuth = true
        }
        if remoteInfoFollowsMailAuth { remoteInfo = mailAuthUser }
    }

    // MARK: - DATA

    mutating func data(configuration: RelayConfiguration, now: Int64) -> StepResult {
        guard seenMail else {
            return StepResult(
                reply: Replies.r503MailFirst551,
                decision: Decision(.data, .refuse, reasons: [Fact(.noMailTransaction)]))
        }
        guard !recipients.isEmpty else {
            return StepResult(
                reply: Replies.r503RcptFirst551,
                decision: Decision(.data, .refuse, reasons: [Fact(.noRecipients)]))
        }
        seenMail = false
        if configuration.queue == .cannotStart {
            return StepResult(
                reply: Replies.r451QqtFailure430,
                decision: Decision(.data, .tempfail, reasons: [Fact(.queueNotStarted)]))
        }
        currentQP = configuration.processIDs.firstQueue + queueCount * configuration.processIDs.queueStep
        queueCount += 1
        receivedLine = receivedLineParts(now: now)
        body.removeAll(keepingCapacity: true)
        bodyCount = 0
        blastState = 1
        inHeader = true
        headerPosition = 0
        maybeReceived = true
        maybeBlank = true
        maybeDelivered = true
        hops = 0
        mode = .data
        return StepResult(reply: Replies.r354GoAhead)
    }

    /// What the `Received:` line is made of, as qmail-smtpd has it when DATA is accepted; the
    /// line itself is built only when someone reads it (``QueuedMessage/receivedLine``).
    func receivedLineParts(now: Int64) -> ReceivedLineParts {
        ReceivedLineParts(
            remoteHost: remoteHost, helo: fakeHelo ? heloHost : nil, remoteInfo: remoteInfo, remoteIP: remoteIP,
            local: local, protocolName: protocolName, time: now)
    }

    /// Feeds message bytes (blast). Returns how many were consumed and, when the message ended
    /// (final dot line or a bare LF), the step result.
    mutating func feedBody(_ bytes: UnsafeBufferPointer<UInt8>, configuration: RelayConfiguration, now: Int64)
        -> (consumed: Int, result: StepResult?)
    {
        // A message usually comes whole: room for this chunk at once instead of growing line by line.
        if body.isEmpty { body.reserveCapacity(min(maxBody, bytes.count)) }
        var index = 0
        while index < bytes.count {
            if blastState == 1, !inHeader, bytes[index] != UInt8(ascii: "."), bytes[index] != Bytes.cr,
                bytes[index] != Bytes.lf
            {
                blastState = 0  // a body line that starts with an ordinary byte: copied as is
            }
            // In a header line the checks stop mattering once none of them can still match (or
            // past their 9 bytes): the line's position then only counts on to the LF, which resets it.
            if blastState == 0, !inHeader || headerPosition >= 9 || !(maybeDelivered || maybeReceived || maybeBlank) {
                // Inside a line, past what the header checks look at: up to the next LF (memchr)
                // the state machine copies every byte as is, except that a CR right before the LF
                // is held back (state 4: CRLF becomes LF), and only a LF changes the header state.
                let end = _ByteScan.firstIndex(of: Bytes.lf, in: UnsafeBufferPointer(rebasing: bytes[index...]))
                    .map { index + $0 } ?? bytes.count
                if end > index, end < bytes.count, !inHeader, bytes[end - 1] == Bytes.cr {
                    // The usual body line, ending in CRLF: its bytes as they are, the CR dropped,
                    // the LF kept (states 0, 4, then 1 at the next line's start).
                    let content = end - 1 - index
                    let kept = min(content, max(0, maxBody - body.count))
                    if kept > 0 { body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + kept)])) }
                    if body.count < maxBody { body.append(Bytes.lf) }
                    bodyCount += content + 1
                    blastState = 1
                    index = end + 1
                    continue
                }
                if end > index {
                    var copyEnd = end
                    if bytes[end - 1] == Bytes.cr {
                        copyEnd -= 1
                        blastState = 4
                    }
                    let kept = min(copyEnd, index + max(0, maxBody - body.count))
                    if kept > index { body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<kept])) }
                    bodyCount += copyEnd - index
                    index = end
                    continue
                }
            }
            let ch = bytes[index]
            index += 1
            if inHeader {
                if headerPosition < 9 {
                    let deliveredByte = SMTPDStage.deliveredByte(headerPosition)
                    if ch != deliveredByte, ch != deliveredByte &- 32 { maybeDelivered = false }
                    if maybeDelivered, headerPosition == 8 { hops += 1 }
                    if headerPosition < 8 {
                        let receivedByte = SMTPDStage.receivedByte(headerPosition)
                        if ch != receivedByte, ch != receivedByte &- 32 { maybeReceived = false }
                    }
                    if maybeReceived, headerPosition == 7 { hops += 1 }
                    if headerPosition < 2, ch != (headerPosition == 0 ? Bytes.cr : Bytes.lf) { maybeBlank = false }
                    if maybeBlank, headerPosition == 1 { inHeader = false }
                    headerPosition += 1
                }
                if ch == Bytes.lf {
                    headerPosition = 0
                    maybeReceived = true
                    maybeBlank = true
                    maybeDelivered = true
                }
            }
            switch blastState {
            case 0:
                if ch == Bytes.lf { return (index, strayNewline()) }
                if ch == Bytes.cr {
                    blastState = 4
                    continue
                }
            case 1:
                if ch == Bytes.lf { return (index, strayNewline()) }
                if ch == UInt8(ascii: ".") {
                    blastState = 2
                    continue
                }
                if ch == Bytes.cr {
                    blastState = 4
                    continue
                }
                blastState = 0
            case 2:
                if ch == Bytes.lf { return (index, strayNewline()) }
                if ch == Bytes.cr {
                    blastState = 3
                    continue
                }
                blastState = 0
            case 3:
                if ch == Bytes.lf { return (index, endOfMessage(configuration: configuration, now: now)) }
                put(UInt8(ascii: "."))
                put(Bytes.cr)
                if ch == Bytes.cr {
                    blastState = 4
                    continue
                }
                blastState = 0
            default:  // 4: after CR
                if ch == Bytes.lf {
                    blastState = 1
                } else if ch != Bytes.cr {
                    put(Bytes.cr)
                    blastState = 0
                }
            }
            put(ch)
        }
        return (index, nil)
    }

    @inline(__always)
    private mutating func put(_ byte: UInt8) {
        if body.count < maxBody { body.append(byte) }
        bodyCount += 1
    }

    /// "received"[position] (0..<8), lower case; its upper case is 32 less (all letters). A
    /// constant, not a static array: reading a static array in the byte loop costs a
    /// `swift_once` check each time.
    @inline(__always)
    private static func receivedByte(_ position: Int) -> UInt8 {
        // "received", little-endian: byte n is letter n.
        let word: UInt64 = 0x6465_7669_6563_6572
        return UInt8(truncatingIfNeeded: word &>> UInt64(8 * position))
    }

    /// "delivered"[position] (0..<9), lower case; its upper case is 32 less (all letters).
    @inline(__always)
    private static func deliveredByte(_ position: Int) -> UInt8 {
        // "delivere", little-endian, then the final "d".
        let word: UInt64 = 0x6572_6576_696C_6564
        return position < 8 ? UInt8(truncatingIfNeeded: word &>> UInt64(8 * position)) : UInt8(ascii: "d")
    }

    private mutating func strayNewline() -> StepResult {
        mode = .command
        var result = StepResult(reply: Array((replies.strayNewline + "\r\n").utf8))
        result.decision = Decision(.data, .tempfail, reasons: [Fact(.bareLineFeed)])
        result.exitStatus = 1
        return result
    }

    private mutating func endOfMessage(configuration: RelayConfiguration, now: Int64) -> StepResult {
        mode = .command
        let tooManyHops = hops >= 100
        let tooLarge = databytes != 0 && bodyCount > Int(databytes)
        var exitCode: Int? = nil
        var crashed = false
        switch configuration.queue {
        case .accept, .cannotStart: exitCode = 0
        case .exitCode(let code): exitCode = code
        case .crash: crashed = true
        }
        let recipientsText = explains ? SMTPDStage.joined(recipients) : nil
        if !tooManyHops, !tooLarge, !crashed, exitCode == 0 {
            var reply: [UInt8] = []
            reply.reserveCapacity(56)  // "250 ok ", two numbers of up to 20 digits, " qp ", CRLF
            Bytes.append("250 ok ", to: &reply)
            Bytes.appendDecimal(now, to: &reply)
            Bytes.append(" qp ", to: &reply)
            Bytes.appendDecimal(currentQP, to: &reply)
            reply.append(contentsOf: Bytes.crlf)
            let message = QueuedMessage(
                sender: mailFrom, recipients: recipients, receivedParts: receivedLine!, body: body, bodyBytes: bodyCount,
                qp: currentQP,
                acceptedAt: now)
            var result = StepResult(reply: reply)
            result.queued = message
            result.decision = Decision(
                .data, .accept, address: recipientsText,
                reasons: explains ? [Fact(.queued(qp: currentQP)), Fact(.sender(Bytes.text(mailFrom)))] : [])
            return result
        }
        if tooManyHops {
            return StepResult(
                reply: Replies.r554TooManyHopsThisMessage,
                decision: Decision(.data, .refuse, address: recipientsText, reasons: [Fact(.tooManyHops(count: hops))]))
        }
        if tooLarge {
            return StepResult(
                reply: Replies.r552SorryThatMessageSizeExceeds,
                decision: Decision(
                    .data, .refuse, address: recipientsText, reasons: [Fact(.messageTooLarge(bytes: bodyCount, limit: databytes), source: databytesSource)]))
        }
        let text = crashed ? "451 qq crashed (#4.3.0)" : (QueueBehaviour.reply(forExitCode: exitCode ?? 0) ?? "451 qq read error (#4.3.0)")
        let permanent = text.hasPrefix("5")
        return StepResult(
            reply: Array((text + "\r\n").utf8),
            decision: Decision(
                .data, permanent ? .refuse : .tempfail, address: recipientsText,
                reasons: [crashed ? Fact(.note("qmail-queue crashed")) : Fact(.queueFailed(exitCode: exitCode ?? 0))]))
    }

    /// The recipients as one text, for a message's decision.
    private static func joined(_ recipients: [[UInt8]]) -> String {
        var joined: [UInt8] = []
        joined.reserveCapacity(recipients.reduce(0) { $0 + $1.count + 2 })
        for (index, recipient) in recipients.enumerated() {
            if index > 0 { Bytes.append(", ", to: &joined) }
            joined.append(contentsOf: recipient)
        }
        return Bytes.text(joined)
    }

    // MARK: - AUTH (qmail-authentication 0.8.3)

    mutating func auth(_ arg: ArraySlice<UInt8>, configuration: RelayConfiguration, now: Int64) -> StepResult {
        let hasCheckpassword = configuration.auth?.hasCheckpassword ?? false
        if smtpauth == 0 || !hasCheckpassword {
            let reason = smtpauth == 0 ? "SMTPAUTH is unset or \"-\"" : "qmail-smtpd was started without a checkpassword program"
            return StepResult(
                reply: Replies.r503AuthNotAvailable53,
                decision: Decision(.auth, .refuse, reasons: [Fact(.authNotAvailable(reason: reason))]))
        }
        if seenAuth {
            return StepResult(
                reply: Replies.r503YouReAlreadyAuthenticated5,
                decision: Decision(.auth, .refuse, reasons: [Fact(.alreadyAuthenticated)]))
        }
        if seenMail {
            return StepResult(
                reply: Replies.r503NoAuthDuringMailTransaction,
                decision: Decision(.auth, .refuse, reasons: [Fact(.authDuringMail)]))
        }
        let mechanismEnd = arg.firstIndex(of: Bytes.space) ?? arg.endIndex
        let mechanism = arg[arg.startIndex..<mechanismEnd]
        var responseStart = mechanismEnd
        while responseStart < arg.endIndex, arg[responseStart] == Bytes.space { responseStart += 1 }
        let initial = arg[responseStart..<arg.endIndex]
        if Bytes.equalsFolded(mechanism, "login") {
            if initial.isEmpty {
                mode = .authLine(.loginUser)
                return StepResult(reply: Replies.r334Vxnlcm5hbwu6)
            }
            let user = QmailBase64.decode(initial) ?? []
            mode = .authLine(.loginPassword(user: user))
            return StepResult(reply: Replies.r334Ugfzc3dvcmq6)
        }
        if Bytes.equalsFolded(mechanism, "plain") {
            if initial.isEmpty {
                mode = .authLine(.plainResponse)
                return StepResult(reply: Replies.r334)
            }
            return plain(QmailBase64.decode(initial) ?? [], configuration: configuration)
        }
        if Bytes.equalsFolded(mechanism, "cram-md5") {
            var challenge: [UInt8] = [UInt8(ascii: "<")]
            Bytes.appendDecimal(configuration.processIDs.smtpd, to: &challenge)
            challenge.append(UInt8(ascii: "."))
            Bytes.appendDecimal(now, to: &challenge)
            challenge.append(UInt8(ascii: "@"))
            challenge.append(contentsOf: local.utf8)
            challenge.append(UInt8(ascii: ">"))
            mode = .authLine(.cramResponse(challenge: challenge))
            var reply: [UInt8] = []
            Bytes.append("334 ", to: &reply)
            reply.append(contentsOf: QmailBase64.encode(challenge))
            reply.append(contentsOf: Bytes.crlf)
            return StepResult(reply: reply)
        }
        return StepResult(
            reply: Replies.r504AuthTypeUnimplemented55,
            decision: Decision(.auth, .refuse, reasons: [Fact(.unknownMechanism(Bytes.text(mechanism)))]))
    }

    /// A line answering a 334 prompt (authgetl: CR stripped; `*` cancels; empty is malformed).
    mutating func authResponse(
        _ content: ArraySlice<UInt8>, step: AuthStep, configuration: RelayConfiguration, now: Int64
    ) -> StepResult {
        if let first = content.first, first == UInt8(ascii: "*"),
            content.count == 1 || content[content.startIndex + 1] == 0
        {
            return StepResult(
                reply: Replies.r501AuthExchangeCanceled50,
                decision: Decision(.auth, .refuse, reasons: [Fact(.authCanceled)]))
        }
        if content.isEmpty { return malformed() }
        let decoded = QmailBase64.decode(content) ?? []
        switch step {
        case .loginUser:
            mode = .authLine(.loginPassword(user: decoded))
            return StepResult(reply: Replies.r334Ugfzc3dvcmq6)
        case .loginPassword(let user):
            if user.isEmpty || decoded.isEmpty { return malformed() }
            return authenticate(user: user, password: decoded, challenge: nil, configuration: configuration)
        case .plainResponse:
            return plain(decoded, configuration: configuration)
        case .cramResponse(let challenge):
            let response = Bytes.cString(decoded)
            let space = response.lastIndex(of: Bytes.space) ?? response.count
            var digestStart = space
            while digestStart < response.count, response[digestStart] == Bytes.space { digestStart += 1 }
            let user = Array(response[..<space])
            let digest = Array(response[digestStart...])
            if user.isEmpty || digest.isEmpty { return malformed() }
            return authenticate(user: user, password: digest, challenge: challenge, configuration: configuration)
        }
    }

    private mutating func plain(_ response: [UInt8], configuration: RelayConfiguration) -> StepResult {
        // "authzid\0user\0password"; the authzid is ignored.
        let withNul = response + [0]
        let id = withNul.firstIndex(of: 0)!
        var user: [UInt8] = []
        var password: [UInt8] = []
        if withNul.count > id + 1 { user = Bytes.cString(Array(withNul[(id + 1)...])) }
        if withNul.count > id + user.count + 2 { password = Bytes.cString(Array(withNul[(id + user.count + 2)...])) }
        if user.isEmpty || password.isEmpty { return malformed() }
        return authenticate(user: user, password: password, challenge: nil, configuration: configuration)
    }

    private func malformed() -> StepResult {
        StepResult(
            reply: Replies.r501MalformedAuthInput55,
            decision: Decision(.auth, .refuse, reasons: [Fact(.malformedAuthInput)]))
    }

    /// Runs the simulated checkpassword. It reads `user\0password\0` (and, for the CRAM-MD5
    /// builds, `challenge\0`) on descriptor 3, as a real one would.
    private mutating func authenticate(
        user rawUser: [UInt8], password: [UInt8], challenge: [UInt8]?, configuration: RelayConfiguration
    ) -> StepResult {
        var input = rawUser + [0] + password + [0]
        let cramBuild = [2, 3, 12, 13].contains(smtpauth)
        if cramBuild { input += (challenge ?? []) + [0] }
        let fields = input.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        let user = fields[0]
        let secret = fields.count > 1 ? fields[1] : []
        let givenChallenge = cramBuild && fields.count > 2 ? fields[2] : []
        authAttempts += 1
        var reasons: [Fact] = []
        let success: Bool
        switch configuration.auth?.credentials ?? .rejectAll {
        case .recorded(let outcomes):
            success = authAttempts <= outcomes.count ? outcomes[authAttempts - 1] : false
            reasons.append(Fact(.recordedAuthOutcome(attempt: authAttempts, success: success)))
        case .users(let users):
            if let name = String(validating: user, as: UTF8.self), let known = users[name] {
                if !givenChallenge.isEmpty {
                    let expected = MD5.hex(MD5.hmac(key: Array(known.utf8), message: givenChallenge))
                    success = Array(expected.utf8) == secret
                } else {
                    success = Array(known.utf8) == secret
                }
            } else {
                success = false
            }
        case .rejectAll:
            success = false
        }
        let userText = Bytes.text(Bytes.cString(rawUser))
        if success {
            seenAuth = true
            protocolName = "ESMTPA"
            relayClient = []
            relayClientByAuth = true
            relayClientSource = nil
            authUser = Bytes.cString(rawUser)
            remoteInfo = authUser
            remoteInfoFollowsMailAuth = false
            reasons.insert(Fact(.authenticated(user: userText)), at: 0)
            return StepResult(
                reply: Replies.r235OkGoAhead20,
                decision: Decision(.auth, .accept, address: userText, reasons: reasons))
        }
        reasons.insert(Fact(.authFailed(user: userText)), at: 0)
        var result = StepResult(
            reply: Replies.r535AuthenticationFailed571,
            decision: Decision(.auth, .refuse, address: userText, reasons: reasons))
        result.delay = 5
        return result
    }

    // MARK: - Timeout

    func timeoutReply() -> StepResult {
        var result = StepResult(reply: Replies.r451Timeout442)
        result.exitStatus = 1
        return result
    }
}

/// What the chain decided at one point of a session, and the chain of facts that led there.
///
/// "Why was this refused?" is answered by ``reasons``: each ``Fact`` names one thing the real
/// program looked at (a rule, a variable, a control file line, a cdb key), with its source.
public struct Decision: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What was decided about.
    public enum Subject: String, Sendable, Hashable, Codable, CaseIterable {
        /// tcpserver: allow or deny the connection.
        case connection
        /// rblsmtpd: pass the client on to qmail-smtpd, or block it.
        case blocklist
        /// qmail-smtpd's start: greeting, or 421 when the control files cannot be read.
        case greeting
        /// HELO or EHLO.
        case helo
        /// MAIL FROM.
        case mail
        /// RCPT TO.
        case rcpt
        /// DATA and the message that follows it.
        case data
        /// SMTP AUTH.
        case auth
        /// A read timeout.
        case timeout
    }

    /// The outcome.
    public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
        /// Accepted (2xx/3xx). For a recipient: a domain the server hosts (or no domain at all).
        case accept
        /// Refused permanently (5xx).
        case refuse
        /// Refused temporarily (4xx).
        case tempfail
        /// Dropped without a reply (tcpserver deny, rblsmtpd -t expiry).
        case deny
        /// A recipient accepted for a domain *not* in rcpthosts/morercpthosts.cdb: through
        /// RELAYCLIENT, a successful AUTH, or because control/rcpthosts is missing.
        case relay
    }

    /// What was decided about.
    public var subject: Subject
    /// The outcome.
    public var outcome: Outcome
    /// The address as qmail parsed it (MAIL/RCPT), or the AUTH user name.
    public var address: String?
    /// The chain of facts, most important first.
    public var reasons: [Fact]

    /// `rcpt <a@b>: relay: RELAYCLIENT set by rule 10.1. (tcp.smtp:12); …`
    public var description: String {
        var text = subject.rawValue
        if let address { text += " <\(address)>" }
        text += ": \(outcome.rawValue)"
        if !reasons.isEmpty { text += ": " + reasons.map(\.description).joined(separator: "; ") }
        return text
    }
}

extension Decision {
    /// Delegates to the memberwise initializer (one assigning the fields one by one made the
    /// compiler copy and destroy the whole decision at each construction).
    public init(_ subject: Subject, _ outcome: Outcome, address: String? = nil, reasons: [Fact] = []) {
        self.init(subject: subject, outcome: outcome, address: address, reasons: reasons)
    }
}

/// One fact in a decision's explanation, with where it comes from.
public struct Fact: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What the fact is.
    public enum Kind: Sendable, Hashable, Codable {
        // tcpserver
        /// The rule with this key matched (`action` is `allow` or `deny`).
        case ruleMatched(key: String, action: String)
        /// No rule matched: tcpserver allows by default.
        case noRuleMatched(keysTried: [String])
        /// tcpserver runs without `-x`: every connection is allowed.
        case noRules
        /// The `-x` rules cdb does not exist: dropped, or allowed with `-X`.
        case rulesMissing(path: String, allowed: Bool)
        /// The rule set this variable.
        case ruleSetVariable(name: String, value: String)
        /// The variable comes from tcpserver's own environment.
        case inheritedVariable(name: String, value: String)
        /// tcpserver set TCPREMOTEHOST from the PTR answer.
        case remoteHost(name: String)
        /// TCPREMOTEHOST is unset (no PTR answer, or -p found it does not resolve back, or -H).
        case noRemoteHost(reason: String)
        /// tcpserver's decision in its own words (e.g. "rules file missing").
        case tcpserverNote(String)

        // rblsmtpd
        /// RBLSMTPD is set to this value (where it was set is in the fact's source).
        case rblsmtpdVariable(value: String)
        /// RBLSMTPD is unset and no -r zone lists the client.
        case notListed(zones: [String])
        /// `-r zone` lists the client with this TXT text.
        case listed(zone: String, text: String)
        /// `-a zone` anti-lists the client (A record): never blocked.
        case antiListed(zone: String)
        /// A lookup in this zone failed temporarily.
        case lookupFailed(zone: String)
        /// rblsmtpd's `-t` limit ran out.
        case rblsmtpdTimeLimit(seconds: Int)

        // qmail-smtpd setup
        /// A control file cannot be read: 421.
        case controlUnreadable(file: String)
        /// Neither control/me nor control/smtpgreeting exists: 421.
        case controlsMissing
        /// morercpthosts.cdb is damaged: the lookup fails, 421.
        case morercpthostsDamaged(reason: String)

        // MAIL / RCPT
        /// RELAYCLIENT is set (to this value); where it was set is in the fact's source.
        case relayClient(value: String)
        /// RELAYCLIENT's value was appended to the stored recipient.
        case relayClientAppended(suffix: String, stored: String)
        /// The client authenticated (SMTP AUTH) as this user.
        case authenticated(user: String)
        /// control/rcpthosts does not exist: every recipient is accepted.
        case rcpthostsMissing
        /// This rcpthosts entry matched the recipient's domain (or a suffix of it).
        case rcpthostsEntry(entry: String)
        /// This morercpthosts.cdb key matched.
        case morercpthostsKey(key: String)
        /// The recipient has no `@`, so qmail-smtpd always accepts it.
        case noDomain
        /// Neither rcpthosts nor morercpthosts.cdb has the (lower-cased) domain, nor any of its
        /// suffixes starting at a dot (``Fact/rcpthostsKeys(for:)`` lists the keys looked up).
        case notInRcpthosts(domain: String)
        /// The sender matched this badmailfrom entry.
        case badmailfrom(entry: String)
        /// A domain literal of one of the server's addresses was replaced by localiphost.
        case domainLiteral(literal: String, replacement: String)
        /// The parsed address is 900 characters or more.
        case addressTooLong(length: Int)
        /// No MAIL since the last HELO/EHLO/RSET/DATA.
        case noMailTransaction
        /// DATA without an accepted recipient.
        case noRecipients
        /// SMTPAUTH requires authentication before MAIL.
        case authenticationRequired
        /// MAIL's SIZE= parameter is above databytes (AUTH build).
        case declaredSizeTooLarge(size: UInt64, limit: UInt32)
        /// The sender as stored.
        case sender(String)

        // DATA
        /// The message was handed to qmail-queue (qp number).
        case queued(qp: Int)
        /// The body is over databytes (counted after CRLF→LF and unstuffing).
        case messageTooLarge(bytes: Int, limit: UInt32)
        /// The header has this many Received:/Delivered-To: lines (100 or more refuse).
        case tooManyHops(count: Int)
        /// A LF without CR inside DATA: 451 and hang-up.
        case bareLineFeed
        /// qmail-queue exited with this code (the reply text comes from it).
        case queueFailed(exitCode: Int)
        /// qmail-queue could not be started.
        case queueNotStarted

        // AUTH
        /// AUTH is not available (SMTPAUTH unset or `-`, or no checkpassword program).
        case authNotAvailable(reason: String)
        /// The mechanism is not one of LOGIN, PLAIN, CRAM-MD5.
        case unknownMechanism(String)
        /// The client sent `*`.
        case authCanceled
        /// The response is empty or lacks a user name or password.
        case malformedAuthInput
        /// checkpassword refused these credentials.
        case authFailed(user: String)
        /// Already authenticated.
        case alreadyAuthenticated
        /// AUTH after MAIL.
        case authDuringMail
        /// The outcome was taken from a recorded session (index of the AUTH attempt).
        case recordedAuthOutcome(attempt: Int, success: Bool)
        /// `AUTH=` on MAIL set TCPREMOTEINFO.
        case mailAuthParameter(value: String)

        /// Idle longer than the limit.
        case idleTimeout(seconds: Int)
        /// The client's line was longer than the simulation keeps (``RelayLimits``), and the part
        /// not kept could change the answer.
        case lineNotKept(length: Int, kept: Int)
        /// Anything else.
        case note(String)
    }

    /// What the fact is.
    public var kind: Kind
    /// Where it comes from (file and line, cdb, environment).
    public var source: SourceLocation?

    public init(_ kind: Kind, source: SourceLocation? = nil) {
        self.kind = kind
        self.source = source
    }

    /// The fact in words, with its source in parentheses.
    public var description: String {
        if let source { return "\(text) (\(source))" }
        return text
    }

    /// The keys qmail-smtpd looks up in rcpthosts and morercpthosts.cdb for a lower-cased
    /// domain: the domain, then every suffix starting at a dot (`a.b.c`, `.b.c`, `.c`).
    public static func rcpthostsKeys(for domain: String) -> [String] {
        let bytes = Array(domain.utf8)
        return bytes.indices.filter { $0 == 0 || bytes[$0] == UInt8(ascii: ".") }.map {
            String(decoding: bytes[$0...], as: UTF8.self)
        }
    }

    /// The fact in words, without its source.
    public var text: String {
        switch kind {
        case .ruleMatched(let key, let action):
            if key.isEmpty { return "catch-all rule \":\" (empty key) matched: \(action)" }
            return "rule \"\(key)\" matched: \(action)"
        case .noRuleMatched(let keys):
            return keys.isEmpty ? "no rule matched: allowed by default" : "no rule matched (tried \(keys.map { "\"\($0)\"" }.joined(separator: ", "))): allowed by default"
        case .noRules: return "tcpserver has no rules (-x): every client is allowed"
        case .rulesMissing(let path, let allowed):
            return allowed ? "rules file \(path) is missing; allowed because of -X" : "rules file \(path) is missing: tcpserver drops the connection"
        case .ruleSetVariable(let name, let value): return "rule sets \(name)=\"\(value)\""
        case .inheritedVariable(let name, let value): return "\(name)=\"\(value)\" inherited from tcpserver's environment"
        case .remoteHost(let name): return "TCPREMOTEHOST=\(name)"
        case .noRemoteHost(let reason): return "TCPREMOTEHOST unset: \(reason)"
        case .tcpserverNote(let text): return text
        case .rblsmtpdVariable(let value):
            if value.isEmpty { return "RBLSMTPD is set and empty: rblsmtpd does not block" }
            if value.hasPrefix("-") { return "RBLSMTPD=\"\(value)\": permanent refusal (553)" }
            return "RBLSMTPD=\"\(value)\": temporary refusal (451)"
        case .notListed(let zones):
            return zones.isEmpty ? "RBLSMTPD is unset and no -r zone is configured" : "RBLSMTPD is unset and no zone lists the client (\(zones.joined(separator: ", ")))"
        case .listed(let zone, let text): return "listed in \(zone): \"\(text)\""
        case .antiListed(let zone): return "anti-listed in \(zone) (A record): never blocked"
        case .lookupFailed(let zone): return "lookup in \(zone) failed temporarily"
        case .rblsmtpdTimeLimit(let seconds): return "rblsmtpd's \(seconds)-second limit ran out: dropped silently"
        case .controlUnreadable(let file): return "control/\(file) cannot be read: 421"
        case .controlsMissing: return "neither control/me nor control/smtpgreeting exists: 421"
        case .morercpthostsDamaged(let reason): return "morercpthosts.cdb lookup failed (\(reason)): 421"
        case .relayClient(let value): return "RELAYCLIENT is set (\"\(value)\")"
        case .relayClientAppended(let suffix, let stored): return "RELAYCLIENT value \"\(suffix)\" appended: stored as \"\(stored)\""
        case .authenticated(let user): return "authenticated as \(user)"
        case .rcpthostsMissing: return "open relay: control/rcpthosts is missing"
        case .rcpthostsEntry(let entry): return "rcpthosts entry \(entry)"
        case .morercpthostsKey(let key): return "morercpthosts.cdb key \(key)"
        case .noDomain: return "address without @: always accepted"
        case .notInRcpthosts(let domain):
            let tried = Fact.rcpthostsKeys(for: domain).map { "\"\($0)\"" }.joined(separator: ", ")
            return "domain \"\(domain)\" is not in rcpthosts or morercpthosts.cdb (looked up \(tried))"
        case .badmailfrom(let entry): return "badmailfrom entry \(entry)"
        case .domainLiteral(let literal, let replacement): return "domain literal \(literal) is one of my addresses: replaced by \(replacement)"
        case .addressTooLong(let length): return "address is \(length) characters long (limit 899)"
        case .noMailTransaction: return "no MAIL since HELO/EHLO/RSET or the last DATA"
        case .noRecipients: return "no recipient was accepted"
        case .authenticationRequired: return "SMTPAUTH requires authentication before MAIL"
        case .declaredSizeTooLarge(let size, let limit): return "SIZE=\(size) is above databytes \(limit)"
        case .sender(let sender): return "sender \"\(sender)\""
        case .queued(let qp): return "queued (qmail-queue pid \(qp))"
        case .messageTooLarge(let bytes, let limit): return "message has \(bytes) bytes, databytes is \(limit)"
        case .tooManyHops(let count): return "\(count) Received:/Delivered-To: header lines (limit 99)"
        case .bareLineFeed: return "LF without CR inside DATA"
        case .queueFailed(let code): return "qmail-queue exited with \(code)"
        case .queueNotStarted: return "qmail-queue could not be started"
        case .authNotAvailable(let reason): return "AUTH not available: \(reason)"
        case .unknownMechanism(let name): return "unknown AUTH mechanism \"\(name)\""
        case .authCanceled: return "client canceled the AUTH exchange with *"
        case .malformedAuthInput: return "empty or incomplete AUTH response"
        case .authFailed(let user): return "checkpassword refused user \"\(user)\""
        case .alreadyAuthenticated: return "already authenticated"
        case .authDuringMail: return "AUTH inside a mail transaction"
        case .recordedAuthOutcome(let attempt, let success):
            return "AUTH attempt \(attempt) taken as recorded: \(success ? "success" : "failure")"
        case .mailAuthParameter(let value): return "MAIL AUTH= parameter sets TCPREMOTEINFO=\(value)"
        case .idleTimeout(let seconds): return "no input for \(seconds) seconds"
        case .lineNotKept(let length, let kept):
            return "the line has \(length) bytes and only the first \(kept) were kept (line length limit): the real server may answer differently"
        case .note(let text): return text
        }
    }
}

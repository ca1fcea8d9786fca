/// Something about a configuration that the real programs would silently live with, but that an
/// administrator needs to know: an open relay, a file qmail cannot read, a stale cdb.
public struct ConfigurationWarning: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The kind of problem (stable identifiers, usable in JSON reports).
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// control/rcpthosts does not exist: qmail-smtpd accepts every recipient (open relay).
        case rcpthostsMissing = "rcpthosts-missing"
        /// A control file exists but cannot be read: every connection gets 421.
        case controlUnreadable = "control-unreadable"
        /// Neither control/me nor control/smtpgreeting exists: every connection gets 421.
        case controlsMissing = "controls-missing"
        /// control/morercpthosts exists but morercpthosts.cdb does not (qmail-newmrh never ran).
        case morercpthostsWithoutCDB = "morercpthosts-without-cdb"
        /// control/morercpthosts lists domains that morercpthosts.cdb does not have.
        case morercpthostsOutOfDate = "morercpthosts-out-of-date"
        /// morercpthosts.cdb is damaged: a recipient lookup that reaches it gets 421.
        case morercpthostsDamaged = "morercpthosts-damaged"
        /// morercpthosts.cdb has keys with upper-case letters, which qmail-smtpd never looks up.
        case morercpthostsUppercaseKey = "morercpthosts-uppercase-key"
        /// morercpthosts.cdb is ignored because control/rcpthosts is missing.
        case morercpthostsIgnored = "morercpthosts-ignored"
        /// A control line ends in a carriage return (a CRLF file): qmail keeps the CR.
        case carriageReturn = "carriage-return"
        /// An rcpthosts entry such as `*` or `*.example.com` that looks like a wildcard but is not one.
        case wildcardEntry = "wildcard-entry"
        /// An entry containing a space or tab, which no real address can match.
        case whitespaceInEntry = "whitespace-in-entry"
        /// A numeric control file (databytes, timeoutsmtpd) that qmail cannot read as a number.
        case notANumber = "not-a-number"
        /// The tcpserver rules file (cdb) is missing: tcpserver drops every connection (unless -X).
        case rulesMissing = "rules-missing"
        /// Something else worth knowing.
        case other
    }

    /// The kind of problem.
    public var kind: Kind
    /// One line for the administrator.
    public var message: String
    /// The file (and line) concerned.
    public var source: SourceLocation?

    public init(_ kind: Kind, _ message: String, source: SourceLocation? = nil) {
        self.kind = kind
        self.message = message
        self.source = source
    }

    /// `file:line: warning: message`.
    public var description: String {
        if let source { return "\(source): warning: \(message)" }
        return "warning: \(message)"
    }
}

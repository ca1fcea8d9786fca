public import CDB
import TCPRules

/// The cdb lookups one session made, per database: tcpserver's rules (one lookup per key it
/// tries) and control/morercpthosts.cdb (one lookup per domain suffix qmail-smtpd tries).
///
/// The session counts them itself, in values it owns (no locks, no shared state), and times one
/// lookup in N when it was started with a ``CDBLookupRecorder/Sampling``. Whoever runs many
/// sessions adds their lookups up afterwards.
///
/// relaylab also looks rcpthosts and morercpthosts.cdb up for a client with RELAYCLIENT (which
/// qmail-smtpd does not), only to tell "accept" from "relay"; those lookups are counted too.
public struct SessionLookups: Sendable, Hashable {
    /// tcpserver's rules database (`-x`).
    public var rules: CDBLookupRecorder
    /// control/morercpthosts.cdb.
    public var moreRcptHosts: CDBLookupRecorder
    /// The rules file (the cdb, or the source compiled in memory); nil when tcpserver has none
    /// it can read.
    public var rulesPath: String?
    /// Whether rules lookups go through relaylab's in-memory index (its slots are the probes).
    public var rulesIndexed: Bool
    /// The morercpthosts.cdb file; nil when there is no readable one.
    public var moreRcptHostsPath: String?

    public init(
        rules: CDBLookupRecorder = CDBLookupRecorder(), moreRcptHosts: CDBLookupRecorder = CDBLookupRecorder(),
        rulesPath: String? = nil, rulesIndexed: Bool = false, moreRcptHostsPath: String? = nil
    ) {
        self.rules = rules
        self.moreRcptHosts = moreRcptHosts
        self.rulesPath = rulesPath
        self.rulesIndexed = rulesIndexed
        self.moreRcptHostsPath = moreRcptHostsPath
    }

    /// The databases of `configuration`, with no lookups yet.
    public init(configuration: RelayConfiguration) {
        self = configuration.noLookups
    }

    /// The databases of these rules and control files, with no lookups yet.
    init(rules: RulesDatabase?, control: QmailControl) {
        self.init()
        if let rules, rules.cdb != nil {
            rulesPath = rules.path
            rulesIndexed = rules.isIndexed
        }
        if case .database = control.morercpthosts {
            moreRcptHostsPath = control.origin(of: "morercpthosts.cdb")
        }
    }

    /// Adds the lookups of another session against the same databases.
    public mutating func add(_ other: SessionLookups) {
        rules.add(other.rules)
        moreRcptHosts.add(other.moreRcptHosts)
        if rulesPath == nil {
            rulesPath = other.rulesPath
            rulesIndexed = other.rulesIndexed
        }
        if moreRcptHostsPath == nil { moreRcptHostsPath = other.moreRcptHostsPath }
    }
}

extension RelaySession {
    /// The cdb lookups this session has made so far.
    public var lookups: SessionLookups {
        var lookups = configuration.noLookups
        lookups.rules = rulesLookups
        if let smtpd { lookups.moreRcptHosts = smtpd.moreRcptHostsLookups }
        return lookups
    }
}

public import Capture
import RelayEngine

/// The counts and groups of a whole replay, built one connection at a time in bounded memory:
/// every count is exact; the examples kept for the report are capped (``Limits``).
///
/// Accounting: `connections == compared + unobservableConnections + skipped`, and for the client
/// steps `steps == counts.compared + counts.unobservable + counts.notReplayed`.
public struct ReplaySummary: Sendable {
    /// How many examples and distinct clients are kept for the report.
    public struct Limits: Sendable, Hashable {
        /// Clients kept with their own group (later ones are only counted).
        public var clientGroups: Int
        /// Domains kept with their own group.
        public var domainGroups: Int
        /// Connections shown in full per client.
        public var examplesPerClient: Int
        /// Differences shown per domain.
        public var examplesPerDomain: Int
        /// Distinct clients counted exactly per kind of change (beyond: "more than").
        public var distinctClients: Int

        public init(
            clientGroups: Int = 2_000, domainGroups: Int = 2_000, examplesPerClient: Int = 3, examplesPerDomain: Int = 3,
            distinctClients: Int = 50_000
        ) {
            self.clientGroups = clientGroups
            self.domainGroups = domainGroups
            self.examplesPerClient = examplesPerClient
            self.examplesPerDomain = examplesPerDomain
            self.distinctClients = distinctClients
        }
    }

    /// A count of changes of one kind, and which clients they concern.
    public struct Tally: Sendable, Hashable {
        /// Changes (recipients, or connections for connection changes).
        public var count = 0
        /// Connections with at least one such change.
        public var connections = 0
        /// Distinct client addresses (capped at ``Limits/distinctClients``).
        public var clients: Set<String> = []
        /// More distinct clients than the cap.
        public var clientsOverflow = false

        public init() {}
    }

    /// The differences of one client.
    public struct ClientGroup: Sendable {
        public var ip: String
        public var name: String?
        /// Connections of this client with a difference or divergence.
        public var connections = 0
        public var differences = 0
        public var changes: [ReplayChange: Int] = [:]
        /// The first connections, in full.
        public var examples: [ReplayedConnection] = []
    }

    /// The recipient changes for one domain.
    public struct DomainGroup: Sendable {
        public var domain: String
        public var changes: [ReplayChange: Int] = [:]
        public var total = 0
        /// Distinct clients (capped at ``clientCap``).
        public var clients: Set<String> = []
        /// More distinct clients than the cap.
        public var clientsOverflow = false
        public var clientCount: Int { clients.count }
        /// Distinct clients counted per domain.
        public static let clientCap = 100
        /// The first differences, with the connection they belong to.
        public var examples: [(connection: Int, client: String, difference: ReplayDifference)] = []
    }

    public var limits: Limits

    /// Connections seen, and what became of them.
    public var connections = 0
    public var compared = 0
    public var unobservableConnections = 0
    public var skipped = 0
    /// Why connections were skipped / unobservable, with counts.
    public var skippedReasons: [String: Int] = [:]
    public var unobservableReasons: [String: Int] = [:]
    /// Step counts over all connections.
    public var counts = ReplayCounts()
    /// Connections with a difference, and with a divergence.
    public var connectionsWithDifferences = 0
    public var connectionsDiverged = 0
    /// Changes by kind.
    public var changes: [ReplayChange: Tally] = [:]
    /// Other reply differences by what they answered (`greeting`, `MAIL`, `DATA`, `message`, …).
    public var otherDifferences: [String: Int] = [:]
    /// Groups (capped; see ``limits``).
    public var clients: [String: ClientGroup] = [:]
    public var domains: [String: DomainGroup] = [:]
    /// Clients and domains with a change beyond the caps.
    public var clientsNotGrouped = 0
    public var domainsNotGrouped = 0
    /// The capture's own summary (packets, bytes, damage), once the input is read.
    public var capture: CaptureSummary?

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The number of differences (differing replies plus differing connection decisions).
    public var differences: Int { counts.differences }

    /// 1 when something differs, else 0 (input errors, 2, are the caller's).
    public var exitStatus: Int32 { differences > 0 ? 1 : 0 }

    /// Adds one replayed connection.
    public mutating func add(_ connection: ReplayedConnection) {
        connections += 1
        switch connection.disposition {
        case .compared: compared += 1
        case .unobservable(let reason):
            unobservableConnections += 1
            unobservableReasons[reason, default: 0] += 1
        case .skipped(let reason):
            skipped += 1
            skippedReasons[reason, default: 0] += 1
        }
        counts += connection.counts
        if !connection.divergences.isEmpty { connectionsDiverged += 1 }
        guard connection.isNotable else { return }
        if connection.hasDifferences { connectionsWithDifferences += 1 }
        let ip = connection.client.ip
        var seenKinds: Set<ReplayChange> = []
        for difference in connection.differences {
            let change = difference.change
            var tally = changes[change] ?? Tally()
            tally.count += 1
            if seenKinds.insert(change).inserted {
                tally.connections += 1
            }
            if !tally.clients.contains(ip) {
                if tally.clients.count < limits.distinctClients { tally.clients.insert(ip) } else { tally.clientsOverflow = true }
            }
            changes[change] = tally
            if change == .reply { otherDifferences[ReplaySummary.label(of: difference), default: 0] += 1 }
            if change.isRecipient { addDomain(difference, connection: connection) }
        }
        addClient(connection)
    }

    /// What an "other" difference answered: `greeting`, the command's verb, `message`, `AUTH response`.
    static func label(of difference: ReplayDifference) -> String {
        if difference.step == nil { return difference.subject }
        let subject = difference.subject
        if subject.hasPrefix("<message") { return "message" }
        if subject.hasPrefix("<auth") { return "AUTH response" }
        let verb = subject.prefix { $0 != " " }.uppercased()
        return verb.isEmpty ? "(empty line)" : verb
    }

    private mutating func addClient(_ connection: ReplayedConnection) {
        let ip = connection.client.ip
        if clients[ip] == nil {
            guard clients.count < limits.clientGroups else {
                clientsNotGrouped += 1
                return
            }
            clients[ip] = ClientGroup(ip: ip, name: connection.clientName)
        }
        clients[ip]!.connections += 1
        clients[ip]!.differences += connection.differences.count
        for difference in connection.differences { clients[ip]!.changes[difference.change, default: 0] += 1 }
        if clients[ip]!.examples.count < limits.examplesPerClient { clients[ip]!.examples.append(connection) }
    }

    private mutating func addDomain(_ difference: ReplayDifference, connection: ReplayedConnection) {
        let domain = difference.domain ?? "(no domain)"
        if domains[domain] == nil {
            guard domains.count < limits.domainGroups else {
                domainsNotGrouped += 1
                return
            }
            domains[domain] = DomainGroup(domain: domain)
        }
        domains[domain]!.changes[difference.change, default: 0] += 1
        domains[domain]!.total += 1
        if !domains[domain]!.clients.contains(connection.client.ip) {
            if domains[domain]!.clients.count < DomainGroup.clientCap {
                domains[domain]!.clients.insert(connection.client.ip)
            } else {
                domains[domain]!.clientsOverflow = true
            }
        }
        if domains[domain]!.examples.count < limits.examplesPerDomain {
            domains[domain]!.examples.append((connection.index, connection.client.ip, difference))
        }
    }

    /// Distinct clients with a change of this kind (a lower bound when ``Tally/clientsOverflow``).
    public func clientCount(_ change: ReplayChange) -> Int { changes[change]?.clients.count ?? 0 }
}

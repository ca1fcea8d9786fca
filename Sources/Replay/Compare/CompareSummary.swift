public import Capture
import TCPRules

/// The counts and groups of a whole comparison, built one connection at a time in bounded
/// memory: every count is exact; groups and the examples kept for the report are capped.
public struct CompareSummary: Sendable {
    /// How many groups and examples are kept.
    public struct Limits: Sendable, Hashable {
        /// Groups of each kind (later ones are only counted).
        public var groups: Int
        /// Examples per group.
        public var examplesPerGroup: Int
        /// Distinct clients counted exactly per kind of change.
        public var distinctClients: Int

        public init(groups: Int = 1_000, examplesPerGroup: Int = 3, distinctClients: Int = 200_000) {
            self.groups = groups
            self.examplesPerGroup = examplesPerGroup
            self.distinctClients = distinctClients
        }
    }

    /// A count of changes of one kind and the clients concerned.
    public struct Tally: Sendable, Hashable {
        /// Differences.
        public var count = 0
        /// Connections with at least one.
        public var connections = 0
        /// Distinct client addresses (capped).
        public var clients: Set<String> = []
        public var clientsOverflow = false

        public init() {}
    }

    /// The differences sharing one key (a client prefix, a recipient domain, a cause).
    public struct Group: Sendable {
        public var key: String
        public var differences = 0
        public var connections = 0
        public var changes: [CompareChange: Int] = [:]
        /// Distinct clients (capped at 1000).
        public var clients: Set<String> = []
        /// The first connections (prefix groups) in full.
        public var connectionExamples: [ComparedConnection] = []
        /// The first differences, with the connection's name and client.
        public var differenceExamples: [(connection: String, client: String, difference: CompareDifference)] = []
        /// The last connection counted (to count connections, not differences).
        var lastConnection: Int = -1

        init(key: String) { self.key = key }
    }

    public var limits: Limits

    /// Connections seen, and what became of them.
    public var connections = 0
    public var compared = 0
    public var skipped = 0
    public var skippedReasons: [String: Int] = [:]
    /// Compared connections where nothing differs / something differs.
    public var identical = 0
    public var differing = 0
    /// Client steps sent to both sides; RCPT commands among them.
    public var stepsCompared = 0
    public var rcptCompared = 0
    /// All differences, and by kind.
    public var differences = 0
    public var changes: [CompareChange: Tally] = [:]
    /// Other reply differences by what they answered (`greeting`, `MAIL`, `DATA`, …).
    public var otherReplies: [String: Int] = [:]
    /// Connections where the two sessions took different paths.
    public var connectionsWithNotes = 0
    /// Groups (capped; see ``limits``).
    public var byPrefix: [String: Group] = [:]
    public var byDomain: [String: Group] = [:]
    public var byCause: [String: Group] = [:]
    public var groupsNotKept = 0
    /// The capture layer's summary, when captures were read.
    public var capture: CaptureSummary?

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// 1 when anything differs, else 0 (input errors, 2, are the caller's).
    public var exitStatus: Int32 { differences > 0 ? 1 : 0 }

    /// Adds one compared connection.
    public mutating func add(_ connection: ComparedConnection) {
        let number = connections
        connections += 1
        if let reason = connection.skipped {
            skipped += 1
            skippedReasons[reason, default: 0] += 1
            return
        }
        compared += 1
        stepsCompared += connection.stepsCompared
        rcptCompared += connection.rcptCompared
        if !connection.notes.isEmpty { connectionsWithNotes += 1 }
        guard connection.hasDifferences else {
            identical += 1
            return
        }
        differing += 1
        differences += connection.differences.count
        let ip = connection.client.ip
        var kinds: Set<CompareChange> = []
        for difference in connection.differences {
            var tally = changes[difference.change] ?? Tally()
            tally.count += 1
            if kinds.insert(difference.change).inserted { tally.connections += 1 }
            if !tally.clients.contains(ip) {
                if tally.clients.count < limits.distinctClients { tally.clients.insert(ip) } else { tally.clientsOverflow = true }
            }
            changes[difference.change] = tally
            if difference.change == .reply { otherReplies[CompareSummary.label(of: difference), default: 0] += 1 }
            if difference.change.isRecipient {
                add(difference, connection: connection, number: number, to: \.byDomain, key: difference.domain ?? "(no domain)")
            }
            add(difference, connection: connection, number: number, to: \.byCause, key: difference.causeKey)
        }
        let prefix = CompareSummary.prefix(of: ip)
        if byPrefix[prefix] == nil {
            guard byPrefix.count < limits.groups else {
                groupsNotKept += 1
                return
            }
            byPrefix[prefix] = Group(key: prefix)
        }
        byPrefix[prefix]!.connections += 1
        byPrefix[prefix]!.differences += connection.differences.count
        if byPrefix[prefix]!.clients.count < 1_000 { byPrefix[prefix]!.clients.insert(ip) }
        for difference in connection.differences { byPrefix[prefix]!.changes[difference.change, default: 0] += 1 }
        if byPrefix[prefix]!.connectionExamples.count < limits.examplesPerGroup {
            byPrefix[prefix]!.connectionExamples.append(connection)
        }
    }

    private mutating func add(
        _ difference: CompareDifference, connection: ComparedConnection, number: Int,
        to groups: WritableKeyPath<CompareSummary, [String: Group]>, key: String
    ) {
        if self[keyPath: groups][key] == nil {
            guard self[keyPath: groups].count < limits.groups else {
                groupsNotKept += 1
                return
            }
            self[keyPath: groups][key] = Group(key: key)
        }
        var group = self[keyPath: groups][key]!
        group.differences += 1
        if group.lastConnection != number {
            group.connections += 1
            group.lastConnection = number
        }
        group.changes[difference.change, default: 0] += 1
        if group.clients.count < 1_000 { group.clients.insert(connection.client.ip) }
        if group.differenceExamples.count < limits.examplesPerGroup {
            group.differenceExamples.append((connection.name, connection.client.ip, difference))
        }
        self[keyPath: groups][key] = group
    }

    /// The client's network: `10.1.2.0/24` for IPv4, the first 64 bits for IPv6.
    public static func prefix(of ip: String) -> String {
        guard let address = IPAddress(ip) else { return ip }
        if let v4 = address.ipv4Bytes {
            return "\(v4[0]).\(v4[1]).\(v4[2]).0/24"
        }
        let bytes = address.ipv6Bytes
        var groups: [String] = []
        for index in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }

    /// What an "other reply" difference answered: `greeting`, the verb, `message`, `AUTH response`.
    static func label(of difference: CompareDifference) -> String {
        if difference.step == nil { return difference.subject }
        let subject = difference.subject
        if subject.hasPrefix("<message") { return "message" }
        if subject.hasPrefix("<AUTH") || subject.hasPrefix("<auth") { return "AUTH response" }
        if subject.hasPrefix("(idle") { return "timeout" }
        let verb = subject.prefix { $0 != " " }.uppercased()
        return verb.isEmpty ? "(empty line)" : verb
    }

    /// Distinct clients with a change of this kind.
    public func clientCount(_ change: CompareChange) -> Int { changes[change]?.clients.count ?? 0 }
}

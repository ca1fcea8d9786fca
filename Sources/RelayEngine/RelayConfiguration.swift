public import TCPRules

/// Everything about the server side of the chain, as one immutable-by-default value: control
/// files (loaded once), rules, options, the variant, and the deterministic clock and process
/// numbers used in `250 ok <time> qp <n>` replies and CRAM-MD5 challenges.
///
/// Configurations are plain values: two of them (say, today's and tomorrow's) can be simulated
/// side by side in one process.
public struct RelayConfiguration: Sendable {
    /// The settings, in one immutable box: a configuration is copied into every session, and a
    /// copy costs one reference count. Setting a property builds a new box.
    struct Values: Sendable {
        var control: QmailControl
        var variant: QmailVariant
        var auth: AuthOptions?
        var rblsmtpd: RBLSMTPDOptions?
        var ipme: [String]
        var environment: [String: String]
        var clock: Int64
        var processIDs: ProcessNumbering
        var queue: QueueBehaviour
        var rules: RulesDatabase?
        var tcpserver: TCPServerOptions
        var ipmeAddresses: Set<UInt32>
        var limits: RelayLimits
    }

    final class Box: Sendable {
        let values: Values
        /// The databases' paths, with no lookups: every session's ``RelaySession/lookups`` starts so.
        let noLookups: SessionLookups
        init(_ values: Values) {
            self.values = values
            noLookups = SessionLookups(rules: values.rules, control: values.control)
        }
    }

    private var box: Box

    private mutating func update(_ change: (inout Values) -> Void) {
        var values = box.values
        change(&values)
        box = Box(values)
    }

    /// qmail's control directory.
    public var control: QmailControl {
        get { box.values.control }
        set { update { $0.control = newValue } }
    }
    /// Which qmail-smtpd build.
    public var variant: QmailVariant {
        get { box.values.variant }
        set { update { $0.variant = newValue } }
    }
    /// The SMTP AUTH patch (nil: a build without it).
    public var auth: AuthOptions? {
        get { box.values.auth }
        set { update { $0.auth = newValue } }
    }
    /// rblsmtpd between tcpserver and qmail-smtpd (nil: not in the chain).
    public var rblsmtpd: RBLSMTPDOptions? {
        get { box.values.rblsmtpd }
        set { update { $0.rblsmtpd = newValue } }
    }
    /// The server's own addresses (qmail's ipme), for domain literals; 0.0.0.0 always counts.
    public var ipme: [String] {
        get { box.values.ipme }
        set {
            update {
                $0.ipme = newValue
                $0.ipmeAddresses = RelayConfiguration.parseAddresses(newValue)
            }
        }
    }
    /// tcpserver's own environment, inherited by every child (e.g. `SMTPAUTH`, `RELAYCLIENT`,
    /// `DATABYTES`); rule variables and tcpserver's TCP* variables are set on top of it.
    public var environment: [String: String] {
        get { box.values.environment }
        set { update { $0.environment = newValue } }
    }
    /// Unix time at the start of every connection; advanced by ``RelaySession/idle(seconds:)``
    /// and by AUTH's 5-second failure pause.
    public var clock: Int64 {
        get { box.values.clock }
        set { update { $0.clock = newValue } }
    }
    /// Process numbers: qmail-smtpd's pid (CRAM-MD5 challenge) and qmail-queue's (the `qp`).
    public var processIDs: ProcessNumbering {
        get { box.values.processIDs }
        set { update { $0.processIDs = newValue } }
    }
    /// What qmail-queue does with accepted messages.
    public var queue: QueueBehaviour {
        get { box.values.queue }
        set { update { $0.queue = newValue } }
    }
    /// tcpserver's `-x` rules; nil when tcpserver runs without `-x` (every client allowed). A
    /// missing or unreadable file is ``RulesDatabase/missing(path:)`` / ``RulesDatabase/unreadable(path:failure:)``.
    public var rules: RulesDatabase? {
        get { box.values.rules }
        set { update { $0.rules = newValue } }
    }
    /// tcpserver's options (`-h`/`-H`, `-p`, `-r`/`-R`, `-l`, `-X`).
    public var tcpserver: TCPServerOptions {
        get { box.values.tcpserver }
        set { update { $0.tcpserver = newValue } }
    }

    /// How many client bytes the simulation keeps per line and per message.
    public var limits: RelayLimits {
        get { box.values.limits }
        set { update { $0.limits = newValue } }
    }

    /// The databases of this configuration, with no lookups yet.
    var noLookups: SessionLookups { box.noLookups }

    /// ipme as 32-bit addresses, 0.0.0.0 included.
    var ipmeAddresses: Set<UInt32> { box.values.ipmeAddresses }

    /// - Parameters:
    ///   - control: the control directory.
    ///   - variant: the qmail-smtpd build (default netqmail-1.06).
    ///   - auth: the AUTH patch, or nil.
    ///   - rblsmtpd: rblsmtpd's options, or nil when it is not in the chain.
    ///   - ipme: the server's own addresses (dotted quads; 0.0.0.0 is always added).
    ///   - environment: tcpserver's inherited environment.
    ///   - clock: unix time at connect (default 1795561493, 24 Nov 2026 23:04:53 UTC).
    ///   - processIDs: pid numbering.
    ///   - queue: qmail-queue's behaviour.
    ///   - rules: tcpserver's `-x` rules, or nil for none.
    ///   - tcpserver: tcpserver's options.
    ///   - limits: client bytes kept per line and per message.
    public init(
        control: QmailControl, variant: QmailVariant = .netqmail, auth: AuthOptions? = nil,
        rblsmtpd: RBLSMTPDOptions? = nil, ipme: [String] = [], environment: [String: String] = [:],
        clock: Int64 = 1_795_561_493, processIDs: ProcessNumbering = ProcessNumbering(),
        queue: QueueBehaviour = .accept, rules: RulesDatabase? = nil,
        tcpserver: TCPServerOptions = TCPServerOptions(), limits: RelayLimits = RelayLimits()
    ) {
        box = Box(
            Values(
                control: control, variant: variant, auth: auth, rblsmtpd: rblsmtpd, ipme: ipme,
                environment: environment, clock: clock, processIDs: processIDs, queue: queue, rules: rules,
                tcpserver: tcpserver, ipmeAddresses: RelayConfiguration.parseAddresses(ipme), limits: limits))
    }

    /// Parses dotted quads (invalid ones are ignored; use ``parseIPv4(_:)`` to validate first).
    static func parseAddresses(_ list: [String]) -> Set<UInt32> {
        var result: Set<UInt32> = [0]
        for text in list {
            if let address = parseIPv4(text) { result.insert(address) }
        }
        return result
    }

    /// A strict dotted quad (`a.b.c.d`, each 0…255) as a 32-bit number, or nil.
    public static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }
}

/// Deterministic process numbers.
public struct ProcessNumbering: Sendable, Hashable {
    /// qmail-smtpd's pid (in CRAM-MD5 challenges `<pid.time@host>`).
    public var smtpd: Int
    /// The pid of the first qmail-queue started in a connection (the `qp` of the first DATA).
    public var firstQueue: Int
    /// How much each later qmail-queue's pid grows.
    public var queueStep: Int

    public init(smtpd: Int = 14398, firstQueue: Int? = nil, queueStep: Int = 1) {
        self.smtpd = smtpd
        self.firstQueue = firstQueue ?? smtpd + 1
        self.queueStep = queueStep
    }
}

/// One client connection as tcpserver sees it.
public struct ClientConnection: Sendable, Hashable {
    // Stored with `extraEnvironment` first, so that the memberwise initializer differs from the
    // public one, which delegates to it (see the extension below).

    /// Extra variables in tcpserver's environment for this connection only (on top of
    /// ``RelayConfiguration/environment``).
    public var extraEnvironment: [String: String]
    /// The client's address (TCPREMOTEIP).
    public var clientIP: String
    /// The client's port (TCPREMOTEPORT).
    public var clientPort: Int
    /// The address the client connected to (TCPLOCALIP).
    public var serverIP: String
    /// The port the client connected to (TCPLOCALPORT).
    public var serverPort: Int
    /// The reverse-DNS (PTR) answer for the client as DNS gave it (tcpserver lower-cases and
    /// escapes it), or nil for no answer.
    public var ptrName: String?
    /// The addresses the PTR name resolves to (for tcpserver -p); nil = not known (taken to
    /// include the client's address).
    public var ptrAddresses: [String]?
    /// The user name the client's ident server gave (tcpserver -r), as tcpserver extracts it
    /// (see `TCPServer.remoteInfo(fromIdentResponse:)` for a raw RFC 1413 answer); nil = no answer.
    public var identInfo: String?
    /// The reverse-DNS name of the server address (TCPLOCALHOST when tcpserver has no -l).
    public var serverName: String?
}

extension ClientConnection {
    /// Delegates to the memberwise initializer (one assigning the fields one by one made the
    /// compiler copy and destroy the whole connection at each construction).
    public init(
        clientIP: String, clientPort: Int = 40000, serverIP: String = "192.0.2.25", serverPort: Int = 25,
        ptrName: String? = nil, ptrAddresses: [String]? = nil, identInfo: String? = nil,
        serverName: String? = nil, extraEnvironment: [String: String] = [:]
    ) {
        self.init(
            extraEnvironment: extraEnvironment, clientIP: clientIP, clientPort: clientPort, serverIP: serverIP,
            serverPort: serverPort, ptrName: ptrName, ptrAddresses: ptrAddresses, identInfo: identInfo,
            serverName: serverName)
    }
}

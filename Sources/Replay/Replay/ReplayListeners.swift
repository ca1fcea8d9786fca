public import Capture
public import RelayEngine
public import Scenarios
import TCPRules

/// The server's listeners a replay runs captured connections against: each a configuration
/// selected by the address and port a connection arrived at, as in a ``ConfigurationFile``
/// (`relaylab replay --config FILE`), a set of daemontools run scripts (`--run FILE`), or a
/// single configuration that takes every connection (the command-line flags).
///
/// Command-line settings given together with a file apply on top of every listener (so that
/// `--config prod.yaml --env DATABYTES=1000` asks "what if"); tcpserver options add to the
/// listener's.
///
/// Not thread-safe (it caches what it loaded): resolve listeners on one thread and hand the
/// resulting ``ReplayTarget`` values, which are `Sendable`, to the others.
public final class ReplayListeners {
    /// The listeners, in selection order.
    public let listeners: [Listener]
    /// Where they come from (the configuration file, `run scripts`, `command line`).
    public let origin: String
    /// Settings from the command line applied on top of every listener.
    public let overrides: ConfigurationSpec
    /// Things the loader could not evaluate and ignored (run-script warnings).
    public let warnings: [ScenarioError]

    /// One listener from the command line (connections are not labelled with its name).
    private let single: Bool
    private let loader = ConfigurationLoader()
    private var cache: [Capture.Endpoint: ReplayTarget?] = [:]
    private var last: (server: Capture.Endpoint, target: ReplayTarget?)?

    /// How many client bytes the engine keeps per line and per message (set it before the
    /// first ``target(for:)``).
    public var limits: RelayLimits {
        get { loader.limits }
        set { loader.limits = newValue }
    }

    /// Whether the targets' sessions keep the bytes of the messages they receive (default).
    /// ``ReplayRunner`` turns it off: a capture's replay compares replies and decisions, never
    /// a message's bytes, which are then only counted (databytes and the hop count still decide
    /// as qmail-smtpd does).
    public var keepsMessageBytes = true {
        didSet {
            if keepsMessageBytes != oldValue {
                cache = [:]
                last = nil
            }
        }
    }

    /// Listeners from a configuration file.
    public convenience init(file: ConfigurationFile, overrides: ConfigurationSpec = ConfigurationSpec()) {
        self.init(listeners: file.listeners, origin: file.path, overrides: overrides, warnings: file.warnings)
    }

    /// Listeners from run scripts, one each (named after the script's file name).
    public convenience init(runScripts: [RunScript], overrides: ConfigurationSpec = ConfigurationSpec()) {
        var listeners: [Listener] = []
        for script in runScripts {
            let name = String(script.path.split(separator: "/").last ?? Substring(script.path))
            let spec = script.configuration
            listeners.append(
                Listener(
                    name: name, ip: spec.server.ip, port: spec.server.port, configuration: spec,
                    position: FilePosition(file: script.path, line: script.line)))
        }
        self.init(
            listeners: listeners, origin: runScripts.map(\.path).joined(separator: ", "), overrides: overrides,
            warnings: runScripts.flatMap(\.warnings))
    }

    /// One listener taking every connection, configured by `spec` (the command-line flags).
    public convenience init(single spec: ConfigurationSpec) {
        self.init(
            listeners: [Listener(name: "default", ip: nil, port: nil, configuration: spec, position: FilePosition(file: "command line", line: 1))],
            origin: "command line", overrides: ConfigurationSpec(), warnings: [], single: true)
    }

    public init(
        listeners: [Listener], origin: String, overrides: ConfigurationSpec, warnings: [ScenarioError], single: Bool = false
    ) {
        self.single = single
        self.listeners = listeners
        self.origin = origin
        self.overrides = overrides
        self.warnings = warnings
    }

    /// Loads every listener's configuration once, so that a missing control directory or rules
    /// file is reported before any packet is read.
    ///
    /// - Throws: ``ScenarioError`` at the setting concerned.
    public func validate() throws(ScenarioError) {
        for listener in listeners {
            _ = try loader.configuration(for: effectiveSpec(listener, serverIP: listener.ip), context: listener.position)
        }
    }

    /// The listener a connection to `server` reaches, with its engine configuration, or nil
    /// when no listener takes it: an exact address and port first, then a listener on every
    /// address with that port, then one for the address without a port, then one without either
    /// (the rule ``ConfigurationFile/listener(serverIP:port:)`` follows).
    public func target(for server: Capture.Endpoint) throws(ScenarioError) -> ReplayTarget? {
        // Connections to one server usually follow each other: the last answer first.
        if let last, last.server == server { return last.target }
        if let cached = cache[server] {
            last = (server, cached)
            return cached
        }
        var result: ReplayTarget? = nil
        if let listener = select(serverIP: server.ip, port: server.port) {
            let spec = effectiveSpec(listener, serverIP: server.ip)
            var configuration = try loader.configuration(for: spec, context: listener.position)
            if !keepsMessageBytes { configuration.limits.maxMessageBytes = 0 }
            result = ReplayTarget(
                name: single ? nil : listener.name, configuration: configuration, serverName: spec.server.hostname)
        }
        cache[server] = result
        last = (server, result)
        return result
    }

    /// What a connection that no listener takes is told.
    public func noListenerReason(for server: Capture.Endpoint) -> String {
        "no listener for \(server) in \(origin)"
    }

    // MARK: - Internals

    private func select(serverIP: String, port: Int) -> Listener? {
        let address = IPAddress(serverIP)
        func sameIP(_ ip: String?) -> Bool {
            guard let ip else { return false }
            return IPAddress(ip) == address
        }
        return listeners.first { sameIP($0.ip) && $0.port == port }
            ?? listeners.first { $0.ip == nil && $0.port == port }
            ?? listeners.first { sameIP($0.ip) && $0.port == nil }
            ?? listeners.first { $0.ip == nil && $0.port == nil }
    }

    /// The files and folders the listeners read (control directories, rules files, control
    /// files), which relaylab never writes to.
    public var inputPaths: [String] {
        listeners.flatMap { effectiveSpec($0, serverIP: $0.ip).inputPaths } + [origin]
    }

    /// The listener's settings with the command-line overrides on top; the server address is
    /// the captured one (it is qmail's ipme, for domain literals, unless `ipme` is given).
    public func effectiveSpec(_ listener: Listener, serverIP: String?) -> ConfigurationSpec {
        var spec = listener.configuration.merged(with: overrides)
        if let words = overrides.tcpserver {
            spec.tcpserver = (listener.configuration.tcpserver ?? []) + words
        }
        if let serverIP { spec.server.ip = serverIP }
        return spec
    }
}

/// What a captured connection is replayed against: the listener's name and configuration.
public struct ReplayTarget: Sendable {
    /// The listener's name (nil for the single listener of the command-line flags).
    public var name: String?
    /// The engine configuration.
    public var configuration: RelayConfiguration
    /// The server address's reverse-DNS name (TCPLOCALHOST when tcpserver has no `-l`).
    public var serverName: String?

    public init(name: String?, configuration: RelayConfiguration, serverName: String? = nil) {
        self.name = name
        self.configuration = configuration
        self.serverName = serverName
    }
}

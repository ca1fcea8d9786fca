import TCPRules

/// A standalone configuration file: the server's listeners, each a configuration selected by the
/// address and port a connection arrives at. Used by `relaylab replay --config`, `relaylab compare
/// --baseline` and by scenario files whose `config:` names a file.
///
/// ```yaml
/// control: control              # defaults shared by every listener (any configuration key)
/// listeners:
///   - name: smtp
///     port: 25                  # optional ip: 192.0.2.25 (default: every address)
///     rules: tcp.smtp.cdb
///     rblsmtpd: true
///   - name: submission
///     port: 587
///     run: run.submission       # settings read from the run script's tcpserver command line
///     auth: {users: {testuser: testpass}}
/// ```
///
/// Settings combine in this order, later ones winning: the file's top-level keys, the run
/// script's, the listener's own keys. A file without `listeners:` is a single listener that
/// takes every connection.
public struct ConfigurationFile: Sendable {
    /// The file, as given.
    public var path: String
    /// The top-level settings (defaults for every listener).
    public var defaults: ConfigurationSpec
    /// The listeners, in file order.
    public var listeners: [Listener]
    /// Things in run scripts relaylab could not evaluate and ignored.
    public var warnings: [ScenarioError]

    /// The keys a listener may have besides the configuration keys.
    public static let listenerKeys = ["name", "ip", "port", "run"]

    /// Reads and parses a configuration file.
    ///
    /// - Throws: ``ScenarioError`` located at the problem (YAML syntax, unknown keys with a
    ///   suggestion, bad values, unreadable run scripts, two listeners on one address).
    /// - Parameter maxFileBytes: the most bytes read from the file and from each file it names.
    public static func load(path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) throws(ScenarioError)
        -> ConfigurationFile
    {
        try ConfigurationFile(yaml: YAMLSource.read(path: path, maxFileBytes: maxFileBytes).root())
    }

    /// Parses a configuration file's root mapping.
    public init(yaml root: YAMLNode) throws(ScenarioError) {
        path = root.source.path
        defaults = ConfigurationSpec()
        listeners = []
        warnings = []
        var listenerNodes: [YAMLNode]? = nil
        var listenersKey: YAMLNode? = nil
        for entry in try root.mapping(allowedKeys: ConfigurationSpec.keys + ["listeners"]) {
            if entry.key == "listeners" {
                listenerNodes = try entry.value.sequence()
                listenersKey = entry.keyNode
            } else {
                try defaults.apply(entry)
            }
        }
        guard let listenerNodes else {
            listeners = [Listener(name: "default", ip: nil, port: nil, configuration: defaults, position: root.position)]
            return
        }
        if listenerNodes.isEmpty, let listenersKey { throw listenersKey.error("'listeners' is empty") }
        for node in listenerNodes {
            let listener = try parseListener(node)
            if let other = listeners.first(where: { $0.ip == listener.ip && $0.port == listener.port }) {
                throw node.error("listener '\(listener.name)' has the same address and port as '\(other.name)' (\(other.position))")
            }
            listeners.append(listener)
        }
    }

    private mutating func parseListener(_ node: YAMLNode) throws(ScenarioError) -> Listener {
        var own = ConfigurationSpec()
        var name: String? = nil
        var ip: String? = nil
        var port: Int? = nil
        var fromScript: ConfigurationSpec? = nil
        for entry in try node.mapping(allowedKeys: ConfigurationFile.listenerKeys + ConfigurationSpec.keys) {
            switch entry.key {
            case "name":
                name = try entry.value.string()
            case "ip":
                let text = try entry.value.string()
                if text != "0" {
                    ip = try ConfigurationSpec.parseIP(entry.value)
                    own.server.ip = ip
                }
            case "port":
                port = try ConfigurationSpec.parsePort(entry.value)
                own.server.port = port
            case "run":
                let scriptPath = entry.value.source.resolve(try entry.value.string())
                let script: RunScript
                do {
                    script = try RunScript.load(path: scriptPath, maxFileBytes: entry.value.source.maxFileBytes)
                } catch {
                    if error.position == nil {
                        let problem = error.message.hasPrefix("run script ") ? String(error.message.dropFirst(11)) : error.message
                        throw entry.value.error("run script \(scriptPath) \(problem)")
                    }
                    throw error
                }
                warnings += script.warnings
                fromScript = script.configuration
            default:
                try own.apply(entry)
            }
        }
        var configuration = defaults
        if let fromScript { configuration = configuration.merged(with: fromScript) }
        configuration = configuration.merged(with: own)
        if port == nil, fromScript != nil { port = configuration.server.port }
        let listenerName = name ?? port.map { "port \($0)" } ?? "listener \(listeners.count + 1)"
        return Listener(name: listenerName, ip: ip, port: port, configuration: configuration, position: node.position)
    }

    /// The listener a connection to `serverIP`:`port` reaches: an exact address and port first,
    /// then a listener on every address with that port, then one without a port.
    public func listener(serverIP: String, port: Int) -> Listener? {
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
}

/// One tcpserver listener of a ``ConfigurationFile``.
public struct Listener: Sendable, Hashable {
    /// Its name (`smtp`, `submission`, …).
    public var name: String
    /// The address it listens on; nil for every address.
    public var ip: String?
    /// The port; nil for every port.
    public var port: Int?
    /// Its configuration (file defaults, run script and own keys combined).
    public var configuration: ConfigurationSpec
    /// Where it is defined.
    public var position: FilePosition

    public init(name: String, ip: String?, port: Int?, configuration: ConfigurationSpec, position: FilePosition) {
        self.name = name
        self.ip = ip
        self.port = port
        self.configuration = configuration
        self.position = position
    }
}

public import RelayEngine
public import TCPRules

/// The configuration under test as written in a `config:` section, a connection, or a listener:
/// every setting optional, so that a file's defaults and a connection's overrides merge key by
/// key (see ``merged(with:)``), and hashable, so that connections sharing a configuration share
/// one loaded ``RelayConfiguration`` (see ``ConfigurationLoader``).
///
/// Paths are already resolved against the file that named them. Where each setting was written is
/// kept (``positions``) for errors found later, e.g. a control directory that does not exist; it
/// takes no part in equality.
public struct ConfigurationSpec: Sendable, Hashable {
    /// The control directory.
    public var control: ControlDirectorySpec?
    /// Control files given inline (or from another file), by name; they replace the directory's.
    public var controlFiles: [String: ControlFileSpec] = [:]
    /// tcpserver's `-x` rules.
    public var rules: RulesSpec?
    /// Which ucspi-tcp build (tcprules dialect, TCP6 variables).
    public var ucspiTCP: RulesDialect?
    /// rblsmtpd in the chain, its options and block list answers.
    public var rblsmtpd: RBLSMTPDSpec?
    /// The qmail-smtpd variant.
    public var variant: QmailVariant?
    /// The SMTP AUTH patch and its checkpassword.
    public var auth: AuthSpec?
    /// The server address the connections arrive at.
    public var server = ServerSpec()
    /// tcpserver's command-line options (validated words).
    public var tcpserver: [String]?
    /// The server's own addresses (qmail's ipme).
    public var ipme: [String]?
    /// tcpserver's inherited environment, per variable (nil: unset it).
    public var environment: [String: String?] = [:]
    /// Unix time at connect.
    public var clock: Int64?
    /// What qmail-queue does.
    public var queue: QueueBehaviour?
    /// Process numbers for `qp` and CRAM-MD5 challenges.
    public var processIDs: ProcessNumbering?

    /// The files and folders this configuration reads (control directory, rules file, control
    /// files given as files), which relaylab never writes to.
    public var inputPaths: [String] {
        var paths: [String] = []
        if case .directory(let path)? = control { paths.append(path) }
        switch rules {
        case .file(let path)?, .missing(let path)?: paths.append(path)
        case .text(_, let origin)?: paths.append(origin)
        default: break
        }
        for file in controlFiles.values {
            if case .contents(_, let origin) = file { paths.append(origin) }
        }
        return paths
    }
    /// Where each key was written (`control`, `rules`, `control_files.rcpthosts`, …), for errors.
    public var positions: Positions = Positions()

    public init() {}

    /// The keys of a configuration section, in the order the documentation lists them.
    public static let keys = [
        "control", "control_files", "rules", "rblsmtpd", "variant", "auth", "server", "tcpserver",
        "ucspi_tcp", "ipme", "env", "clock", "queue", "pids",
    ]

    /// This spec with `overrides` applied: scalar settings are replaced, `control_files`, `env`
    /// and `server` are merged entry by entry.
    public func merged(with overrides: ConfigurationSpec) -> ConfigurationSpec {
        var result = self
        if let value = overrides.control { result.control = value }
        for (name, file) in overrides.controlFiles { result.controlFiles[name] = file }
        if let value = overrides.rules { result.rules = value }
        if let value = overrides.ucspiTCP { result.ucspiTCP = value }
        if let value = overrides.rblsmtpd { result.rblsmtpd = value }
        if let value = overrides.variant { result.variant = value }
        if let value = overrides.auth { result.auth = value }
        if let value = overrides.server.ip { result.server.ip = value }
        if let value = overrides.server.port { result.server.port = value }
        if let value = overrides.server.hostname { result.server.hostname = value }
        if let value = overrides.tcpserver { result.tcpserver = value }
        if let value = overrides.ipme { result.ipme = value }
        for (name, value) in overrides.environment { result.environment[name] = value }
        if let value = overrides.clock { result.clock = value }
        if let value = overrides.queue { result.queue = value }
        if let value = overrides.processIDs { result.processIDs = value }
        for (key, position) in overrides.positions.byKey { result.positions.byKey[key] = position }
        for (file, source) in overrides.positions.sources { result.positions.sources[file] = source }
        return result
    }

    /// Whether nothing is set.
    public var isEmpty: Bool { self == ConfigurationSpec() }

    /// Where settings were written. Always equal to any other, so it never splits a cache entry.
    public struct Positions: Sendable, Hashable {
        /// Positions by key path (`control`, `rules`, `control_files.rcpthosts`, …).
        public var byKey: [String: FilePosition] = [:]
        /// The files the positions are in (to quote the line in errors).
        public var sources: [String: YAMLSource] = [:]

        public init() {}

        public subscript(key: String) -> FilePosition? { byKey[key] }

        public static func == (lhs: Positions, rhs: Positions) -> Bool { true }
        public func hash(into hasher: inout Hasher) {}

        /// An error at the place `key` was written (or about `fallbackFile` when unknown).
        public func error(_ key: String, _ message: String, fallbackFile: String = "configuration") -> ScenarioError {
            guard let position = byKey[key] else { return ScenarioError(file: fallbackFile, message) }
            return ScenarioError(at: position, message, sourceLine: sources[position.file]?.line(position.line))
        }
    }
}

/// Where the control files come from.
public enum ControlDirectorySpec: Sendable, Hashable {
    /// A control directory on disk (resolved path); `control_files` replace single files in it.
    case directory(String)
    /// No directory: only the files given in `control_files` exist.
    case none
}

/// One control file given in the configuration instead of (or removing) the directory's.
public enum ControlFileSpec: Sendable, Hashable {
    /// The file exists with these bytes; `origin` names it in explanations.
    case contents([UInt8], origin: String)
    /// The file does not exist.
    case missing
    /// The file exists but cannot be read.
    case unreadable(reason: String)

    /// The engine's form.
    public var controlFile: ControlFile {
        switch self {
        case .contents(let bytes, let origin): return .contents(bytes, origin: origin)
        case .missing: return .missing
        case .unreadable(let reason): return .unreadable(reason: reason)
        }
    }
}

/// tcpserver's `-x` rules.
public enum RulesSpec: Sendable, Hashable {
    /// No `-x`: every client is allowed, no rule variables.
    case none
    /// A tcprules source file or a compiled cdb (resolved path).
    case file(String)
    /// tcprules source text; `origin` names it in explanations (line numbers are the YAML file's).
    case text(String, origin: String)
    /// A rules file that does not exist: tcpserver drops every connection (with `-X`, allows it).
    case missing(String)
}

/// rblsmtpd's place in the chain.
public enum RBLSMTPDSpec: Sendable, Hashable {
    /// Not in the chain.
    case off
    /// In the chain with these options (its `-r` zones answered from the options' fixture).
    case on(RBLSMTPDOptions)
}

/// The SMTP AUTH patch.
public enum AuthSpec: Sendable, Hashable {
    /// A build without the patch (vanilla netqmail/notqmail).
    case off
    /// The qmail-authentication 0.8.3 build.
    case on(AuthOptions)
}

/// The server address connections arrive at (`TCPLOCALIP`, `TCPLOCALPORT`) and its DNS name.
public struct ServerSpec: Sendable, Hashable {
    /// The server's IP address (default 192.0.2.25).
    public var ip: String?
    /// The port (default 25).
    public var port: Int?
    /// The server address's reverse-DNS name (`TCPLOCALHOST` when tcpserver has no `-l`).
    public var hostname: String?

    public init(ip: String? = nil, port: Int? = nil, hostname: String? = nil) {
        self.ip = ip
        self.port = port
        self.hostname = hostname
    }

    /// The default server address.
    public static let defaultIP = "192.0.2.25"
    /// The default port.
    public static let defaultPort = 25
}

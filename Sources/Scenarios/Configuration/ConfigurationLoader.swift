import Foundation
public import RelayEngine
import TCPRules

/// Turns ``ConfigurationSpec`` values into the engine's ``RelayConfiguration``, loading each
/// control directory and rules file once however many connections use it.
///
/// A loader caches what it loaded; it is not thread-safe, so use one per thread (``CheckRunner``
/// uses one per scenario file).
public final class ConfigurationLoader {
    private struct ControlKey: Hashable {
        var directory: ControlDirectorySpec?
        var files: [String: ControlFileSpec]
    }
    private struct RulesKey: Hashable {
        var rules: RulesSpec
        var dialect: RulesDialect
    }

    private var controls: [ControlKey: QmailControl] = [:]
    private var rulesDatabases: [RulesKey: RulesDatabase] = [:]
    private var configurations: [ConfigurationSpec: RelayConfiguration] = [:]
    /// How many client bytes the engine keeps per line and per message, in every configuration
    /// this loader makes (set it before loading).
    public var limits: RelayLimits

    public init(limits: RelayLimits = RelayLimits()) {
        self.limits = limits
    }

    /// The engine configuration for `spec`.
    ///
    /// Unset settings take these defaults: no rules (`-x` not given), no rblsmtpd, netqmail-1.06
    /// without the AUTH patch, tcpserver's default options, ipme = 127.0.0.1 and the server
    /// address, an empty inherited environment, and the engine's clock and process numbers.
    ///
    /// - Parameter context: where to report a missing `control` setting.
    /// - Throws: ``ScenarioError`` at the setting concerned: no control files at all, a control
    ///   directory or rules file that does not exist, a rules line tcprules refuses.
    public func configuration(for spec: ConfigurationSpec, context: FilePosition? = nil) throws(ScenarioError)
        -> RelayConfiguration
    {
        if let cached = configurations[spec] { return cached }
        let control = try loadControl(spec, context: context)
        let dialect = spec.ucspiTCP ?? .ucspiTCP
        var options = TCPServerOptions()
        if let words = spec.tcpserver, let parsed = try? TCPServerCommandLine.parse(words) {
            options = parsed.options
        }
        if spec.ucspiTCP != nil { options.dialect = dialect }
        var rules: RulesDatabase? = nil
        if let rulesSpec = spec.rules, rulesSpec != .none {
            rules = try loadRules(rulesSpec, dialect: dialect, spec: spec)
        }
        var environment: [String: String] = [:]
        for (name, value) in spec.environment {
            if let value { environment[name] = value }
        }
        var auth: AuthOptions? = nil
        if case .on(let options)? = spec.auth { auth = options }
        var rblsmtpd: RBLSMTPDOptions? = nil
        if case .on(let options)? = spec.rblsmtpd { rblsmtpd = options }
        let serverIP = spec.server.ip ?? ServerSpec.defaultIP
        var ipme = spec.ipme ?? ["127.0.0.1"]
        if spec.ipme == nil, RelayConfiguration.parseIPv4(serverIP) != nil, !ipme.contains(serverIP) {
            ipme.append(serverIP)
        }
        var configuration = RelayConfiguration(
            control: control, variant: spec.variant ?? .netqmail, auth: auth, rblsmtpd: rblsmtpd, ipme: ipme,
            environment: environment, queue: spec.queue ?? .accept, rules: rules, tcpserver: options)
        configuration.limits = limits
        if let clock = spec.clock { configuration.clock = clock }
        if let numbering = spec.processIDs { configuration.processIDs = numbering }
        configurations[spec] = configuration
        return configuration
    }

    /// The connection tcpserver sees for a client of `spec`'s server.
    public func connection(
        for spec: ConfigurationSpec, clientIP: String, clientPort: Int = 40000, ptrName: String? = nil,
        ptrAddresses: [String]? = nil, identInfo: String? = nil
    ) -> ClientConnection {
        ClientConnection(
            clientIP: clientIP, clientPort: clientPort, serverIP: spec.server.ip ?? ServerSpec.defaultIP,
            serverPort: spec.server.port ?? ServerSpec.defaultPort, ptrName: ptrName, ptrAddresses: ptrAddresses,
            identInfo: identInfo, serverName: spec.server.hostname)
    }

    // MARK: - Loading

    private func loadControl(_ spec: ConfigurationSpec, context: FilePosition?) throws(ScenarioError) -> QmailControl {
        let key = ControlKey(directory: spec.control, files: spec.controlFiles)
        if let cached = controls[key] { return cached }
        var overrides: [String: ControlFile] = [:]
        for (name, file) in spec.controlFiles { overrides[name] = file.controlFile }
        let control: QmailControl
        switch spec.control {
        case .directory(let path)?:
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw spec.positions.error("control", "control directory \(path) does not exist")
            }
            guard isDirectory.boolValue else {
                throw spec.positions.error("control", "\(path) is not a directory (control should name qmail's control folder)")
            }
            do {
                control = try QmailControl.load(directory: path, overrides: overrides)
            } catch {
                throw spec.positions.error("control", "cannot read control directory \(path): \(error)")
            }
        case .none?:
            control = QmailControl(files: overrides, directory: "control")
        case nil:
            guard !spec.controlFiles.isEmpty else {
                let message = "no control files: give 'control: DIRECTORY' (or 'control_files:' for inline files)"
                if let context { throw ScenarioError(at: context, message) }
                throw ScenarioError(file: "configuration", message)
            }
            control = QmailControl(files: overrides, directory: "control")
        }
        controls[key] = control
        return control
    }

    private func loadRules(_ rulesSpec: RulesSpec, dialect: RulesDialect, spec: ConfigurationSpec) throws(ScenarioError)
        -> RulesDatabase
    {
        let key = RulesKey(rules: rulesSpec, dialect: dialect)
        if let cached = rulesDatabases[key] { return cached }
        let database: RulesDatabase
        switch rulesSpec {
        case .none:
            preconditionFailure("no rules to load")
        case .file(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw spec.positions.error("rules", "rules file \(path) does not exist")
            }
            if isDirectory.boolValue {
                throw spec.positions.error("rules", "\(path) is a directory, not a rules file")
            }
            do {
                database = try RulesDatabase.load(path: path, dialect: dialect)
            } catch {
                throw rulesError(error, spec: spec, inline: nil)
            }
        case .missing(let path):
            database = RulesDatabase.missing(path: path)
        case .text(let text, let origin):
            do {
                database = try RulesDatabase(source: text, path: origin, dialect: dialect)
            } catch {
                throw rulesError(error, spec: spec, inline: origin)
            }
        }
        rulesDatabases[key] = database
        return database
    }

    /// A rules error located in the rules file (or, for inline rules, in the YAML file).
    private func rulesError(_ error: RulesError, spec: ConfigurationSpec, inline: String?) -> ScenarioError {
        guard case .syntax(let syntax) = error else {
            return spec.positions.error("rules", "cannot load rules: \(error.description)")
        }
        let file = inline ?? syntax.path
        var sourceLine: String? = syntax.text
        var column = syntax.column
        if inline != nil, let yamlLine = spec.positions.sources[file]?.line(syntax.line) ?? YAMLLines.line(syntax.line, ofFile: file) {
            // Inline rules keep the YAML file's line numbers; add the block's indentation.
            if yamlLine.hasSuffix(syntax.text) { column += yamlLine.count - syntax.text.count }
            sourceLine = yamlLine
        }
        return ScenarioError(
            at: FilePosition(file: file, line: syntax.line, column: column),
            "tcprules would refuse this line: \(syntax.message)", sourceLine: sourceLine)
    }
}

/// Reads one line of a text file (for error carets in files other than the one being parsed).
enum YAMLLines {
    static func line(_ number: Int, ofFile path: String) -> String? {
        guard case .contents(let data) = BoundedRead.read(path, limit: YAMLSource.defaultMaxFileBytes) else { return nil }
        return YAMLSource(text: String(decoding: data, as: UTF8.self), path: path).line(number)
    }
}

import CDB
import Foundation
import RelayEngine
import TCPRules

extension ConfigurationSpec {
    /// Parses a configuration mapping (a scenario file's `config:` section, or a configuration
    /// file's top level): every key must be one of ``keys``.
    ///
    /// - Throws: ``ScenarioError`` at the offending key or value (unknown keys suggest the
    ///   nearest valid one; files named by the configuration, such as a users file, must exist).
    public init(yaml node: YAMLNode) throws(ScenarioError) {
        self.init()
        for entry in try node.mapping(allowedKeys: ConfigurationSpec.keys) {
            try apply(entry)
        }
    }

    /// Applies one `key: value` entry whose key is one of ``keys`` (for mappings that mix
    /// configuration keys with others, such as a connection or a listener).
    public mutating func apply(_ entry: YAMLEntry) throws(ScenarioError) {
        let value = entry.value
        note(entry.key, value)
        switch entry.key {
        case "control":
            if value.isNull {
                control = ControlDirectorySpec.none
            } else {
                control = .directory(value.source.resolve(try value.string()))
            }
        case "control_files":
            try parseControlFiles(value)
        case "rules":
            rules = try ConfigurationSpec.parseRules(value)
        case "ucspi_tcp":
            let name = try value.choice(RulesDialect.allCases.map(\.rawValue))
            ucspiTCP = RulesDialect(rawValue: name)
        case "rblsmtpd":
            rblsmtpd = try ConfigurationSpec.parseRBLSMTPD(value)
        case "variant":
            let names = QmailVariant.allCases.map(\.rawValue)
            let text = try value.string()
            guard let variant = QmailVariant(name: text) else {
                throw value.error("unknown qmail variant '\(text)'" + NearestKey.hint(for: text, among: names))
            }
            self.variant = variant
        case "auth":
            try parseAuth(value)
        case "server":
            try parseServer(value)
        case "tcpserver":
            let words = try ConfigurationSpec.words(value)
            _ = try TCPServerCommandLine.parseOptions(words, at: value)
            tcpserver = words
        case "ipme":
            var addresses: [String] = []
            let items = value.isSequence ? try value.sequence() : [value]
            for item in items {
                let text = try item.string()
                guard RelayConfiguration.parseIPv4(text) != nil else {
                    throw item.error("'\(text)' is not an IPv4 address (qmail's ipme holds dotted quads)")
                }
                addresses.append(text)
            }
            ipme = addresses
        case "env":
            for variable in try value.mapping() {
                try ConfigurationSpec.checkVariableName(variable)
                environment[variable.key] = try variable.value.isNull ? String?.none : variable.value.string()
                note("env.\(variable.key)", variable.value)
            }
        case "clock":
            clock = try ConfigurationSpec.parseClock(value)
        case "queue":
            queue = try ConfigurationSpec.parseQueue(value)
        case "pids":
            var numbering = ProcessNumbering()
            var firstQueue: Int? = nil
            for item in try value.mapping(allowedKeys: ["smtpd", "queue", "step"]) {
                switch item.key {
                case "smtpd": numbering.smtpd = try item.value.int(in: 1...4_194_304)
                case "queue": firstQueue = try item.value.int(in: 1...4_194_304)
                default: numbering.queueStep = try item.value.int(in: 0...1_000_000)
                }
            }
            numbering.firstQueue = firstQueue ?? numbering.smtpd + 1
            processIDs = numbering
        default:
            throw entry.keyNode.error(
                "unknown configuration key '\(entry.key)'" + NearestKey.hint(for: entry.key, among: ConfigurationSpec.keys))
        }
    }

    /// Records where `key` was written.
    mutating func note(_ key: String, _ node: YAMLNode) {
        let position = node.position
        positions.byKey[key] = position
        if positions.sources[position.file] == nil { positions.sources[position.file] = node.source }
    }

    // MARK: - control_files

    private mutating func parseControlFiles(_ node: YAMLNode) throws(ScenarioError) {
        let names = QmailControl.fileNames
        for entry in try node.mapping() {
            guard names.contains(entry.key) else {
                throw entry.keyNode.error(
                    "'\(entry.key)' is not a control file qmail-smtpd reads" + NearestKey.hint(for: entry.key, among: names))
            }
            note("control_files.\(entry.key)", entry.value)
            controlFiles[entry.key] = try ConfigurationSpec.parseControlFile(name: entry.key, entry.value)
        }
    }

    /// Files whose entries are one per line, where extra empty lines change nothing (so inline
    /// text can be padded to keep the YAML file's line numbers in explanations).
    static let listFiles: Set<String> = ["rcpthosts", "badmailfrom", "morercpthosts"]

    static func parseControlFile(name: String, _ value: YAMLNode) throws(ScenarioError) -> ControlFileSpec {
        if value.isNull { return .missing }
        if value.isMapping {
            var result: ControlFileSpec? = nil
            for entry in try value.mapping(allowedKeys: ["file", "unreadable"]) {
                guard result == nil else { throw entry.keyNode.error("give either 'file' or 'unreadable', not both") }
                if entry.key == "file" {
                    let path = entry.value.source.resolve(try entry.value.string())
                    let read = entry.value.source.readNamedFile(path)
                    guard case .contents(let data) = read else {
                        throw entry.value.error("cannot read control file \(path): \(read.problem(what: "a control file") ?? "")")
                    }
                    result = .contents(data, origin: path)
                } else {
                    result = .unreadable(reason: try entry.value.optionalString() ?? "permission denied")
                }
            }
            guard let result else { throw value.error("expected 'file: PATH' or 'unreadable: REASON'") }
            return result
        }
        let position = value.position
        if name == "morercpthosts.cdb" {
            // Domains, one per item or line, compiled the way qmail-newmrh does.
            let lines = value.isSequence ? try value.stringList() : (try value.string()).split(separator: "\n").map(String.init)
            var records: [([UInt8], [UInt8])] = []
            for line in lines {
                var entry = Substring(line)
                while let last = entry.last, last == " " || last == "\t" || last == "\r" { entry.removeLast() }
                if entry.isEmpty || entry.hasPrefix("#") { continue }
                records.append((Array(entry.lowercased().utf8), []))
            }
            do {
                let bytes = try CDBWriter.build(records)
                return .contents(bytes, origin: "\(position.file):\(position.line) (inline morercpthosts.cdb)")
            } catch {
                throw value.error("cannot build morercpthosts.cdb: \(error)")
            }
        }
        var text: String
        if value.isSequence {
            text = try value.stringList().map { $0 + "\n" }.joined()
        } else {
            text = try value.string()
        }
        if listFiles.contains(name) {
            // Pad with empty lines so that entry N is reported at its line in the YAML file.
            let firstContentLine = value.isBlockScalar ? position.line + 1 : position.line
            if !value.isSequence, firstContentLine > 1 {
                text = String(repeating: "\n", count: firstContentLine - 1) + text
                return .contents(Array(text.utf8), origin: position.file)
            }
            return .contents(Array(text.utf8), origin: "\(position.file):\(position.line) (inline \(name))")
        }
        return .contents(Array(text.utf8), origin: "\(position.file):\(position.line) (inline \(name))")
    }

    // MARK: - rules

    static func parseRules(_ value: YAMLNode) throws(ScenarioError) -> RulesSpec {
        if value.isNull { return RulesSpec.none }
        if value.isMapping {
            var result: RulesSpec? = nil
            for entry in try value.mapping(allowedKeys: ["file", "text", "missing"]) {
                guard result == nil else { throw entry.keyNode.error("give one of 'file', 'text' or 'missing'") }
                if entry.key == "missing" {
                    result = .missing(entry.value.source.resolve(try entry.value.string()))
                } else if entry.key == "file" {
                    result = .file(entry.value.source.resolve(try entry.value.string()))
                } else {
                    var text = try entry.value.string()
                    let position = entry.value.position
                    let first = entry.value.isBlockScalar ? position.line + 1 : position.line
                    if first > 1 { text = String(repeating: "\n", count: first - 1) + text }
                    result = .text(text, origin: position.file)
                }
            }
            guard let result else { throw value.error("expected 'file: PATH', 'text: RULES' or 'missing: PATH'") }
            return result
        }
        return .file(value.source.resolve(try value.string()))
    }

    // MARK: - rblsmtpd

    static func parseRBLSMTPD(_ value: YAMLNode) throws(ScenarioError) -> RBLSMTPDSpec {
        if value.isNull { return .off }
        if value.isScalar { return try value.bool() ? .on(RBLSMTPDOptions()) : .off }
        var arguments: [String] = []
        var fixture = BlocklistFixture()
        var zonesListed: [(String, YAMLNode)] = []
        var argumentsNode: YAMLNode? = nil
        for entry in try value.mapping(allowedKeys: ["options", "blocklists", "fixture"]) {
            switch entry.key {
            case "options":
                arguments = try words(entry.value)
                argumentsNode = entry.value
            case "fixture":
                let path = entry.value.source.resolve(try entry.value.string())
                let read = entry.value.source.readNamedFile(path)
                guard case .contents(let data) = read else {
                    throw entry.value.error("cannot read block list fixture \(path): \(read.problem(what: "a fixture file") ?? "")")
                }
                do {
                    let parsed = try BlocklistFixture.parse(String(decoding: data, as: UTF8.self), path: path)
                    fixture.records.merge(parsed.records) { old, new in
                        BlocklistFixture.Record(txt: old.txt + new.txt, hasAddress: old.hasAddress || new.hasAddress)
                    }
                    fixture.failingZones.formUnion(parsed.failingZones)
                } catch {
                    throw entry.value.error("\(error)")
                }
            default:
                for zone in try entry.value.mapping() {
                    zonesListed.append((zone.key, zone.keyNode))
                    if zone.value.isScalar {
                        guard try zone.value.string() == "fail" else {
                            throw zone.value.error("expected 'fail' or a mapping of client addresses for zone '\(zone.key)'")
                        }
                        fixture.fail(zone: zone.key)
                        continue
                    }
                    for address in try zone.value.mapping() {
                        try parseBlocklistRecord(address, zone: zone.key, into: &fixture)
                    }
                }
            }
        }
        let options: RBLSMTPDOptions
        do {
            options = try RBLSMTPDOptions(arguments: arguments, fixture: fixture)
        } catch {
            throw (argumentsNode ?? value).error("\(error)")
        }
        let zones = Set(options.options.compactMap { option -> String? in
            switch option {
            case .rbl(let zone), .antiRBL(let zone): return zone.lowercased()
            default: return nil
            }
        })
        for (zone, node) in zonesListed where !zones.contains(zone.lowercased()) {
            throw node.error("zone '\(zone)' is never looked up: add \"-r \(zone)\" (or \"-a \(zone)\") to rblsmtpd's options")
        }
        return .on(options)
    }

    private static func parseBlocklistRecord(
        _ entry: YAMLEntry, zone: String, into fixture: inout BlocklistFixture
    ) throws(ScenarioError) {
        let address = entry.key
        guard IPAddress(address) != nil else {
            throw entry.keyNode.error("'\(address)' is not an IP address")
        }
        let value = entry.value
        if value.isScalar {
            let text = try value.string()
            if value.isPlainScalar, text == "allow" {
                fixture.allow(address, in: zone)
            } else {
                fixture.list(address, in: zone, text: text)
            }
            return
        }
        if value.isSequence {
            for item in try value.sequence() { fixture.list(address, in: zone, text: try item.string()) }
            return
        }
        for item in try value.mapping(allowedKeys: ["txt", "a"]) {
            if item.key == "txt" {
                for text in try item.value.stringList() { fixture.list(address, in: zone, text: text) }
            } else if try item.value.bool() {
                fixture.allow(address, in: zone)
            }
        }
    }

    // MARK: - auth

    private mutating func parseAuth(_ value: YAMLNode) throws(ScenarioError) {
        if value.isNull {
            auth = .off
            return
        }
        if value.isScalar {
            auth = try value.bool() ? .on(AuthOptions(credentials: .users([:]))) : .off
            return
        }
        var credentials: AuthCredentials? = nil
        var users: [String: String] = [:]
        var hasCheckpassword = true
        for entry in try value.mapping(allowedKeys: ["smtpauth", "users", "users_file", "checkpassword", "recorded"]) {
            switch entry.key {
            case "smtpauth":
                environment["SMTPAUTH"] = try entry.value.optionalString()
                note("env.SMTPAUTH", entry.value)
            case "users":
                for user in try entry.value.mapping() {
                    users[user.key] = try user.value.string()
                }
                credentials = .users(users)
            case "users_file":
                let path = entry.value.source.resolve(try entry.value.string())
                let read = entry.value.source.readNamedFile(path)
                guard case .contents(let data) = read else {
                    throw entry.value.error("cannot read users file \(path): \(read.problem(what: "a users file") ?? "")")
                }
                do {
                    let parsed = try AuthCredentials.parseUsers(String(decoding: data, as: UTF8.self), path: path)
                    if case .users(let fromFile) = parsed {
                        for (user, password) in fromFile where users[user] == nil { users[user] = password }
                    }
                    credentials = .users(users)
                } catch {
                    throw entry.value.error("\(error)")
                }
            case "checkpassword":
                hasCheckpassword = try entry.value.bool()
            default:
                var outcomes: [Bool] = []
                for item in try entry.value.sequence() { outcomes.append(try item.bool()) }
                credentials = .recorded(outcomes)
            }
        }
        auth = .on(AuthOptions(credentials: credentials ?? .users([:]), hasCheckpassword: hasCheckpassword))
    }

    // MARK: - server

    private mutating func parseServer(_ value: YAMLNode) throws(ScenarioError) {
        if value.isScalar {
            server.ip = try ConfigurationSpec.parseIP(value)
            return
        }
        for entry in try value.mapping(allowedKeys: ["ip", "port", "hostname"]) {
            note("server.\(entry.key)", entry.value)
            switch entry.key {
            case "ip": server.ip = try ConfigurationSpec.parseIP(entry.value)
            case "port": server.port = try ConfigurationSpec.parsePort(entry.value)
            default: server.hostname = try entry.value.string()
            }
        }
    }

    /// An IPv4 or IPv6 address, as text.
    static func parseIP(_ value: YAMLNode) throws(ScenarioError) -> String {
        let text = try value.string()
        guard IPAddress.isCanonicalIPv4(text) || IPAddress(text) != nil else {
            throw value.error("'\(text)' is not an IP address")
        }
        return text
    }

    /// A TCP port: a number or a service name (`smtp`, `submission`, `smtps`).
    static func parsePort(_ value: YAMLNode) throws(ScenarioError) -> Int {
        if let text = value.scalarText, let port = TCPServerCommandLine.servicePorts[text] { return port }
        return try value.int(in: 1...65535)
    }

    // MARK: - Small values

    /// Option words: a list, or one string split at blanks.
    static func words(_ value: YAMLNode) throws(ScenarioError) -> [String] {
        if value.isNull { return [] }
        if value.isSequence { return try value.stringList() }
        return try value.string().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    static func checkVariableName(_ entry: YAMLEntry) throws(ScenarioError) {
        if entry.key.isEmpty || entry.key.contains("=") || entry.key.contains("\0") {
            throw entry.keyNode.error("'\(entry.key)' is not a valid environment variable name")
        }
    }

    static func parseClock(_ value: YAMLNode) throws(ScenarioError) -> Int64 {
        let text = try value.string()
        if let seconds = Int64(text) { return seconds }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) }
        throw value.error("expected unix time (e.g. 1795563513) or an ISO 8601 time (2026-11-24T23:38:33Z) for 'clock'")
    }

    static func parseQueue(_ value: YAMLNode) throws(ScenarioError) -> QueueBehaviour {
        let text = try value.string()
        switch text {
        case "accept": return .accept
        case "crash": return .crash
        case "cannot-start": return .cannotStart
        default:
            if let code = Int(text), (0...255).contains(code) { return code == 0 ? .accept : .exitCode(code) }
            throw value.error(
                "expected accept, crash, cannot-start or an exit code (0-255) for 'queue'"
                    + (NearestKey.suggestion(for: text, among: ["accept", "crash", "cannot-start"]).map { "; did you mean '\($0)'?" } ?? ""))
        }
    }
}

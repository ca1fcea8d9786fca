import ArgumentParser
import Foundation
import RelayEngine
import Replay
import Scenarios
import TCPRules

/// The configuration a capture is replayed against, shared by `relaylab replay` and
/// `relaylab extract`: a configuration file (`--config`), run scripts (`--run`), or the engine's
/// settings as flags. Flags given together with a file or scripts apply on top of every listener.
struct ReplayConfigurationFlags: ParsableArguments {
    @Option(help: ArgumentHelp("A configuration file: the server's listeners, each selected by server address and port (see README).", valueName: "FILE"))
    var config: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("A daemontools run script starting tcpserver; each one is a listener (repeatable).", valueName: "FILE"))
    var runScripts: [String] = []

    @Option(help: ArgumentHelp("qmail's control directory (me, rcpthosts, morercpthosts.cdb, badmailfrom, databytes, …).", valueName: "DIR"))
    var control: String?

    @Option(help: ArgumentHelp("tcpserver's -x rules: a cdb or tcprules source.", valueName: "FILE"))
    var rules: String?

    @Flag(inversion: .prefixedNo, help: "rblsmtpd runs between tcpserver and qmail-smtpd.")
    var rblsmtpd: Bool?

    @Option(name: .customLong("rblsmtpd-options"), parsing: .unconditional, help: ArgumentHelp("rblsmtpd's options, e.g. \"-b -r zen.example -t 30\" (implies --rblsmtpd).", valueName: "OPTIONS"))
    var rblsmtpdOptions: String?

    @Option(name: .customLong("rbl-fixture"), help: ArgumentHelp("DNS answers for rblsmtpd's -r/-a zones (lines: zone address TXT text | A | FAIL; implies --rblsmtpd).", valueName: "FILE"))
    var rblFixture: String?

    @Option(help: ArgumentHelp("The qmail-smtpd build: netqmail (netqmail-1.06), notqmail, or auth (netqmail with the AUTH patch).", valueName: "NAME"))
    var variant: String?

    @Flag(inversion: .prefixedNo, help: "The SMTP AUTH patch (qmail-authentication 0.8.3) is present; each AUTH attempt's recorded outcome is taken as given.")
    var auth: Bool?

    @Option(parsing: .unconditional, help: ArgumentHelp("SMTPAUTH in tcpserver's environment, e.g. '' or '!' or '+cram' (implies --auth).", valueName: "VALUE"))
    var smtpauth: String?

    @Flag(name: .customLong("no-checkpassword"), help: "With --auth: qmail-smtpd runs without a checkpassword program (AUTH answers 503).")
    var noCheckpassword = false

    @Option(name: .customLong("tcpserver-options"), parsing: .unconditional, help: ArgumentHelp("tcpserver's options: -h/-H, -p/-P, -r/-R, -l NAME, -X (default: -h -P -r).", valueName: "OPTIONS"))
    var tcpserverOptions: String?

    @Flag(name: .customLong("lookup-host"), inversion: .prefixedNo, help: "tcpserver -h / -H: look up the client's PTR name (TCPREMOTEHOST) or not.")
    var lookupHost: Bool?

    @Flag(inversion: .prefixedNo, help: "tcpserver -p / -P: drop PTR names that do not resolve back to the client.")
    var paranoid: Bool?

    @Flag(inversion: .prefixedNo, help: "tcpserver -r / -R: ask the client's ident server (TCPREMOTEINFO) or not.")
    var ident: Bool?

    @Option(name: .customLong("local-name"), help: ArgumentHelp("tcpserver -l NAME: the server's own name (TCPLOCALHOST).", valueName: "NAME"))
    var localName: String?

    @Flag(name: .customLong("allow-missing-rules"), help: "tcpserver -X: a missing rules file lets every client in.")
    var allowMissingRules = false

    @Option(help: ArgumentHelp("The server's own addresses, for domain literals (default: the captured server address and 127.0.0.1).", valueName: "IP,..."))
    var ipme: String?

    @Option(name: .customLong("env"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A variable in tcpserver's own environment (repeatable), e.g. RELAYCLIENT= or DATABYTES=1000.", valueName: "NAME=VALUE"))
    var environment: [String] = []

    @Option(help: ArgumentHelp("Client IP → PTR name, one 'IP NAME' per line (as captures/*/ptr.txt); PTR answers in the capture fill in the rest.", valueName: "FILE"))
    var ptr: String?

    /// The files and folders these flags name (never written to).
    var inputPaths: [String] {
        [config, control, rules, rblFixture, ptr].compactMap { $0 } + runScripts
    }

    /// Checks what can be checked without reading files.
    func check() throws(ValidationError) {
        if config != nil && !runScripts.isEmpty {
            throw ValidationError("give either --config or --run, not both")
        }
        if config == nil && runScripts.isEmpty && control == nil {
            throw ValidationError("give the configuration: --control DIR (and --rules FILE, …), --config FILE, or --run SCRIPT")
        }
        if let variant, QmailVariant(name: variant) == nil && variant != "auth" {
            throw ValidationError("--variant must be netqmail, notqmail or auth (got \"\(variant)\")")
        }
        if noCheckpassword && auth == false {
            throw ValidationError("--no-checkpassword needs the AUTH patch (--auth)")
        }
        for item in environment where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--env takes NAME=VALUE (got \"\(item)\")")
        }
        for address in ipmeList ?? [] where RelayConfiguration.parseIPv4(address) == nil {
            throw ValidationError("--ipme: \"\(address)\" is not an IPv4 address")
        }
        if let words = tcpserverOptions.map(Self.words) {
            do {
                let parsed = try TCPServerCommandLine.parse(words)
                if parsed.rulesFile != nil { throw ValidationError("--tcpserver-options: give the rules file with --rules, not -x") }
                if let extra = parsed.remaining.first { throw ValidationError("--tcpserver-options: \"\(extra)\" is not a tcpserver option") }
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("--tcpserver-options: \(error)")
            }
        }
    }

    var ipmeList: [String]? {
        ipme.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// The settings given as flags.
    func spec() throws -> ConfigurationSpec {
        var spec = ConfigurationSpec()
        if let control {
            try Self.requireDirectory(control, flag: "--control")
            spec.control = .directory(control)
        }
        if let rules {
            guard FileManager.default.fileExists(atPath: rules) else {
                throw ReplayInputError(file: rules, message: "rules file does not exist (--rules)")
            }
            spec.rules = .file(rules)
        }
        if rblsmtpd == true || rblsmtpdOptions != nil || rblFixture != nil {
            var fixture = BlocklistFixture()
            if let rblFixture {
                guard let data = FileManager.default.contents(atPath: rblFixture) else {
                    throw ReplayInputError(file: rblFixture, message: "cannot read the block list fixture (--rbl-fixture)")
                }
                fixture = try BlocklistFixture.parse(String(decoding: data, as: UTF8.self), path: rblFixture)
            }
            spec.rblsmtpd = .on(try RBLSMTPDOptions(arguments: Self.words(rblsmtpdOptions ?? ""), fixture: fixture))
        } else if rblsmtpd == false {
            spec.rblsmtpd = .off
        }
        if let variant {
            spec.variant = QmailVariant(name: variant) ?? .netqmail
        }
        if auth == true || variant == "auth" || smtpauth != nil || noCheckpassword {
            spec.auth = .on(AuthOptions(credentials: .recorded([]), hasCheckpassword: !noCheckpassword))
        } else if auth == false {
            spec.auth = .off
        }
        if let smtpauth { spec.environment["SMTPAUTH"] = smtpauth }
        for item in environment {
            let equals = item.firstIndex(of: "=")!
            spec.environment[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        var words = tcpserverOptions.map(Self.words) ?? []
        if let lookupHost { words.append(lookupHost ? "-h" : "-H") }
        if let paranoid { words.append(paranoid ? "-p" : "-P") }
        if let ident { words.append(ident ? "-r" : "-R") }
        if let localName { words += ["-l", localName] }
        if allowMissingRules { words.append("-X") }
        if !words.isEmpty { spec.tcpserver = words }
        if let list = ipmeList { spec.ipme = list }
        return spec
    }

    /// The listeners: from the configuration file, the run scripts, or the flags alone.
    func listeners(maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) throws -> ReplayListeners {
        let overrides = try spec()
        if let config {
            return ReplayListeners(file: try ConfigurationFile.load(path: config, maxFileBytes: maxFileBytes), overrides: overrides)
        }
        if !runScripts.isEmpty {
            var scripts: [RunScript] = []
            for path in runScripts { scripts.append(try RunScript.load(path: path, maxFileBytes: maxFileBytes)) }
            return ReplayListeners(runScripts: scripts, overrides: overrides)
        }
        return ReplayListeners(single: overrides)
    }

    /// The PTR table of `--ptr`, if given.
    func ptrTable() throws -> ReplayPTRTable? {
        try ptr.map { path throws(ReplayInputError) in try ReplayPTRTable.load(path: path) }
    }

    static func requireDirectory(_ path: String, flag: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReplayInputError(file: path, message: "control directory does not exist (\(flag))")
        }
        guard isDirectory.boolValue else {
            throw ReplayInputError(file: path, message: "not a directory (\(flag) names qmail's control folder)")
        }
    }
}

/// One line for an error that stops `relaylab replay` / `extract` (exit status 2).
enum ReplayCLIError {
    static func message(_ error: any Error) -> String {
        switch error {
        case let error as ScenarioError: error.description
        case let error as ScenarioErrors: error.description
        default: "\(error)"
        }
    }
}

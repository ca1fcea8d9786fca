import Foundation
import RelayEngine
public import Scenarios
import TCPRules

/// One configuration `relaylab audit` examines: a listener of a configuration file, a run
/// script, or the command-line flags.
public struct AuditTarget: Sendable {
    /// The listener's name (nil for a single configuration).
    public var name: String?
    /// Its settings, paths resolved.
    public var spec: ConfigurationSpec

    public init(name: String? = nil, spec: ConfigurationSpec) {
        self.name = name
        self.spec = spec
    }
}

/// Static checks of a qmail SMTP configuration — open relays, stale or mismatched databases,
/// entries and rules that never match — each open relay backed by a session the engine really
/// relays (see ``RelayProof``).
///
/// The tcpserver rules are checked by ``RulesLinter`` (its findings keep their codes); the
/// control files by the engine's own ``ConfigurationWarning``s plus the checks here.
public enum Auditor {
    /// Every finding code `relaylab audit` produces itself, with its usual severity and a title
    /// (the README's table). The rules linter's codes (``RulesLinter/codes``) come on top:
    /// its `high` findings are errors, `medium` warnings and `low` info.
    public static let codes: [(code: String, severity: AuditFinding.Severity, title: String)] = [
        ("open-relay-rcpthosts-missing", .error, "control/rcpthosts does not exist: every domain is accepted (morercpthosts.cdb ignored)"),
        ("open-relay-inherited-relayclient", .error, "RELAYCLIENT in tcpserver's own environment: every client may relay"),
        ("rules-source-invalid", .error, "the rules source does not compile (tcprules refuses a line, e.g. a CRLF file)"),
        ("rules-missing", .error, "tcpserver cannot read its rules file: every connection is dropped"),
        ("control-unreadable", .error, "a control file cannot be read: 421 for every connection"),
        ("controls-missing", .error, "neither control/me nor control/smtpgreeting exists: 421 for every connection"),
        ("morercpthosts-without-cdb", .error, "control/morercpthosts exists but morercpthosts.cdb does not (qmail-newmrh not run)"),
        ("morercpthosts-out-of-date", .error, "domains in control/morercpthosts missing from morercpthosts.cdb (qmail-newmrh not run)"),
        ("morercpthosts-cdb-extra", .error, "domains in morercpthosts.cdb no longer in control/morercpthosts (qmail-newmrh not run)"),
        ("morercpthosts-damaged", .error, "morercpthosts.cdb is not a valid cdb"),
        ("morercpthosts-older", .info, "control/morercpthosts is newer than morercpthosts.cdb (same domains)"),
        ("morercpthosts-uppercase-key", .warning, "a morercpthosts.cdb key with capitals never matches"),
        ("carriage-return", .error, "control lines ending in CR (a CRLF file): entries never match (warning outside rcpthosts)"),
        ("rcpthosts-wildcard", .warning, "`*` or `.` in rcpthosts: no wildcards, the entry never matches"),
        ("rcpthosts-trailing-dot", .warning, "an rcpthosts entry ending in `.` never matches"),
        ("rcpthosts-whitespace", .warning, "an rcpthosts entry with a blank (e.g. a leading space) never matches"),
        ("rcpthosts-address", .warning, "an address (with `@`) in rcpthosts never matches"),
        ("rcpthosts-suffix-only", .info, "`.example.com` without `example.com`: the domain itself is refused"),
        ("badmailfrom-angle-brackets", .warning, "a badmailfrom entry in <…> never matches"),
        ("badmailfrom-null-sender", .warning, "`<>` in badmailfrom: the null sender can never be blocked"),
        ("badmailfrom-wildcard", .warning, "`*` in badmailfrom is not a wildcard"),
        ("badmailfrom-subdomain", .warning, "`@.example.com` / `.example.com`: badmailfrom has no subdomain matching"),
        ("badmailfrom-trailing-dot", .warning, "a badmailfrom entry ending in `.` never matches"),
        ("badmailfrom-whitespace", .warning, "a badmailfrom entry with a blank never matches a normal sender"),
        ("badmailfrom-too-long", .warning, "a badmailfrom entry of 900 characters or more never matches"),
        ("not-a-number", .warning, "databytes or timeoutsmtpd is not a number"),
        ("configuration-warning", .warning, "another problem the engine reports"),
    ]

    /// The linter codes that grant RELAYCLIENT to clients: each gets a proof attempt.
    static let relayCodes: Set<String> = ["relay-any-client", "relay-any-host", "relay-broad-prefix", "relay-by-hostname", "relay-by-ident"]

    /// Audits every target; findings that several listeners share are reported once, naming them.
    ///
    /// - Parameter subject: what is audited, for the report's heading.
    /// - Throws: ``ScenarioError`` when a configuration cannot be loaded at all (a control
    ///   directory that does not exist, an unreadable configuration file).
    public static func audit(_ targets: [AuditTarget], subject: String) throws(ScenarioError) -> AuditReport {
        var merged: [AuditFinding] = []
        var index: [String: Int] = [:]
        let named = targets.count > 1
        for target in targets {
            for var finding in try findings(for: target) {
                let key = "\(finding.code)|\(finding.location)|\(finding.message)|\(finding.severity)"
                if let at = index[key] {
                    if named, let name = target.name { merged[at].listeners.append(name) }
                    if merged[at].proof == nil, finding.proof != nil {
                        merged[at].proof = finding.proof
                        merged[at].proofNote = nil
                    }
                    continue
                }
                finding.listeners = named ? target.name.map { [$0] } ?? [] : []
                index[key] = merged.count
                merged.append(finding)
            }
        }
        return AuditReport(subject: subject, findings: merged)
    }

    /// The findings for one configuration.
    public static func findings(for target: AuditTarget) throws(ScenarioError) -> [AuditFinding] {
        var spec = target.spec
        var findings: [AuditFinding] = []

        // A rules source tcprules refuses is a finding, not the end of the audit: the engine goes
        // on with the compiled cdb next to it (what tcpserver really reads), if there is one.
        var rulesSyntaxFinding = false
        if case .file(let path)? = spec.rules {
            let dialect = spec.ucspiTCP ?? .ucspiTCP
            do {
                _ = try RulesDatabase.load(path: path, dialect: dialect)
            } catch {
                if case .syntax(let syntax) = error {
                    let cdbPath = RulesSource.defaultCDBPath(for: path)
                    let hasCDB = FileManager.default.fileExists(atPath: cdbPath)
                    findings.append(rulesSyntax(syntax, cdbPath: hasCDB ? cdbPath : nil))
                    rulesSyntaxFinding = true
                    spec.rules = hasCDB ? .file(cdbPath) : RulesSpec.none
                }
            }
        }

        let loader = ConfigurationLoader()
        let configuration = try loader.configuration(for: spec)
        let serverIP = spec.server.ip ?? ServerSpec.defaultIP
        let serverPort = spec.server.port ?? ServerSpec.defaultPort
        let prober = AuditRelayProber(
            configuration: configuration, serverIP: serverIP, serverPort: serverPort, serverName: spec.server.hostname)

        // tcpserver's rules, through the linter.
        findings += rulesFindings(spec: spec, configuration: configuration, prober: prober, skipSourceInvalid: rulesSyntaxFinding)

        // The control files: the engine's warnings, then the checks it does not make.
        let probe = RelaySession(
            configuration: configuration,
            connection: ClientConnection(clientIP: "192.0.2.9", serverIP: serverIP, serverPort: serverPort))
        findings += AuditControlChecks.warnings(probe.warnings, control: configuration.control, prober: prober)
        findings += AuditControlChecks.rcpthosts(configuration.control)
        findings += AuditControlChecks.morercpthosts(configuration.control, spec: spec)
        findings += AuditControlChecks.badmailfrom(configuration.control)

        // RELAYCLIENT from tcpserver's own environment.
        if let value = configuration.environment["RELAYCLIENT"] {
            findings.append(inheritedRelayClient(value: value, spec: spec, prober: prober))
        }
        return findings
    }

    // MARK: - Rules

    static func rulesSyntax(_ syntax: RulesSyntaxError, cdbPath: String?) -> AuditFinding {
        let crlf = syntax.reason == .carriageReturn
        var consequence = "tcprules stops at this line and does not replace the cdb, so tcpserver keeps using "
        consequence += cdbPath.map { "the old \($0), not the rules written here (the rest of the audit uses that cdb)" }
            ?? "whatever cdb it had; there is none next to the file (the rest of the audit runs without rules)"
        return AuditFinding(
            code: "rules-source-invalid", severity: .error, file: syntax.path, line: syntax.line,
            message: "tcprules refuses this line: " + syntax.message,
            consequence: consequence,
            fix: crlf
                ? "convert the file to LF line endings (dos2unix \(syntax.path)), then recompile it with tcprules"
                : "correct the line (relaylab rules lint \(syntax.path) shows where), then recompile it with tcprules")
    }

    static func severity(_ severity: RulesLintFinding.Severity) -> AuditFinding.Severity {
        switch severity {
        case .high: .error
        case .medium: .warning
        case .low: .info
        }
    }

    static func rulesFindings(
        spec: ConfigurationSpec, configuration: RelayConfiguration, prober: AuditRelayProber, skipSourceInvalid: Bool
    ) -> [AuditFinding] {
        guard let rules = configuration.rules, rules.readFailure == nil else { return [] }
        var lint: [RulesLintFinding] = []
        if case .text = spec.rules, let source = rules.source {
            lint = RulesLinter.lint(source)
        } else if let report = try? RulesLinter.lint(path: rules.path, dialect: rules.dialect) {
            lint = report.findings
        } else if let source = rules.source {
            lint = RulesLinter.lint(source)
        }
        var findings: [AuditFinding] = []
        for item in lint {
            if skipSourceInvalid && item.code == "source-invalid" { continue }
            var finding = AuditFinding(
                code: item.code, severity: severity(item.severity), file: item.path, line: item.line, record: item.record,
                message: item.message, consequence: item.why, fix: item.fix)
            if relayCodes.contains(item.code), let key = item.key {
                attachProof(
                    to: &finding,
                    prober.search(
                        AuditRelayProber.candidates(forRuleKey: key),
                        accepts: { $0.ruleKey == key && (item.line == nil || $0.ruleSource?.line == item.line) },
                        relayFact: { decision in decision.reasons.contains { if case .relayClient = $0.kind { true } else { false } } }),
                    ruleKey: key, tcpserver: configuration.tcpserver)
            }
            findings.append(finding)
        }
        return findings
    }

    /// Attaches a proof, or, when the engine relays for no client, says why and lowers an error
    /// to a warning (the rule is dangerous, but not an open relay in this configuration).
    static func attachProof(
        to finding: inout AuditFinding, _ outcome: AuditRelayProber.Outcome, ruleKey: String? = nil,
        tcpserver: TCPServerOptions? = nil
    ) {
        switch outcome {
        case .proof(let proof):
            finding.proof = proof
        case .other(let proof, let grant):
            finding.proof = proof
            finding.proofNote = "the engine relays for this client through another grant, which masks this one: \(grant)"
        case .none(var why):
            if let ruleKey, let tcpserver {
                if ruleKey.hasPrefix("=") || ruleKey.contains("@=") {
                    if !tcpserver.lookupRemoteHost { why = "tcpserver runs with -H, so host rules never apply" }
                }
                if ruleKey.contains("@") && !tcpserver.lookupRemoteInfo { why = "tcpserver runs with -R, so info@ rules never apply" }
            }
            finding.proofNote = why
            if finding.severity == .error {
                finding.severity = .warning
                finding.message += " (not exploitable in this configuration: the engine found no client that relays)"
            }
        }
    }

    // MARK: - Environment

    static func inheritedRelayClient(value: String, spec: ConfigurationSpec, prober: AuditRelayProber) -> AuditFinding {
        var file = "tcpserver environment (--env)"
        var line: Int? = nil
        if let position = spec.positions["env.RELAYCLIENT"] ?? spec.positions["env"] {
            file = position.file
            line = position.line
        }
        var finding = AuditFinding(
            code: "open-relay-inherited-relayclient", severity: .error, file: file, line: line,
            message: "RELAYCLIENT=\"\(value)\" is in tcpserver's own environment",
            consequence: "tcpserver passes its environment on to every connection it allows, so every client gets RELAYCLIENT and qmail-smtpd relays for anyone (rules cannot unset a variable)"
                + (value.isEmpty ? "" : "; its value \"\(value)\" is also appended to every recipient"),
            fix: "remove RELAYCLIENT from the run script's environment (e.g. start tcpserver with `env -` or unset it) and grant it per network in the rules: 127.:allow,RELAYCLIENT=\"\"")
        attachProof(
            to: &finding,
            prober.search(
                AuditRelayProber.anyClients(), accepts: { _ in true },
                relayFact: { decision in
                    decision.reasons.contains {
                        if case .relayClient = $0.kind { return $0.source?.file == "tcpserver environment" }
                        return false
                    }
                }))
        return finding
    }
}

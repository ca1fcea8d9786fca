import ArgumentParser

// The two sides of `relaylab compare`, each given like `relaylab replay`'s configuration
// (ReplayConfigurationFlags) with its flags prefixed: --baseline FILE.yaml or
// --baseline-control DIR --baseline-rules FILE …, and the same for --candidate. Each side is
// turned back into ReplayConfigurationFlags' own arguments and parsed by it, so both commands
// read configurations the same way.

/// What one side's flags hold, whichever side it is.
struct CompareSideValues {
    var config: String?
    var rev: String?
    var runScripts: [String] = []
    var control: String?
    var rules: String?
    var rblsmtpd: Bool?
    var rblsmtpdOptions: String?
    var rblFixture: String?
    var variant: String?
    var auth: Bool?
    var smtpauth: String?
    var noCheckpassword = false
    var tcpserverOptions: String?
    var allowMissingRules = false
    var ipme: String?
    var environment: [String] = []

    /// Whether any configuration flag (other than the revision) is given.
    var isEmpty: Bool {
        config == nil && runScripts.isEmpty && control == nil && rules == nil && rblsmtpd == nil && rblsmtpdOptions == nil
            && rblFixture == nil && variant == nil && auth == nil && smtpauth == nil && !noCheckpassword
            && tcpserverOptions == nil && !allowMissingRules && ipme == nil && environment.isEmpty
    }

    /// The same settings as `relaylab replay` arguments.
    var arguments: [String] {
        var arguments: [String] = []
        if let config { arguments += ["--config", config] }
        for script in runScripts { arguments += ["--run", script] }
        if let control { arguments += ["--control", control] }
        if let rules { arguments += ["--rules", rules] }
        if let rblsmtpd { arguments.append(rblsmtpd ? "--rblsmtpd" : "--no-rblsmtpd") }
        if let rblsmtpdOptions { arguments += ["--rblsmtpd-options", rblsmtpdOptions] }
        if let rblFixture { arguments += ["--rbl-fixture", rblFixture] }
        if let variant { arguments += ["--variant", variant] }
        if let auth { arguments.append(auth ? "--auth" : "--no-auth") }
        if let smtpauth { arguments += ["--smtpauth", smtpauth] }
        if noCheckpassword { arguments.append("--no-checkpassword") }
        if let tcpserverOptions { arguments += ["--tcpserver-options", tcpserverOptions] }
        if allowMissingRules { arguments.append("--allow-missing-rules") }
        if let ipme { arguments += ["--ipme", ipme] }
        for item in environment { arguments += ["--env", item] }
        return arguments
    }

    /// The settings with every file path passed through `map` (a git revision's copy).
    func mappingPaths(_ map: (String) throws -> String) rethrows -> CompareSideValues {
        var values = self
        values.config = try config.map(map)
        values.runScripts = try runScripts.map(map)
        values.control = try control.map(map)
        values.rules = try rules.map(map)
        values.rblFixture = try rblFixture.map(map)
        return values
    }

    /// How the side is given, for the report's heading.
    var summary: String {
        var text: String
        if let config {
            text = config
        } else if !runScripts.isEmpty {
            text = runScripts.joined(separator: ", ")
        } else {
            text = "control \(control ?? "?")" + (rules.map { ", rules \($0)" } ?? "")
        }
        let others = arguments.filter { $0.hasPrefix("--") && !["--config", "--run", "--control", "--rules"].contains($0) }
        if !others.isEmpty { text += " (" + others.joined(separator: " ") + ")" }
        if let rev { text = "\(rev): " + text }
        return text
    }
}

/// Which side of a comparison a set of flags describes: its flags are `--NAME…`, and its help
/// texts name it (and, for `--NAME-rev`, the other side).
protocol CompareSide {
    static var name: String { get }
    static var other: String { get }
}

enum BaselineSide: CompareSide {
    static let name = "baseline"
    static let other = "candidate"
}

enum CandidateSide: CompareSide {
    static let name = "candidate"
    static let other = "baseline"
}

/// `--baseline …` flags.
typealias BaselineFlags = CompareSideFlags<BaselineSide>
/// `--candidate …` flags.
typealias CandidateFlags = CompareSideFlags<CandidateSide>

/// One side's flags: `--baseline …` or `--candidate …`.
struct CompareSideFlags<Side: CompareSide>: ParsableArguments {
    @Option(name: .customLong(Side.name), help: ArgumentHelp("The \(Side.name) configuration file (as relaylab replay --config reads it).", valueName: "FILE.yaml"))
    var config: String?

    @Option(name: .customLong(Side.name + "-rev"), help: ArgumentHelp("Read the \(Side.name)'s files from this git revision of the current repository (without other --\(Side.name) flags: the \(Side.other)'s files as they were at REV).", valueName: "REV"))
    var rev: String?

    @Option(name: .customLong(Side.name + "-run"), help: ArgumentHelp("A run script starting tcpserver, one listener each (repeatable).", valueName: "FILE"))
    var runScripts: [String] = []

    @Option(name: .customLong(Side.name + "-control"), help: ArgumentHelp("The \(Side.name)'s qmail control directory.", valueName: "DIR"))
    var control: String?

    @Option(name: .customLong(Side.name + "-rules"), help: ArgumentHelp("The \(Side.name)'s tcpserver -x rules (cdb or tcprules source).", valueName: "FILE"))
    var rules: String?

    @Flag(name: .customLong(Side.name + "-rblsmtpd"), inversion: .prefixedNo, help: "rblsmtpd in the \(Side.name)'s chain.")
    var rblsmtpd: Bool?

    @Option(name: .customLong(Side.name + "-rblsmtpd-options"), parsing: .unconditional, help: ArgumentHelp("The \(Side.name)'s rblsmtpd options.", valueName: "OPTIONS"))
    var rblsmtpdOptions: String?

    @Option(name: .customLong(Side.name + "-rbl-fixture"), help: ArgumentHelp("DNS answers for the \(Side.name)'s rblsmtpd zones.", valueName: "FILE"))
    var rblFixture: String?

    @Option(name: .customLong(Side.name + "-variant"), help: ArgumentHelp("The \(Side.name)'s qmail-smtpd build: netqmail, notqmail or auth.", valueName: "NAME"))
    var variant: String?

    @Flag(name: .customLong(Side.name + "-auth"), inversion: .prefixedNo, help: "The SMTP AUTH patch in the \(Side.name).")
    var auth: Bool?

    @Option(name: .customLong(Side.name + "-smtpauth"), parsing: .unconditional, help: ArgumentHelp("SMTPAUTH in the \(Side.name)'s tcpserver environment.", valueName: "VALUE"))
    var smtpauth: String?

    @Flag(name: .customLong(Side.name + "-no-checkpassword"), help: "The \(Side.name)'s qmail-smtpd has no checkpassword program.")
    var noCheckpassword = false

    @Option(name: .customLong(Side.name + "-tcpserver-options"), parsing: .unconditional, help: ArgumentHelp("The \(Side.name)'s tcpserver options (-h/-H, -p/-P, -r/-R, -l NAME, -X).", valueName: "OPTIONS"))
    var tcpserverOptions: String?

    @Flag(name: .customLong(Side.name + "-allow-missing-rules"), help: "The \(Side.name)'s tcpserver has -X.")
    var allowMissingRules = false

    @Option(name: .customLong(Side.name + "-ipme"), help: ArgumentHelp("The \(Side.name) server's own addresses.", valueName: "IP,..."))
    var ipme: String?

    @Option(name: .customLong(Side.name + "-env"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A variable in the \(Side.name)'s tcpserver environment (repeatable).", valueName: "NAME=VALUE"))
    var environment: [String] = []

    var values: CompareSideValues {
        CompareSideValues(
            config: config, rev: rev, runScripts: runScripts, control: control, rules: rules, rblsmtpd: rblsmtpd,
            rblsmtpdOptions: rblsmtpdOptions, rblFixture: rblFixture, variant: variant, auth: auth, smtpauth: smtpauth,
            noCheckpassword: noCheckpassword, tcpserverOptions: tcpserverOptions, allowMissingRules: allowMissingRules,
            ipme: ipme, environment: environment)
    }
}

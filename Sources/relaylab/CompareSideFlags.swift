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

/// `--baseline …` flags.
struct BaselineFlags: ParsableArguments {
    @Option(name: .customLong("baseline"), help: ArgumentHelp("The baseline configuration file (as relaylab replay --config reads it).", valueName: "FILE.yaml"))
    var config: String?

    @Option(name: .customLong("baseline-rev"), help: ArgumentHelp("Read the baseline's files from this git revision of the current repository (without other --baseline flags: the candidate's files as they were at REV).", valueName: "REV"))
    var rev: String?

    @Option(name: .customLong("baseline-run"), help: ArgumentHelp("A run script starting tcpserver, one listener each (repeatable).", valueName: "FILE"))
    var runScripts: [String] = []

    @Option(name: .customLong("baseline-control"), help: ArgumentHelp("The baseline's qmail control directory.", valueName: "DIR"))
    var control: String?

    @Option(name: .customLong("baseline-rules"), help: ArgumentHelp("The baseline's tcpserver -x rules (cdb or tcprules source).", valueName: "FILE"))
    var rules: String?

    @Flag(name: .customLong("baseline-rblsmtpd"), inversion: .prefixedNo, help: "rblsmtpd in the baseline's chain.")
    var rblsmtpd: Bool?

    @Option(name: .customLong("baseline-rblsmtpd-options"), parsing: .unconditional, help: ArgumentHelp("The baseline's rblsmtpd options.", valueName: "OPTIONS"))
    var rblsmtpdOptions: String?

    @Option(name: .customLong("baseline-rbl-fixture"), help: ArgumentHelp("DNS answers for the baseline's rblsmtpd zones.", valueName: "FILE"))
    var rblFixture: String?

    @Option(name: .customLong("baseline-variant"), help: ArgumentHelp("The baseline's qmail-smtpd build: netqmail, notqmail or auth.", valueName: "NAME"))
    var variant: String?

    @Flag(name: .customLong("baseline-auth"), inversion: .prefixedNo, help: "The SMTP AUTH patch in the baseline.")
    var auth: Bool?

    @Option(name: .customLong("baseline-smtpauth"), parsing: .unconditional, help: ArgumentHelp("SMTPAUTH in the baseline's tcpserver environment.", valueName: "VALUE"))
    var smtpauth: String?

    @Flag(name: .customLong("baseline-no-checkpassword"), help: "The baseline's qmail-smtpd has no checkpassword program.")
    var noCheckpassword = false

    @Option(name: .customLong("baseline-tcpserver-options"), parsing: .unconditional, help: ArgumentHelp("The baseline's tcpserver options (-h/-H, -p/-P, -r/-R, -l NAME, -X).", valueName: "OPTIONS"))
    var tcpserverOptions: String?

    @Flag(name: .customLong("baseline-allow-missing-rules"), help: "The baseline's tcpserver has -X.")
    var allowMissingRules = false

    @Option(name: .customLong("baseline-ipme"), help: ArgumentHelp("The baseline server's own addresses.", valueName: "IP,..."))
    var ipme: String?

    @Option(name: .customLong("baseline-env"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A variable in the baseline's tcpserver environment (repeatable).", valueName: "NAME=VALUE"))
    var environment: [String] = []

    var values: CompareSideValues {
        CompareSideValues(
            config: config, rev: rev, runScripts: runScripts, control: control, rules: rules, rblsmtpd: rblsmtpd,
            rblsmtpdOptions: rblsmtpdOptions, rblFixture: rblFixture, variant: variant, auth: auth, smtpauth: smtpauth,
            noCheckpassword: noCheckpassword, tcpserverOptions: tcpserverOptions, allowMissingRules: allowMissingRules,
            ipme: ipme, environment: environment)
    }
}

/// `--candidate …` flags.
struct CandidateFlags: ParsableArguments {
    @Option(name: .customLong("candidate"), help: ArgumentHelp("The candidate configuration file (as relaylab replay --config reads it).", valueName: "FILE.yaml"))
    var config: String?

    @Option(name: .customLong("candidate-rev"), help: ArgumentHelp("Read the candidate's files from this git revision of the current repository (without other --candidate flags: the baseline's files as they were at REV).", valueName: "REV"))
    var rev: String?

    @Option(name: .customLong("candidate-run"), help: ArgumentHelp("A run script starting tcpserver, one listener each (repeatable).", valueName: "FILE"))
    var runScripts: [String] = []

    @Option(name: .customLong("candidate-control"), help: ArgumentHelp("The candidate's qmail control directory.", valueName: "DIR"))
    var control: String?

    @Option(name: .customLong("candidate-rules"), help: ArgumentHelp("The candidate's tcpserver -x rules (cdb or tcprules source).", valueName: "FILE"))
    var rules: String?

    @Flag(name: .customLong("candidate-rblsmtpd"), inversion: .prefixedNo, help: "rblsmtpd in the candidate's chain.")
    var rblsmtpd: Bool?

    @Option(name: .customLong("candidate-rblsmtpd-options"), parsing: .unconditional, help: ArgumentHelp("The candidate's rblsmtpd options.", valueName: "OPTIONS"))
    var rblsmtpdOptions: String?

    @Option(name: .customLong("candidate-rbl-fixture"), help: ArgumentHelp("DNS answers for the candidate's rblsmtpd zones.", valueName: "FILE"))
    var rblFixture: String?

    @Option(name: .customLong("candidate-variant"), help: ArgumentHelp("The candidate's qmail-smtpd build: netqmail, notqmail or auth.", valueName: "NAME"))
    var variant: String?

    @Flag(name: .customLong("candidate-auth"), inversion: .prefixedNo, help: "The SMTP AUTH patch in the candidate.")
    var auth: Bool?

    @Option(name: .customLong("candidate-smtpauth"), parsing: .unconditional, help: ArgumentHelp("SMTPAUTH in the candidate's tcpserver environment.", valueName: "VALUE"))
    var smtpauth: String?

    @Flag(name: .customLong("candidate-no-checkpassword"), help: "The candidate's qmail-smtpd has no checkpassword program.")
    var noCheckpassword = false

    @Option(name: .customLong("candidate-tcpserver-options"), parsing: .unconditional, help: ArgumentHelp("The candidate's tcpserver options (-h/-H, -p/-P, -r/-R, -l NAME, -X).", valueName: "OPTIONS"))
    var tcpserverOptions: String?

    @Flag(name: .customLong("candidate-allow-missing-rules"), help: "The candidate's tcpserver has -X.")
    var allowMissingRules = false

    @Option(name: .customLong("candidate-ipme"), help: ArgumentHelp("The candidate server's own addresses.", valueName: "IP,..."))
    var ipme: String?

    @Option(name: .customLong("candidate-env"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A variable in the candidate's tcpserver environment (repeatable).", valueName: "NAME=VALUE"))
    var environment: [String] = []

    var values: CompareSideValues {
        CompareSideValues(
            config: config, rev: rev, runScripts: runScripts, control: control, rules: rules, rblsmtpd: rblsmtpd,
            rblsmtpdOptions: rblsmtpdOptions, rblFixture: rblFixture, variant: variant, auth: auth, smtpauth: smtpauth,
            noCheckpassword: noCheckpassword, tcpserverOptions: tcpserverOptions, allowMissingRules: allowMissingRules,
            ipme: ipme, environment: environment)
    }
}

import TCPRules

/// Where a variable of the programs' environment came from (the rule that set it, tcpserver's
/// own environment, or a given environment), answered when asked: the programs ask only about
/// RELAYCLIENT, RBLSMTPD and DATABYTES, so nothing is built for every variable of every
/// connection.
struct _EnvironmentSources {
    private enum Origin {
        /// tcpserver ran: the matched rule (its variables win), then the inherited environment.
        case tcpserver(match: RuleMatch?, rulesPath: String?, inherited: [String: String])
        /// The environment was given: RELAYCLIENT and RBLSMTPD are "environment".
        case given([String: String])
    }

    private let origin: Origin

    /// The sources of an environment tcpserver built for an allowed connection.
    init(match: RuleMatch?, rulesPath: String?, inherited: [String: String]) {
        origin = .tcpserver(match: match, rulesPath: rulesPath, inherited: inherited)
    }

    /// The sources of a given environment.
    init(given environment: [String: String]) {
        origin = .given(environment)
    }

    /// Where `name` came from; nil when it is unset or its origin is not known.
    subscript(name: String) -> SourceLocation? {
        switch origin {
        case .tcpserver(let match, let rulesPath, let inherited):
            if let match, match.variables.contains(where: { $0.name == name }) {
                return match.path.map { SourceLocation(file: $0, line: match.line) }
                    ?? SourceLocation(file: rulesPath ?? "rules")
            }
            return inherited[name] == nil ? nil : SourceLocation(file: "tcpserver environment")
        case .given(let environment):
            guard name == "RELAYCLIENT" || name == "RBLSMTPD", environment[name] != nil else { return nil }
            return SourceLocation(file: "environment")
        }
    }
}

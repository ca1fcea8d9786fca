import ArgumentParser
import Foundation
import TCPRules

extension Rules {
    /// `relaylab rules check RULES --ip IP [--host NAME] [--info USER]`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which rule tcpserver applies to a client; the output is exactly tcprulescheck's.",
            discussion: """
                Like tcprulescheck, values not given as options come from TCPREMOTEIP, TCPREMOTEHOST and \
                TCPREMOTEINFO in the environment, and a missing IP counts as 0.0.0.0. RULES may be source or a \
                compiled cdb. --explain adds every key tried and the source line of the matching rule.
                """
        )

        @Argument(help: "The rules: tcprules source (tcp.smtp) or a compiled cdb (tcp.smtp.cdb).")
        var rules: String

        @Option(help: "The client's IP address as tcpserver prints it (TCPREMOTEIP).")
        var ip: String?

        @Option(help: "TCPREMOTEHOST as tcpserver sets it (lower case, escaped). An empty string is set-but-empty.")
        var host: String?

        @Option(help: "TCPREMOTEINFO (the ident user name). An empty string is set-but-empty.")
        var info: String?

        @Flag(help: "Also list the keys tried and the matching rule's source line.")
        var explain = false

        @Option(help: "Output format: text (tcprulescheck's) or json.")
        var format: RulesOutputFormat = .text

        @OptionGroup var dialectOptions: RulesDialectOptions

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let client = RuleClient(
                ip: ip ?? environment["TCPREMOTEIP"] ?? "0.0.0.0",
                host: host ?? environment["TCPREMOTEHOST"],
                info: info ?? environment["TCPREMOTEINFO"])
            let database: RulesDatabase
            let match: RuleMatch
            let output: [UInt8]
            do {
                database = try RulesDatabase.load(path: rules, dialect: dialectOptions.parsing)
                match = try database.match(client, dialect: dialectOptions.matching)
                output = try database.tcprulescheckOutput(for: client, dialect: dialectOptions.matching)
            } catch {
                throw RulesCLI.fail("check", error.diagnostic)
            }
            let rule = ruleText(database, match)
            switch format {
            case .text:
                RulesCLI.write(output)
                if explain { RulesCLI.write(explanation(client, database, match, rule)) }
            case .json:
                RulesCLI.write(
                    try RulesCLI.json(
                        CheckReport(
                            rules: rules, kind: database.kind.rawValue,
                            dialect: dialectOptions.dialect?.rawValue, client: client, match: match, rule: rule,
                            tcprulescheck: String(decoding: output, as: UTF8.self), notes: notes(client))))
            }
        }

        /// The source line of the matching rule, when known.
        func ruleText(_ database: RulesDatabase, _ match: RuleMatch) -> String? {
            guard let line = match.line, let source = database.source else { return nil }
            return source.rules.first { $0.line == line }?.text
        }

        /// Remarks about inputs tcpserver could never produce.
        func notes(_ client: RuleClient) -> [String] {
            var notes: [String] = []
            if let printed = TCPServer.formatIP(client.ip), printed != client.ip {
                notes.append("tcpserver prints this address as \(printed), so it never sets TCPREMOTEIP=\(client.ip)")
            } else if TCPServer.formatIP(client.ip) == nil {
                notes.append("\(client.ip) is not an IP address; tcpserver never sets TCPREMOTEIP to it")
            }
            if let host = client.host, !host.isEmpty {
                let escaped = TCPServer.escapeHostName(host)
                if escaped != host && !host.contains("\\") {
                    notes.append("tcpserver would set TCPREMOTEHOST=\(escaped) for this PTR name (lower case, escaped)")
                }
            } else if client.host == "" {
                notes.append("tcpserver never sets TCPREMOTEHOST to an empty string")
            }
            return notes
        }

        func explanation(_ client: RuleClient, _ database: RulesDatabase, _ match: RuleMatch, _ rule: String?) -> String {
            func shown(_ value: String?) -> String { value.map { "'\($0)'" } ?? "(unset)" }
            var text = "\nexplanation:\n"
            text += "  client: ip \(shown(client.ip)), host \(shown(client.host)), info \(shown(client.info))\n"
            text += "  rules: \(database.path) (\(database.kind.rawValue))\n"
            text += "  keys tried, first present wins:\n"
            let width = min(40, (match.keysTried.map { $0.count }.max() ?? 0) + 2)
            for (index, key) in match.keysTried.enumerated() {
                let label = key.isEmpty ? "(empty key)" : key
                let padded = label.count >= width ? label + "  " : label + String(repeating: " ", count: width - label.count)
                let verdict = index == match.keysTried.count - 1 && match.key != nil ? "matched" : "not present"
                text += "    \(padded)\(verdict)\n"
            }
            if let location = match.location, let rule {
                text += "  rule: \(location): \(rule)\n"
            } else if let location = match.location {
                text += "  rule: \(location) (no source line known)\n"
            } else {
                text += "  rule: none; tcpserver allows the connection and sets no variables\n"
            }
            if match.key != nil {
                switch match.action {
                case .deny:
                    text += "  decision: deny (tcpserver closes the connection without a byte)\n"
                case .allow:
                    let environment = match.environment.sorted { $0.key < $1.key }
                        .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    text += "  decision: allow; variables set: \(environment.isEmpty ? "none" : environment)\n"
                }
            }
            for note in notes(client) { text += "  note: \(note)\n" }
            return text
        }
    }
}

/// The JSON form of `relaylab rules check`.
struct CheckReport: Encodable {
    var rules: String
    var kind: String
    var dialect: String?
    var client: RuleClient
    var match: RuleMatch
    var rule: String?
    var tcprulescheck: String
    var notes: [String]

    enum CodingKeys: String, CodingKey {
        case rules, kind, dialect, client, key, action, variables, environment, path, line, rule, keysTried,
            tcprulescheck, notes
    }

    enum ClientKeys: String, CodingKey { case ip, host, info }
    enum VariableKeys: String, CodingKey { case name, value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rules, forKey: .rules)
        try container.encode(kind, forKey: .kind)
        try container.encode(dialect, forKey: .dialect)
        var clientContainer = container.nestedContainer(keyedBy: ClientKeys.self, forKey: .client)
        try clientContainer.encode(client.ip, forKey: .ip)
        try clientContainer.encode(client.host, forKey: .host)
        try clientContainer.encode(client.info, forKey: .info)
        try container.encode(match.key, forKey: .key)
        try container.encode(match.action.rawValue, forKey: .action)
        var variables = container.nestedUnkeyedContainer(forKey: .variables)
        for variable in match.variables {
            var item = variables.nestedContainer(keyedBy: VariableKeys.self)
            try item.encode(variable.name, forKey: .name)
            try item.encode(variable.value, forKey: .value)
        }
        try container.encode(match.environment, forKey: .environment)
        try container.encode(match.key == nil ? nil : match.path, forKey: .path)
        try container.encode(match.line, forKey: .line)
        try container.encode(rule, forKey: .rule)
        try container.encode(match.keysTried, forKey: .keysTried)
        try container.encode(tcprulescheck, forKey: .tcprulescheck)
        try container.encode(notes, forKey: .notes)
    }
}

extension Error {
    /// A multi-line message for the user (syntax errors show the line and a caret).
    var diagnostic: String {
        if let error = self as? RulesError { return error.diagnostic }
        return String(describing: self)
    }
}

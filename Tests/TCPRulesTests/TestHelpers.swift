import CDB
import TCPRules

/// Parses source with the stock dialect (or the given one), failing the test on error.
func parse(_ text: String, dialect: RulesDialect = .ucspiTCP) throws -> RulesSource {
    try RulesSource(parsing: text, path: "tcp.smtp", dialect: dialect)
}

/// The syntax error a source produces, or nil if it parses.
func syntaxError(_ text: String, dialect: RulesDialect = .ucspiTCP) -> RulesSyntaxError? {
    do {
        _ = try RulesSource(parsing: text, path: "tcp.smtp", dialect: dialect)
        return nil
    } catch {
        return error
    }
}

/// The records of the compiled cdb as (key, data) text pairs, in stored order.
func records(_ text: String, dialect: RulesDialect = .ucspiTCP) throws -> [[String]] {
    let cdb = try CDB(bytes: try parse(text, dialect: dialect).compiled())
    return try cdb.allRecords().map { [$0.key.string, $0.data.string] }
}

/// tcprulescheck's output for a client, from source.
func check(_ text: String, _ client: RuleClient, dialect: RulesDialect? = nil) throws -> String {
    let database = try RulesDatabase(source: text, path: "tcp.smtp", dialect: dialect ?? .ucspiTCP)
    return String(decoding: try database.tcprulescheckOutput(for: client, dialect: dialect), as: UTF8.self)
}

/// The explained match for a client, from source.
func match(_ text: String, _ client: RuleClient, dialect: RulesDialect? = nil) throws -> RuleMatch {
    let database = try RulesDatabase(source: text, path: "tcp.smtp", dialect: dialect ?? .ucspiTCP)
    return try database.match(client, dialect: dialect)
}

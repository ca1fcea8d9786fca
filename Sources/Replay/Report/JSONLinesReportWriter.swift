import Scenarios

/// JSON Lines: one record per connection, then `{"type":"summary",…}` last. Field names are a
/// contract (users' scripts read them); new fields may be added, none renamed or removed.
///
/// Connection record:
///
///     {"type":"connection","file":"scenarios/classic.yaml","line":12,"name":"…",
///      "client":{"ip":"10.1.2.15","port":40000,"ptr":"ws15.office.example.net"},
///      "server":{"ip":"192.0.2.25","port":25},"listener":null,"verdict":"passed",
///      "connection":{"decision":"allow","rule":"10.1.","rule_source":"tcp.smtp:12",
///                    "rblsmtpd":null,"reasons":[…],"expected":"allow","verdict":"passed"},
///      "steps":[{"index":1,"line":14,"kind":"command","client":"EHLO ws15\r\n",
///                "reply":["250-mx.example.net","250-PIPELINING","250 8BITMIME"],"closed":false,
///                "stage":"qmail-smtpd","decision":"accept","subject":"helo","reasons":[],
///                "expected":"250","verdict":"passed"}, …],
///      "differences":[{"line":34,"column":9,"step":3,"subject":"RCPT TO:<…>","expected":"relay",
///                      "actual":"553 sorry, … (refuse)","explanation":[…]}],"warnings":[]}
///
/// `client` is the exact bytes sent (CRLF included) when they are UTF-8 text; otherwise it is
/// escaped for display and `client_hex` holds the bytes. Message bodies are summarised as
/// `<message: N lines, M bytes>` and AUTH responses withheld (`<AUTH response>`). `reply_hex`
/// appears when the reply is not valid UTF-8. Then:
///
///     {"type":"error","file":"…","line":3,"column":5,"message":"…"}     (files not checked)
///     {"type":"summary","connections":N,"passed":N,"failed":N,"steps":N}
public struct JSONLinesReportWriter: ReportWriter {
    public init() {}

    public mutating func write(_ result: ConnectionResult) -> String {
        var out = "{\"type\":\"connection\""
        out += ",\"file\":" + ByteText.json(result.position?.file ?? result.suite)
        out += ",\"line\":" + (result.position.map { String($0.line) } ?? "null")
        out += ",\"name\":" + ByteText.json(result.name)
        out += ",\"client\":{\"ip\":\(ByteText.json(result.client.ip)),\"port\":\(result.client.port),\"ptr\":\(ByteText.json(result.client.name))}"
        out += ",\"server\":{\"ip\":\(ByteText.json(result.server.ip)),\"port\":\(result.server.port)}"
        out += ",\"listener\":" + ByteText.json(result.listener)
        out += ",\"verdict\":" + ByteText.json(result.verdict.rawValue)
        let connection = result.connection
        out += ",\"connection\":{\"decision\":\(ByteText.json(connection.decision))"
        out += ",\"rule\":" + ByteText.json(connection.rule)
        out += ",\"rule_source\":" + ByteText.json(connection.ruleSource)
        out += ",\"rblsmtpd\":" + ByteText.json(connection.blocklist)
        out += ",\"reasons\":" + ByteText.json(connection.reasonTexts)
        out += ",\"expected\":" + ByteText.json(connection.expected)
        out += ",\"verdict\":" + ByteText.json(connection.verdict.rawValue) + "}"
        out += ",\"steps\":["
        for (offset, step) in result.steps.enumerated() {
            if offset > 0 { out += "," }
            out += record(step)
        }
        out += "],\"differences\":["
        for (offset, difference) in result.differences.enumerated() {
            if offset > 0 { out += "," }
            out += "{\"line\":" + (difference.position.map { String($0.line) } ?? "null")
            out += ",\"column\":" + (difference.position.map { String($0.column) } ?? "null")
            out += ",\"step\":" + (difference.step.map(String.init) ?? "null")
            out += ",\"subject\":" + ByteText.json(difference.subject)
            out += ",\"expected\":" + ByteText.json(difference.expected)
            out += ",\"actual\":" + ByteText.json(difference.actual)
            out += ",\"explanation\":" + ByteText.json(difference.explanation) + "}"
        }
        out += "],\"warnings\":" + ByteText.json(result.warnings) + "}\n"
        return out
    }

    private func record(_ step: StepResult) -> String {
        var out = "{\"index\":\(step.index)"
        out += ",\"line\":" + (step.position.map { String($0.line) } ?? "null")
        out += ",\"kind\":" + ByteText.json(step.kind.rawValue)
        switch step.kind {
        case .command:
            if ByteText.isValidUTF8(step.client) {
                out += ",\"client\":" + ByteText.json(String(decoding: step.client, as: UTF8.self))
            } else {
                out += ",\"client\":" + ByteText.json(ByteText.escaped(step.client))
                out += ",\"client_hex\":" + ByteText.json(ByteText.hex(step.client))
            }
        default:
            out += ",\"client\":" + ByteText.json(step.clientText)
        }
        out += ",\"reply\":" + ByteText.json(step.reply)
        if !ByteText.isValidUTF8(step.replyBytes) { out += ",\"reply_hex\":" + ByteText.json(ByteText.hex(step.replyBytes)) }
        out += ",\"closed\":" + (step.closed ? "true" : "false")
        out += ",\"stage\":" + ByteText.json(step.stage)
        out += ",\"decision\":" + ByteText.json(step.decision)
        out += ",\"subject\":" + ByteText.json(step.subject)
        out += ",\"reasons\":" + ByteText.json(step.reasonTexts)
        out += ",\"expected\":" + ByteText.json(step.expected)
        out += ",\"verdict\":" + ByteText.json(step.verdict.rawValue)
        if let note = step.note { out += ",\"note\":" + ByteText.json(note) }
        out += "}"
        return out
    }

    public mutating func write(_ problem: ReportProblem) -> String {
        var out = "{\"type\":" + ByteText.json(problem.isWarning ? "warning" : "error")
        out += ",\"file\":" + ByteText.json(problem.file)
        out += ",\"line\":" + (problem.position.map { String($0.line) } ?? "null")
        out += ",\"column\":" + (problem.position.map { String($0.column) } ?? "null")
        out += ",\"message\":" + ByteText.json(problem.message) + "}\n"
        return out
    }

    public mutating func finish(_ summary: ReportSummary) -> String {
        "{\"type\":\"summary\",\"connections\":\(summary.connections),\"passed\":\(summary.passed),\"failed\":\(summary.failed),\"steps\":\(summary.steps)}\n"
    }
}

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
///     {"type":"summary","connections":N,"passed":N,"failed":N,"steps":N,"compared":N,"unobservable":N,
///      "skipped":N,"skipped_reasons":{"REASON":N,…}}
///
/// where `connections = compared + unobservable + skipped` and `compared = passed + failed`
/// (then `"lookups":{…}` when the summary collected them: see ``LookupStatistics/json``).
public struct JSONLinesReportWriter: ReportWriter {
    public init() {}

    public mutating func write(_ result: ConnectionResult) -> String {
        var out = _JSONBuffer(capacity: 1024 + result.steps.count * 400)
        out.raw("{\"type\":\"connection\",\"file\":")
        out.string(result.position?.file ?? result.suite)
        out.raw(",\"line\":")
        out.number(result.position?.line)
        out.raw(",\"name\":")
        out.string(result.name)
        out.raw(",\"client\":{\"ip\":")
        out.string(result.client.ip)
        out.raw(",\"port\":")
        out.number(result.client.port)
        out.raw(",\"ptr\":")
        out.string(result.client.name)
        out.raw("},\"server\":{\"ip\":")
        out.string(result.server.ip)
        out.raw(",\"port\":")
        out.number(result.server.port)
        out.raw("},\"listener\":")
        out.string(result.listener)
        out.raw(",\"verdict\":")
        out.string(result.verdict.rawValue)
        let connection = result.connection
        out.raw(",\"connection\":{\"decision\":")
        out.string(connection.decision)
        out.raw(",\"rule\":")
        out.string(connection.rule)
        out.raw(",\"rule_source\":")
        out.string(connection.ruleSource)
        out.raw(",\"rblsmtpd\":")
        out.string(connection.blocklist)
        out.raw(",\"reasons\":")
        out.facts(connection.reasons)
        out.raw(",\"expected\":")
        out.string(connection.expected)
        out.raw(",\"verdict\":")
        out.string(connection.verdict.rawValue)
        out.raw("},\"steps\":[")
        for (offset, step) in result.steps.enumerated() {
            if offset > 0 { out.raw(",") }
            append(step, to: &out)
        }
        out.raw("],\"differences\":[")
        for (offset, difference) in result.differences.enumerated() {
            if offset > 0 { out.raw(",") }
            out.raw("{\"line\":")
            out.number(difference.position?.line)
            out.raw(",\"column\":")
            out.number(difference.position?.column)
            out.raw(",\"step\":")
            out.number(difference.step)
            out.raw(",\"subject\":")
            out.string(difference.subject)
            out.raw(",\"expected\":")
            out.string(difference.expected)
            out.raw(",\"actual\":")
            out.string(difference.actual)
            out.raw(",\"explanation\":")
            out.strings(difference.explanation)
            out.raw("}")
        }
        out.raw("],\"warnings\":")
        out.strings(result.warnings)
        out.raw("}\n")
        return out.text
    }

    private func append(_ step: StepResult, to out: inout _JSONBuffer) {
        out.raw("{\"index\":")
        out.number(step.index)
        out.raw(",\"line\":")
        out.number(step.position?.line)
        out.raw(",\"kind\":")
        out.string(step.kind.rawValue)
        out.raw(",\"client\":")
        switch step.kind {
        case .command:
            if ByteText.isValidUTF8(step.client) {
                out.string(utf8: step.client[...])
            } else {
                out.string(ByteText.escaped(step.client))
                out.raw(",\"client_hex\":")
                out.string(ByteText.hex(step.client))
            }
        default:
            out.string(step.clientText)
        }
        out.raw(",\"reply\":")
        let replyIsUTF8 = ByteText.isValidUTF8(step.replyBytes)
        if replyIsUTF8 {
            out.replyLines(step.replyBytes)
        } else {
            out.strings(step.reply)
            out.raw(",\"reply_hex\":")
            out.string(ByteText.hex(step.replyBytes))
        }
        out.raw(step.closed ? ",\"closed\":true,\"stage\":" : ",\"closed\":false,\"stage\":")
        out.string(step.stage)
        out.raw(",\"decision\":")
        out.string(step.decision)
        out.raw(",\"subject\":")
        out.string(step.subject)
        out.raw(",\"reasons\":")
        out.facts(step.reasons)
        out.raw(",\"expected\":")
        out.string(step.expected)
        out.raw(",\"verdict\":")
        out.string(step.verdict.rawValue)
        if let note = step.note {
            out.raw(",\"note\":")
            out.string(note)
        }
        out.raw("}")
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
        var out = "{\"type\":\"summary\",\"connections\":\(summary.connections),\"passed\":\(summary.passed),\"failed\":\(summary.failed),\"steps\":\(summary.steps)"
        out += ",\"compared\":\(summary.compared),\"unobservable\":\(summary.unobservable),\"skipped\":\(summary.skipped)"
        out += ",\"skipped_reasons\":" + ReplaySummary.jsonCounts(summary.skippedReasons)
        if let lookups = summary.lookups { out += ",\"lookups\":" + lookups.json }
        return out + "}\n"
    }
}

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
        var out = ""
        out.reserveCapacity(1024 + result.steps.count * 320)
        out.append("{\"type\":\"connection\",\"file\":")
        ByteText.appendJSON(result.position?.file ?? result.suite, to: &out)
        out.append(",\"line\":")
        out.append(result.position.map { String($0.line) } ?? "null")
        out.append(",\"name\":")
        ByteText.appendJSON(result.name, to: &out)
        out.append(",\"client\":{\"ip\":")
        ByteText.appendJSON(result.client.ip, to: &out)
        out.append(",\"port\":")
        out.append(String(result.client.port))
        out.append(",\"ptr\":")
        ByteText.appendJSON(result.client.name, to: &out)
        out.append("},\"server\":{\"ip\":")
        ByteText.appendJSON(result.server.ip, to: &out)
        out.append(",\"port\":")
        out.append(String(result.server.port))
        out.append("},\"listener\":")
        ByteText.appendJSON(result.listener, to: &out)
        out.append(",\"verdict\":")
        ByteText.appendJSON(result.verdict.rawValue, to: &out)
        let connection = result.connection
        out.append(",\"connection\":{\"decision\":")
        ByteText.appendJSON(connection.decision, to: &out)
        out.append(",\"rule\":")
        ByteText.appendJSON(connection.rule, to: &out)
        out.append(",\"rule_source\":")
        ByteText.appendJSON(connection.ruleSource, to: &out)
        out.append(",\"rblsmtpd\":")
        ByteText.appendJSON(connection.blocklist, to: &out)
        out.append(",\"reasons\":")
        ByteText.appendJSON(connection.reasonTexts, to: &out)
        out.append(",\"expected\":")
        ByteText.appendJSON(connection.expected, to: &out)
        out.append(",\"verdict\":")
        ByteText.appendJSON(connection.verdict.rawValue, to: &out)
        out.append("},\"steps\":[")
        for (offset, step) in result.steps.enumerated() {
            if offset > 0 { out.append(",") }
            append(step, to: &out)
        }
        out.append("],\"differences\":[")
        for (offset, difference) in result.differences.enumerated() {
            if offset > 0 { out.append(",") }
            out.append("{\"line\":")
            out.append(difference.position.map { String($0.line) } ?? "null")
            out.append(",\"column\":")
            out.append(difference.position.map { String($0.column) } ?? "null")
            out.append(",\"step\":")
            out.append(difference.step.map(String.init) ?? "null")
            out.append(",\"subject\":")
            ByteText.appendJSON(difference.subject, to: &out)
            out.append(",\"expected\":")
            ByteText.appendJSON(difference.expected, to: &out)
            out.append(",\"actual\":")
            ByteText.appendJSON(difference.actual, to: &out)
            out.append(",\"explanation\":")
            ByteText.appendJSON(difference.explanation, to: &out)
            out.append("}")
        }
        out.append("],\"warnings\":")
        ByteText.appendJSON(result.warnings, to: &out)
        out.append("}\n")
        return out
    }

    private func append(_ step: StepResult, to out: inout String) {
        out.append("{\"index\":")
        out.append(String(step.index))
        out.append(",\"line\":")
        out.append(step.position.map { String($0.line) } ?? "null")
        out.append(",\"kind\":")
        ByteText.appendJSON(step.kind.rawValue, to: &out)
        out.append(",\"client\":")
        switch step.kind {
        case .command:
            if ByteText.isValidUTF8(step.client) {
                ByteText.appendJSON(String(decoding: step.client, as: UTF8.self), to: &out)
            } else {
                ByteText.appendJSON(ByteText.escaped(step.client), to: &out)
                out.append(",\"client_hex\":")
                ByteText.appendJSON(ByteText.hex(step.client), to: &out)
            }
        default:
            ByteText.appendJSON(step.clientText, to: &out)
        }
        out.append(",\"reply\":")
        ByteText.appendJSON(step.reply, to: &out)
        if !ByteText.isValidUTF8(step.replyBytes) {
            out.append(",\"reply_hex\":")
            ByteText.appendJSON(ByteText.hex(step.replyBytes), to: &out)
        }
        out.append(step.closed ? ",\"closed\":true,\"stage\":" : ",\"closed\":false,\"stage\":")
        ByteText.appendJSON(step.stage, to: &out)
        out.append(",\"decision\":")
        ByteText.appendJSON(step.decision, to: &out)
        out.append(",\"subject\":")
        ByteText.appendJSON(step.subject, to: &out)
        out.append(",\"reasons\":")
        ByteText.appendJSON(step.reasonTexts, to: &out)
        out.append(",\"expected\":")
        ByteText.appendJSON(step.expected, to: &out)
        out.append(",\"verdict\":")
        ByteText.appendJSON(step.verdict.rawValue, to: &out)
        if let note = step.note {
            out.append(",\"note\":")
            ByteText.appendJSON(note, to: &out)
        }
        out.append("}")
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

import Foundation
@_spi(Testing) import Replay
import Scenarios
import TestSupport
import Testing

/// How scenario steps are run and compared.
struct ScenarioRunnerTests {
    /// Checks YAML text (inline configuration) and returns the results.
    func check(_ yaml: String) -> [ConnectionResult] {
        var results: [ConnectionResult] = []
        CheckRunner.check(source: YAMLSource(text: yaml, path: "t.yaml", directory: "/nonexistent")) { event in
            switch event {
            case .result(let result): results.append(result)
            case .problem(let problem): Issue.record("unexpected problem: \(problem.detail)")
            }
        }
        return results
    }

    let header = """
        config:
          control_files: {me: mx.example.net, rcpthosts: example.com, databytes: "20"}
        connections:

        """

    @Test func everyExchangeIsRecordedWithItsDecision() throws {
        let result = try #require(check(header + "  - client: 192.0.2.9\n    from: a@b.example\n    rcpt: {x@example.com: accept}\n").first)
        #expect(result.passed)
        #expect(result.steps.map(\.kind) == [.greeting, .command, .command, .command, .command])
        #expect(result.steps.map(\.clientText) == ["(connect)", "EHLO [192.0.2.9]", "MAIL FROM:<a@b.example>", "RCPT TO:<x@example.com>", "QUIT"])
        #expect(result.steps.map(\.verdict) == [.recorded, .recorded, .recorded, .passed, .recorded])
        #expect(result.steps[3].decision == "accept")
        #expect(result.steps[3].reasonTexts == ["rcpthosts entry example.com (t.yaml:2)"])
        #expect(result.steps[4].closed)
        #expect(result.connection.decision == "allow")
        #expect(result.connection.rule == nil)
    }

    @Test func aDataStepsSingleExpectationIsTheFinalReply() throws {
        let results = check(
            header + """
                  - client: 192.0.2.9
                    steps:
                      - HELO x
                      - "MAIL FROM:<a@b.example>"
                      - "RCPT TO:<x@example.com>"
                      - {data: "short\\n", expect: "250 ok 1795561493 qp 14399"}
                      - "MAIL FROM:<a@b.example>"
                      - "RCPT TO:<x@example.com>"
                      - {data: "a message longer than twenty bytes\\n", expect: [354, 552]}
                      - "MAIL FROM:<a@b.example>"
                      - {data: "never sent\\n", expect: "503 RCPT first (#5.5.1)"}
                      - {data: "line\\n", force: true, expect: [503, 502]}
                """)
        let result = try #require(results.first)
        #expect(result.differences.isEmpty, "\(result.differences)")
        // The message after a refused DATA was not sent; the forced one was, line by line.
        #expect(result.steps.filter { $0.kind == .message }.count == 2)
        #expect(result.steps.last?.clientText == ".")
    }

    @Test func differencesCarryExpectedActualAndTheExplanation() throws {
        let result = try #require(
            check(header + "  - client: 192.0.2.9\n    from: a@b.example\n    rcpt:\n      x@elsewhere.example: {decision: relay, reason: RELAYCLIENT}\n").first)
        #expect(!result.passed)
        let difference = try #require(result.differences.first)
        #expect(difference.position == FilePosition(file: "t.yaml", line: 7, column: 28))
        #expect(difference.subject == "RCPT TO:<x@elsewhere.example>")
        #expect(difference.expected == "{decision: relay, reason: RELAYCLIENT}")
        #expect(difference.actual == "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)  (refuse)")
        #expect(difference.explanation.count == 1 && difference.explanation[0].hasPrefix("domain \"elsewhere.example\" is not in rcpthosts"))
        #expect(result.steps[difference.step ?? 0].verdict == .failed)
    }

    @Test func aReasonMustBeInTheExplanation() throws {
        let result = try #require(
            check(header + "  - client: 192.0.2.9\n    from: a@b.example\n    rcpt: {x@example.com: {decision: accept, reason: badmailfrom}}\n").first)
        #expect(result.differences.count == 1)
    }

    @Test func replyCountsAreChecked() throws {
        let results = check(
            header + """
                  - client: 192.0.2.9
                    steps:
                      - {raw: "NOOP\\r\\nNOOP\\r\\n", expect: 250}
                      - {raw: "NOOP\\r\\nNOOP\\r\\n", expect: [250, 250]}
                      - {raw: "NOOP\\r\\n", expect: []}
                      - {raw: "NO", expect: []}
                      - {raw: "OP\\r\\n", expect: 250}
                """)
        let result = try #require(results.first)
        #expect(result.differences.map(\.expected) == ["1 reply", "no reply"])
    }

    @Test func closedAndDenyExpectations() throws {
        let results = check(
            """
            config:
              control_files: {me: mx.example.net, rcpthosts: example.com}
              rules: {text: "10.:deny\\n"}
            connections:
              - client: 10.0.0.1
                expect: {connection: deny, rule: "10.", greeting: deny, exit: 100}
                steps: [{send: NOOP, expect: deny}, {send: QUIT, expect: closed}]
              - client: 192.0.2.9
                steps: [{send: QUIT, expect: 221}, {send: NOOP, expect: closed}, {send: NOOP, expect: deny}]
              - client: 10.0.0.2
                expect: {connection: allow, rule: default, env: {X: "1"}, exit: 0}
            """)
        #expect(results.map(\.passed) == [true, false, false])
        #expect(results[1].differences.map(\.expected) == ["deny"])
        let connection = try #require(results[2].differences.first)
        #expect(connection.subject == "connection")
        #expect(connection.expected == "allow, no rule (default), X=\"1\", exit status 0")
        #expect(connection.actual == "deny, rule \"10.\", X=(unset), exit status 100")
        #expect(results[2].connection.verdict == .failed)
    }

    @Test func theRunnerOrdersFilesAndCountsProblems() throws {
        let folder = try TestSupport.temporaryDirectory("runner")
        var files: [String] = []
        for index in 0..<12 {
            let path = folder + "/\(String(format: "%02d", index)).yaml"
            let body = index == 5 ? "connections: [{client: nope}]\n" : header + "  - {name: c\(index), client: 192.0.2.\(index + 1)}\n"
            try TestSupport.write(body, to: path)
            files.append(path)
        }
        var order: [String] = []
        let summary = CheckRunner(jobs: 4).run(files: files) { event in
            switch event {
            case .result(let result): order.append(result.name)
            case .problem(let problem): order.append("problem in \(problem.file.suffix(7))")
            }
        }
        #expect(order == (0..<12).map { $0 == 5 ? "problem in 05.yaml" : "c\($0)" })
        #expect(summary.connections == 11 && summary.passed == 11 && summary.errors == 1)
        #expect(summary.exitStatus == 2)
    }

    @Test func aFileWithAConfigurationErrorIsNotRun() throws {
        var events: [CheckEvent] = []
        CheckRunner.check(
            source: YAMLSource(
                text: "config: {control: no-such-dir}\nconnections: [{client: 192.0.2.9}, {client: 192.0.2.10}]\n",
                path: "t.yaml", directory: "/nonexistent")
        ) { events.append($0) }
        #expect(events.count == 1)
        guard case .problem(let problem) = events.first else {
            Issue.record("expected a problem")
            return
        }
        #expect(problem.message == "control directory /nonexistent/no-such-dir does not exist")
    }

    @Test func summaryExitStatus() {
        var summary = ReportSummary()
        #expect(summary.exitStatus == 0)
        summary.failed = 1
        #expect(summary.exitStatus == 1)
        summary.errors = 1
        #expect(summary.exitStatus == 2)
    }
}

/// Bytes as report text.
struct ByteTextTests {
    @Test func clientLinesForDisplay() {
        #expect(ByteText.display(line: Array("EHLO x\r\n".utf8)) == "EHLO x")
        #expect(ByteText.display(line: Array("EHLO x\n".utf8)) == "EHLO x\\n")
        #expect(ByteText.display(line: Array("NOOP\0x\t\r\r\n".utf8)) == "NOOP\\0x\\t\\r")
        #expect(ByteText.display(line: [0x68, 0xE9, 0x0D, 0x0A]) == "h\\xe9")
        #expect(ByteText.display(line: Array("h\u{e9}llo\r\n".utf8)) == "h\u{e9}llo")
    }

    @Test func replyLines() {
        #expect(ByteText.replyLines(Array("250-a\r\n250 b\r\n".utf8)) == ["250-a", "250 b"])
        #expect(ByteText.replyLines(Array("220 h\rx ESMTP\r\n".utf8)) == ["220 h\rx ESMTP"])
        #expect(ByteText.replyLines([]) == [])
    }

    @Test func json() {
        #expect(ByteText.json("plain") == "\"plain\"")
        #expect(ByteText.json("q\"b\\s\n\r\t\u{1}\u{7f}é") == "\"q\\\"b\\\\s\\n\\r\\t\\u0001\\u007fé\"")
        #expect(ByteText.json(nil as String?) == "null")
        #expect(ByteText.json(["a", "b"]) == "[\"a\",\"b\"]")
    }

    @Test func xml() {
        #expect(ByteText.xml("a<b>&\"c'\n") == "a&lt;b&gt;&amp;&quot;c&apos;&#10;")
        #expect(ByteText.xml("line\nnext\u{1}", attribute: false) == "line\nnext\\x01")
        #expect(ByteText.hex([0, 0xAB, 0xFF]) == "00abff")
    }

    @Test func githubWorkflowCommandEscaping() {
        #expect(GitHubReportWriter.escapeData("50%\r\nx") == "50%25%0D%0Ax")
        #expect(GitHubReportWriter.escapeProperty("a: b, c") == "a%3A b%2C c")
    }
}

/// The inputs fuzz-scenario found (Fuzz/Corpus/scenario/regression-*), checked again: every
/// problem is reported as one line.
struct ScenarioFuzzRegressionTests {
    @Test func committedCrashersGiveOneLineProblems() throws {
        let folder = TestSupport.packageRoot + "/Fuzz/Corpus/scenario"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("regression-") }
        #expect(!names.isEmpty)
        for name in names {
            let text = String(decoding: try TestSupport.read(folder + "/" + name), as: UTF8.self)
            var problems = 0
            CheckRunner.check(source: YAMLSource(text: text, path: name, directory: "/nonexistent")) { event in
                guard case .problem(let problem) = event else { return }
                problems += 1
                #expect(!problem.message.contains("\n") && !problem.message.contains("\r"), "\(name): \(problem.message)")
            }
            #expect(problems > 0, "\(name)")
        }
    }
}

/// The JSON Lines writer's byte buffer escapes exactly as ``ByteText/json(_:)`` does.
struct JSONBufferTests {
    /// JSON string literals, checked against a JSON parser (the text comes back) and against
    /// the escapes written out by hand.
    @Test func stringsAreEscapedAsJSONReadsThem() throws {
        #expect(ByteText.json("plain <x@y> é 😀 /") == "\"plain <x@y> é 😀 /\"")
        #expect(ByteText.json("a\"b\\c\nd\re\tf") == #""a\"b\\c\nd\re\tf""#)
        #expect(ByteText.json("\u{0}\u{1F}\u{7F}\u{85}") == "\"\\u0000\\u001f\\u007f\u{85}\"")
        #expect(ByteText.json(nil as String?) == "null")
        #expect(ByteText.json(["a", "\""]) == #"["a","\""]"#)

        var generator = SplitMix64(seed: 21)
        let pieces = ["a", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "😀", " ", "<x@y>", "\u{85}", "/"]
        for _ in 0..<2000 {
            var text = ""
            for _ in 0..<Int(generator.next() % 6) { text += pieces[Int(generator.next() % UInt64(pieces.count))] }
            let literal = ByteText.json(text)
            #expect(!literal.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "a raw control character in \(literal)")
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
            #expect(parsed == [text])
            #expect(JSONLinesReportWriter._bufferedJSON(text) == literal)
            let reply = Array(text.utf8)
            #expect(JSONLinesReportWriter._bufferedJSONReplyLines(reply) == ByteText.json(ByteText.replyLines(reply)))
        }
        #expect(
            JSONLinesReportWriter._bufferedJSONNumbers([0, 7, 9, 10, 25, 65535, -1, nil])
                == "0" + "7" + "9" + "10" + "25" + "65535" + "-1" + "null")
    }
}

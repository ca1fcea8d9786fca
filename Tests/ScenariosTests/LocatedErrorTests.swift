import Foundation
import Scenarios
import TestSupport
import Testing

/// Errors in scenario files: `file:line:column: message`, the source line, a caret; unknown keys
/// suggest the nearest valid key.
struct LocatedErrorTests {
    @Test func unknownConfigKeySuggestsTheNearestOne() throws {
        let error = try scenarioError(
            """
            config:
              contol: control
            connections:
              - client: 192.0.2.9
            """)
        #expect(
            error.description == """
                test.yaml:2:3: unknown key 'contol' in config; did you mean 'control'?
                  contol: control
                  ^
                """)
    }

    @Test func unknownConnectionKeySuggestsTheNearestOne() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    expcet: deny\n")
        #expect(error.summary == "test.yaml:5:5: unknown key 'expcet' in connections[1]; did you mean 'expect'?")
        #expect(error.sourceLine == "    expcet: deny")
    }

    @Test func unknownStepKeySuggestsTheNearestOne() throws {
        let error = try scenarioError(
            minimalConfig + "  - client: 192.0.2.9\n    steps:\n      - sned: NOOP\n")
        #expect(error.summary == "test.yaml:6:9: unknown key 'sned' in connections[1].steps[1]; did you mean 'send'?")
        #expect(error.description.hasSuffix("      - sned: NOOP\n        ^"))
    }

    @Test func anUnknownKeyFarFromEveryValidOneListsThem() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    zzzzzz: 1\n")
        #expect(error.message.hasPrefix("unknown key 'zzzzzz' in connections[1] (expected one of: name, client, ptr"))
    }

    @Test func yamlSyntaxErrorsAreLocated() throws {
        let error = try scenarioError("connections:\n  - client: 192.0.2.9\n   bad: [\n")
        #expect(error.file == "test.yaml")
        #expect(error.message.hasPrefix("YAML syntax error:"))
        #expect(error.position?.line == 3)
        #expect(error.sourceLine != nil)
    }

    @Test func tabIndentationIsASyntaxError() throws {
        let error = try scenarioError("connections:\n\t- client: 192.0.2.9\n")
        #expect(error.position?.line == 2)
        #expect(error.message.contains("YAML syntax error"))
    }

    @Test func duplicateKeysAreErrors() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    client: 192.0.2.10\n")
        #expect(error.message == "duplicate key 'client' in the same mapping")
        #expect(error.position?.line == 4)
    }

    @Test func badValuesAreLocatedAtTheValue() throws {
        let ip = try scenarioError(minimalConfig + "  - client: 192.0.2.999\n")
        #expect(ip.summary == "test.yaml:4:13: '192.0.2.999' is not an IP address")
        let port = try scenarioError(minimalConfig + "  - client: {ip: 192.0.2.9, port: 70000}\n")
        #expect(port.summary.hasPrefix("test.yaml:4:35: 70000 is out of range for 'connections[1].client.port'"))
        let flag = try scenarioError("config: {rblsmtpd: maybe, control_files: {me: x}}\nconnections: [{client: 192.0.2.9}]\n")
        #expect(flag.summary == "test.yaml:1:20: expected true or false for 'config.rblsmtpd', found 'maybe'")
    }

    /// fuzz-scenario finding: a plain scalar that spans lines was quoted with its line break, so
    /// the message took two lines.
    @Test func aMultiLineScalarIsQuotedOnOneLine() throws {
        let error = try scenarioError("~ x\u{FFFD}\n\n  - name:y\n")
        #expect(error.message == "expected a mapping for the document, found '~ x\u{FFFD}\\n- name:y'")
        let long = try scenarioError(String(repeating: "word ", count: 40) + "\n")
        #expect(long.message.hasSuffix("…'") && !long.message.contains("\n"))
        // Any message quoting a multi-line scalar (here an expectation) stays on one line.
        let expectation = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    steps:\n      - send: NOOP\n        expect: '2\n\n\n50 ok'\n")
        #expect(expectation.message.hasPrefix("'2\\n\\n50 ok' is not an expectation"), "\(expectation.message)")
    }

    @Test func expectationWordsSuggestTheNearestDecision() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    from: a@b\n    rcpt: {x@example.com: acept}\n")
        #expect(error.position == FilePosition(file: "test.yaml", line: 6, column: 27))
        #expect(error.message.hasSuffix("did you mean 'accept'?"))
        let code = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    steps: [{send: NOOP, expect: 700}]\n")
        #expect(code.message == "700 is not an SMTP reply code (100-599)")
    }

    @Test func controlFileNamesAreChecked() throws {
        let error = try scenarioError(
            "config:\n  control_files: {rcpthost: example.com}\nconnections: [{client: 192.0.2.9}]\n")
        #expect(error.summary == "test.yaml:2:19: 'rcpthost' is not a control file qmail-smtpd reads; did you mean 'rcpthosts'?")
    }

    @Test func severalErrorsInOneFileAreAllReported() {
        let errors = scenarioErrors(
            minimalConfig + "  - client: 192.0.2.999\n  - client: 192.0.2.9\n    ptr: [a]\n  - name: no client\n")
        #expect(errors.map(\.position?.line) == [4, 6, 7])
        #expect(errors.count == 3 && errors[2].message == "connection 3 needs a 'client' (its IP address)")
    }

    @Test func compactAndStepFormsDoNotMix() throws {
        let error = try scenarioError(
            minimalConfig + "  - client: 192.0.2.9\n    steps: [NOOP]\n    rcpt: {a@example.com: accept}\n")
        #expect(error.summary.hasPrefix("test.yaml:6:5: 'rcpt' belongs to the compact form, but this connection has 'steps' (line 5)"))
    }

    @Test func aStepDoesOneThing() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    steps: [{send: NOOP, raw: \"x\\n\"}]\n")
        #expect(error.message == "a step does one thing: it already has 'send'")
        let lineFeed = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    steps: [{send: \"NOOP\\n\"}]\n")
        #expect(lineFeed.message.hasPrefix("a command line cannot contain a line feed; use 'raw'"))
    }

    @Test func emptyAndMissingFiles() throws {
        #expect(throws: ScenarioError.self) { try YAMLSource(text: "", path: "empty.yaml").root() }
        do {
            _ = try YAMLSource.read(path: "/nonexistent/scenario.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/scenario.yaml: no such file")
        }
        let noConnections = try scenarioError("config: {control_files: {me: x}}\n")
        #expect(noConnections.summary == "test.yaml:1:1: a scenario file needs a 'connections' list")
    }

    @Test func invalidUTF8IsLocated() throws {
        let folder = try TestSupport.temporaryDirectory("utf8")
        let path = folder + "/bad.yaml"
        try TestSupport.write([UInt8]("connections:\n  - client: caf".utf8) + [0xE9] + [UInt8]("\n".utf8), to: path)
        do {
            _ = try YAMLSource.read(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "\(path):2:16: not valid UTF-8 (byte 0xE9); YAML files must be UTF-8")
        }
    }

    @Test func aMissingControlDirectoryNamesThePath() throws {
        let scenario = try parseScenario(
            "config:\n  control: no/such/control\nconnections: [{client: 192.0.2.9}]\n", directory: "/tmp/relaylab-none")
        do {
            _ = try ConfigurationLoader().configuration(for: scenario.connections[0].configuration)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "test.yaml:2:12: control directory /tmp/relaylab-none/no/such/control does not exist")
            #expect(error.sourceLine == "  control: no/such/control")
        }
    }

    @Test func aMissingRulesFileNamesThePath() throws {
        let scenario = try parseScenario(
            "config:\n  control_files: {me: x}\n  rules: tcp.smtp\nconnections: [{client: 192.0.2.9}]\n",
            directory: "/tmp/relaylab-none")
        do {
            _ = try ConfigurationLoader().configuration(for: scenario.connections[0].configuration)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "test.yaml:3:10: rules file /tmp/relaylab-none/tcp.smtp does not exist")
        }
    }

    @Test func aRulesLineTcprulesRefusesPointsIntoTheYAMLFile() throws {
        let scenario = try parseScenario(
            """
            config:
              control_files: {me: x}
              rules:
                text: |
                  127.:allow
                  1.2.3.4:allowed
            connections: [{client: 192.0.2.9}]
            """)
        do {
            _ = try ConfigurationLoader().configuration(for: scenario.connections[0].configuration)
            Issue.record("expected an error")
        } catch {
            #expect(error.position?.line == 6)
            #expect(error.sourceLine == "      1.2.3.4:allowed")
            #expect(error.message.hasPrefix("tcprules would refuse this line"))
        }
    }

    @Test func noControlFilesAtAll() throws {
        let scenario = try parseScenario("connections: [{client: 192.0.2.9}]\n")
        let connection = scenario.connections[0]
        do {
            _ = try ConfigurationLoader().configuration(for: connection.configuration, context: connection.position)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary.hasPrefix("test.yaml:1:15: no control files: give 'control: DIRECTORY'"))
        }
    }

    @Test func caretsLineUpUnderTabs() {
        #expect(ScenarioError(at: FilePosition(file: "f", line: 1, column: 3), "m", sourceLine: "\tab").description == "f:1:3: m\n\tab\n\t ^")
        #expect(ScenarioError(at: FilePosition(file: "f", line: 1, column: 5), "m", sourceLine: "ab").description == "f:1:5: m\nab\n    ^")
    }
}

/// "Did you mean …?"
struct NearestKeyTests {
    @Test(arguments: [
        ("contol", "control"), ("ipem", "ipme"), ("contro_files", "control_files"), ("expcet", "expect"), ("rblsmptd", "rblsmtpd"),
        ("CONTROL", "control"), ("env", "env"),
    ])
    func suggestsTypos(word: String, expected: String) {
        #expect(NearestKey.suggestion(for: word, among: ConfigurationSpec.keys + ["expect"]) == expected)
    }

    @Test func doesNotSuggestUnrelatedWords() {
        #expect(NearestKey.suggestion(for: "zzzzzz", among: ConfigurationSpec.keys) == nil)
        #expect(NearestKey.suggestion(for: "ab", among: ["control"]) == nil)
    }

    @Test func editDistanceCountsATranspositionOnce() {
        #expect(NearestKey.editDistance(Array("ab".unicodeScalars), Array("ba".unicodeScalars)) == 1)
        #expect(NearestKey.editDistance(Array("kitten".unicodeScalars), Array("sitting".unicodeScalars)) == 3)
        #expect(NearestKey.editDistance([], Array("abc".unicodeScalars)) == 3)
    }
}

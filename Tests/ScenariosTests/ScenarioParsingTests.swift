import Foundation
import RelayEngine
import Scenarios
import TestSupport
import Testing

/// What scenario files turn into: steps as exact client bytes, expectations, merged configurations.
struct ScenarioParsingTests {
    func bytes(_ step: ScenarioStep) -> [UInt8]? {
        if case .send(let bytes) = step.action { return bytes }
        return nil
    }

    /// Connections without a name are named by their number (1, 2, … 100, …) and client.
    @Test func unnamedConnectionsAreNamedByNumberAndClient() throws {
        var text = minimalConfig
        for index in 1...120 { text += "  - client: 192.0.2.\(index % 250)\n    steps: [QUIT]\n" }
        text += "  - client: \"2001:db8::7\"\n    steps: [QUIT]\n"
        let file = try parseScenario(text)
        #expect(file.connections.count == 121)
        for (offset, connection) in file.connections.enumerated() {
            let ip = offset == 120 ? "2001:db8::7" : "192.0.2.\((offset + 1) % 250)"
            #expect(connection.name == "connection \(offset + 1) from \(ip)")
        }
    }

    @Test func theCompactFormExpandsToAClientSession() throws {
        let file = try parseScenario(
            minimalConfig + """
                  - client: 198.19.1.10
                    ptr: mail.partner-a.example
                    from: <bob@partner-a.example>
                    rcpt:
                      alice@example.com: accept
                      someone@elsewhere.example: {decision: refuse, reason: rcpthosts}
                      postmaster:
                """)
        let connection = file.connections[0]
        #expect(connection.name == "connection 1 from 198.19.1.10")
        #expect(connection.client == ClientSpec(ip: "198.19.1.10", ptr: "mail.partner-a.example"))
        #expect(
            connection.steps.compactMap(bytes).map { String(decoding: $0, as: UTF8.self) } == [
                "EHLO mail.partner-a.example\r\n", "MAIL FROM:<bob@partner-a.example>\r\n", "RCPT TO:<alice@example.com>\r\n",
                "RCPT TO:<someone@elsewhere.example>\r\n", "RCPT TO:<postmaster>\r\n", "QUIT\r\n",
            ])
        #expect(connection.steps[2].expectations.map(\.outcome) == [.accept])
        #expect(connection.steps[3].expectations.first?.reason == "rcpthosts")
        #expect(connection.steps[3].expectations.first?.written == "{decision: refuse, reason: rcpthosts}")
        #expect(connection.steps[4].expectations.isEmpty)
        #expect(connection.steps[3].position == FilePosition(file: "test.yaml", line: 9, column: 7))
    }

    @Test func exactBytes() throws {
        let file = try parseScenario(
            minimalConfig + #"""
                  - client: 2001:db8::9
                    steps:
                      - NOOP
                      - raw: "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\n"
                      - send: "NOOP\0tail"
                      - {send: "HELO h\xe9llo", encoding: latin1}
                      - send: "HELO h\u00e9llo"
                      - pipeline: [RSET, NOOP]
                """#)
        let steps = file.connections[0].steps
        #expect(file.connections[0].client.ip == "2001:db8::9")
        #expect(steps.compactMap(bytes) == [
            Array("NOOP\r\n".utf8), Array("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\n".utf8), Array("NOOP\0tail\r\n".utf8),
            Array("HELO h".utf8) + [0xE9] + Array("llo\r\n".utf8), Array("HELO h".utf8) + [0xC3, 0xA9] + Array("llo\r\n".utf8),
            Array("RSET\r\nNOOP\r\n".utf8),
        ])
    }

    @Test func latin1RejectsCharactersBeyondAByte() throws {
        let error = try scenarioError(minimalConfig + "  - client: 192.0.2.9\n    steps: [{send: \"\\u20ac\", encoding: latin1}]\n")
        #expect(error.message.hasPrefix("'€' (U+20AC) is not a Latin-1 byte"))
    }

    @Test func dataIsSentAsAClientSendsIt() throws {
        let file = try parseScenario(
            minimalConfig + """
                  - client: 192.0.2.9
                    steps:
                      - data: |
                          Subject: x

                          .leading dot
                        expect: [354, accept]
                      - data: ""
                        force: true
                """)
        guard case .data(let body, let force) = file.connections[0].steps[0].action else {
            Issue.record("expected a data step")
            return
        }
        #expect(String(decoding: body, as: UTF8.self) == "Subject: x\r\n\r\n..leading dot\r\n.\r\n")
        #expect(!force)
        #expect(file.connections[0].steps[0].expectations.map(\.code) == [354, nil])
        guard case .data(let empty, true) = file.connections[0].steps[1].action else {
            Issue.record("expected a forced data step")
            return
        }
        #expect(empty == Array(".\r\n".utf8))
    }

    @Test func expectationForms() throws {
        let file = try parseScenario(
            minimalConfig + """
                  - client: 192.0.2.9
                    expect: {connection: allow, rule: default, env: {RELAYCLIENT: null, X: "1"}, rblsmtpd: pass, greeting: 220, exit: 0}
                    steps:
                      - {send: A, expect: 250}
                      - {send: B, expect: "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"}
                      - {send: C, expect: relay}
                      - {send: D, expect: {code: 250, text: "ok", contains: o, decision: accept, reason: r}}
                      - {send: E, expect: "250-a\\n250 b"}
                      - {send: F, expect: []}
                      - {send: G, expect: closed}
                      - {send: H, expect: {sender: "", recipients: [a@example.com], received: "Received: x\\n"}}
                """)
        let connection = file.connections[0]
        let expectation = try #require(connection.expectation)
        #expect(expectation.allowed == true)
        #expect(expectation.rule == .some(nil))
        let environment: [String: String?] = ["RELAYCLIENT": nil as String?, "X": "1"]
        #expect(expectation.environment == environment)
        #expect(expectation.blocklist == .accept)
        #expect(expectation.greeting?.code == 220)
        #expect(expectation.exitStatus == 0)
        let steps = connection.steps
        #expect(steps[0].expectations[0].code == 250)
        #expect(steps[1].expectations[0].reply == ["553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"])
        #expect(steps[1].expectations[0].code == 553)
        #expect(steps[2].expectations[0].outcome == .relay)
        let mapping = steps[3].expectations[0]
        #expect(mapping.code == 250 && mapping.text == "ok" && mapping.contains == "o" && mapping.outcome == .accept && mapping.reason == "r")
        #expect(steps[4].expectations[0].reply == ["250-a", "250 b"])
        #expect(steps[5].expectations.isEmpty && steps[5].expectsNoReply)
        #expect(steps[6].expectations[0].outcome == .closed)
        #expect(steps[7].expectations[0].sender == "" && steps[7].expectations[0].recipients == ["a@example.com"])
        #expect(steps[7].expectations[0].received == "Received: x")
    }

    @Test func connectionsOverrideTheFilesConfiguration() throws {
        let file = try parseScenario(
            """
            name: overrides
            config:
              control_files: {me: mx.example.net, rcpthosts: example.com}
              env: {A: "1"}
            connections:
              - client: 192.0.2.9
              - client: 192.0.2.9
                control_files: {rcpthosts: null}
                env: {B: "2"}
                server: {port: 587}
            """)
        #expect(file.name == "overrides")
        let (first, second) = (file.connections[0].configuration, file.connections[1].configuration)
        #expect(first.controlFiles["rcpthosts"] != .missing)
        #expect(second.controlFiles["rcpthosts"] == .missing)
        #expect(second.controlFiles["me"] == first.controlFiles["me"])
        let environment: [String: String?] = ["A": "1", "B": "2"]
        #expect(second.environment == environment)
        #expect(second.server.port == 587)
    }

    @Test func aConfigurationFileChoosesTheListenerByServerAddress() throws {
        let auth = TestSupport.fixture("captures/qmail-auth")
        let folder = try TestSupport.temporaryDirectory("include")
        try TestSupport.write(
            "control: \(auth)/control\nlisteners:\n  - {name: smtp, run: \(auth)/run.smtp}\n  - {name: submission, run: \(auth)/run.submission}\n",
            to: folder + "/_server.yaml")
        let file = try parseScenario(
            """
            config: {include: _server.yaml, env: {EXTRA: "1"}}
            connections:
              - client: 192.0.2.9
              - client: 192.0.2.9
                server: {port: 587}
            """, directory: folder)
        #expect(file.connections.map(\.listener) == ["smtp", "submission"])
        #expect(file.connections[1].configuration.environment["SMTPAUTH"] == "!")
        #expect(file.connections[1].configuration.environment["EXTRA"] == "1")
        let error = try scenarioError(
            "config: {include: _server.yaml}\nconnections:\n  - {client: 192.0.2.9, server: {port: 2525}}\n", directory: folder)
        #expect(error.message.hasPrefix("no listener of \(folder)/_server.yaml takes connections to 192.0.2.25 port 2525"))
    }

    @Test func discoveryFindsYAMLFilesRecursivelyInOrder() throws {
        let folder = try TestSupport.temporaryDirectory("discovery")
        for path in ["b.yaml", "a.yml", "sub/c.yaml", "_shared.yaml", ".hidden/d.yaml", "README.md", "_fixtures/e.yaml"] {
            let full = folder + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try TestSupport.write("x", to: full)
        }
        let files = try ScenarioDiscovery.files(for: [folder, folder + "/b.yaml", folder + "/_shared.yaml"])
        #expect(files == [folder + "/a.yml", folder + "/b.yaml", folder + "/sub/c.yaml", folder + "/_shared.yaml"])
        #expect(throws: ScenarioError.self) { try ScenarioDiscovery.files(for: [folder + "/nope"]) }
        try FileManager.default.createDirectory(atPath: folder + "/empty", withIntermediateDirectories: true)
        #expect(throws: ScenarioError.self) { try ScenarioDiscovery.files(for: [folder + "/empty"]) }
    }

    @Test func theBundledScenariosParse() throws {
        let files = try ScenarioDiscovery.files(for: [TestSupport.fixture("scenarios")])
        #expect(files.count >= 20)
        for path in files {
            let file = try ScenarioFile.load(path: path)
            #expect(!file.connections.isEmpty, "\(path)")
        }
    }

    /// A key set answers as a set of its keys would: every key in, anything else (same length,
    /// same first letter, a prefix, another case) out.
    @Test func keySetContainsExactlyItsKeys() {
        let keys = ScenarioFile.connectionKeys + ConfigurationSpec.keys
        let set = KeySet(keys)
        for key in keys {
            #expect(set.contains(key), "\(key)")
            #expect(!set.contains(key.uppercased()), "\(key)")
            #expect(!set.contains(String(key.dropLast())) || keys.contains(String(key.dropLast())), "\(key)")
            #expect(!set.contains(key + "s") || keys.contains(key + "s"), "\(key)")
        }
        for other in ["", "x", "clients", "rcpt_to", "control_file", "émoji", String(repeating: "k", count: 40)] {
            #expect(set.contains(other) == keys.contains(other), "\(other)")
        }
    }

    /// An expectation's rarely set fields are held by reference but behave as values: a copy
    /// changed leaves the original alone, and a field set then cleared is as never set.
    @Test func expectationFieldsAreValues() {
        let position = FilePosition(file: "t.yaml", line: 3)
        var original = ReplyExpectation(outcome: .refuse, position: position, written: "refuse")
        #expect(original.isCodeOrDecisionOnly && !original.concernsEnvelope)
        var copy = original
        copy.reason = "rcpthosts"
        copy.recipients = ["a@b.example"]
        #expect(original.reason == nil && original.recipients == nil && original.isCodeOrDecisionOnly)
        #expect(copy.reason == "rcpthosts" && copy.recipients == ["a@b.example"] && copy.concernsEnvelope)
        #expect(copy != original)
        copy.reason = nil
        copy.recipients = nil
        #expect(copy == original && copy.hashValue == original.hashValue && copy.isCodeOrDecisionOnly)
        original.text = "ok"
        #expect(ReplyExpectation(text: "ok", outcome: .refuse, position: position, written: "refuse") == original)
    }
}


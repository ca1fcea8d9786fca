import CDB
import Foundation
import RelayEngine
import Scenarios
import TCPRules
import TestSupport
import Testing

/// The configuration schema shared by scenario files and configuration files.
struct ConfigurationTests {
    func spec(_ yaml: String, directory: String = "/srv") throws(ScenarioError) -> ConfigurationSpec {
        try ConfigurationSpec(yaml: YAMLSource(text: yaml, path: "c.yaml", directory: directory).root())
    }

    @Test func everyKeyParses() throws {
        let parsed = try spec(
            """
            control: control
            control_files:
              rcpthosts: |
                example.com
              badmailfrom: null
              morercpthosts.cdb: [Hosted.Example, other.example]
              databytes: {unreadable: permission denied}
            rules: tcp.smtp
            ucspi_tcp: ucspi-tcp-ipv6
            rblsmtpd: {options: [-b, -r, zen.example], blocklists: {zen.example: {192.0.2.9: listed, 192.0.2.10: allow}}}
            variant: notqmail
            auth: {smtpauth: "!", users: {u: p}, checkpassword: true}
            server: {ip: 192.0.2.25, port: submission, hostname: mx.example.net}
            tcpserver: -h -R -l mx.example.net
            ipme: [192.0.2.25, 127.0.0.1]
            env: {DATABYTES: 1000, RELAYCLIENT: null}
            clock: 2026-11-24T23:38:33Z
            queue: 71
            pids: {smtpd: 100, queue: 200, step: 2}
            """)
        #expect(parsed.control == .directory("/srv/control"))
        #expect(parsed.controlFiles["rcpthosts"] == .contents(Array("\n\n\nexample.com\n".utf8), origin: "c.yaml"))
        #expect(parsed.controlFiles["badmailfrom"] == .missing)
        #expect(parsed.controlFiles["databytes"] == .unreadable(reason: "permission denied"))
        guard case .contents(let cdbBytes, _)? = parsed.controlFiles["morercpthosts.cdb"] else {
            Issue.record("expected an inline cdb")
            return
        }
        let cdb = try CDB(bytes: cdbBytes, name: "inline")
        #expect(try cdb.contains("hosted.example"))
        #expect(try !cdb.contains("Hosted.Example"))
        #expect(parsed.rules == .file("/srv/tcp.smtp"))
        #expect(parsed.ucspiTCP == .ucspiTCPIPv6)
        guard case .on(let rbl)? = parsed.rblsmtpd else {
            Issue.record("expected rblsmtpd")
            return
        }
        #expect(rbl.options == [.bounce(true), .rbl("zen.example")])
        #expect(rbl.fixture.records["9.2.0.192.zen.example"]?.txt == ["listed"])
        #expect(rbl.fixture.records["10.2.0.192.zen.example"]?.hasAddress == true)
        #expect(parsed.variant == .notqmail)
        #expect(parsed.auth == .on(AuthOptions(credentials: .users(["u": "p"]))))
        let environment: [String: String?] = ["SMTPAUTH": "!", "DATABYTES": "1000", "RELAYCLIENT": nil as String?]
        #expect(parsed.environment == environment)
        #expect(parsed.server == ServerSpec(ip: "192.0.2.25", port: 587, hostname: "mx.example.net"))
        #expect(parsed.tcpserver == ["-h", "-R", "-l", "mx.example.net"])
        #expect(parsed.ipme == ["192.0.2.25", "127.0.0.1"])
        #expect(parsed.clock == 1_795_563_513)
        #expect(parsed.queue == .exitCode(71))
        #expect(parsed.processIDs == ProcessNumbering(smtpd: 100, firstQueue: 200, queueStep: 2))
    }

    @Test func overridesMergeKeyByKey() throws {
        let base = try spec("control: control\ncontrol_files: {rcpthosts: a.example, me: mx}\nenv: {A: '1', B: '2'}\nserver: {ip: 192.0.2.25}\n")
        let overrides = try spec("control_files: {rcpthosts: null}\nenv: {B: null, C: '3'}\nserver: {port: 587}\n")
        let merged = base.merged(with: overrides)
        #expect(merged.control == .directory("/srv/control"))
        #expect(merged.controlFiles["rcpthosts"] == .missing)
        #expect(merged.controlFiles["me"] != nil)
        let environment: [String: String?] = ["A": "1", "B": nil as String?, "C": "3"]
        #expect(merged.environment == environment)
        #expect(merged.server == ServerSpec(ip: "192.0.2.25", port: 587))
        #expect(base.merged(with: ConfigurationSpec()) == base)
    }

    @Test func positionsDoNotSplitCacheEntries() throws {
        let a = try spec("variant: notqmail\n")
        let b = try spec("\n\nvariant: notqmail\n")
        #expect(a.positions["variant"] != b.positions["variant"])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
    }

    @Test func theLoaderBuildsAndSharesConfigurations() throws {
        let parsed = try spec(
            "control: captures/qmail-relay/control\nrules: captures/qmail-relay/tcp.smtp\nrblsmtpd: true\n",
            directory: TestSupport.packageRoot)
        let loader = ConfigurationLoader()
        let configuration = try loader.configuration(for: parsed)
        #expect(configuration.control.rcpthosts?.map(\.text) == ["example.net", "example.com", ".sub.example.org"])
        #expect(configuration.rules?.kind == .source)
        #expect(configuration.rblsmtpd != nil)
        #expect(configuration.ipme == ["127.0.0.1", "192.0.2.25"])
        var session = RelaySession(
            configuration: configuration,
            connection: loader.connection(for: parsed, clientIP: "10.1.2.15", ptrName: "ws15.office.example.net"))
        #expect(session.start() == Array("220 mx.example.net ESMTP\r\n".utf8))
        #expect(session.connectionDecision.ruleKey == "10.1.")
    }

    @Test func inlineListFilesKeepTheYAMLLineNumbersInExplanations() throws {
        let parsed = try spec("control_files:\n  me: mx\n  rcpthosts: |\n    first.example\n    second.example\n")
        let configuration = try ConfigurationLoader().configuration(for: parsed)
        #expect(configuration.control.rcpthosts?.map(\.location.description) == ["c.yaml:4", "c.yaml:5"])
    }

    @Test func unusedBlocklistZonesAreErrors() throws {
        #expect(throws: ScenarioError.self) {
            try spec("rblsmtpd: {blocklists: {zen.example: {192.0.2.9: listed}}}\n")
        }
    }

    @Test func badTCPServerOptions() throws {
        do {
            _ = try spec("tcpserver: [-x, tcp.smtp.cdb]\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "give tcpserver's rules file with the 'rules' key, not -x")
        }
        #expect(throws: ScenarioError.self) { try spec("tcpserver: [-k]\n") }
        #expect(throws: ScenarioError.self) { try spec("ipme: [mx.example.net]\n") }
        #expect(throws: ScenarioError.self) { try spec("variant: qmail-2\n") }
        #expect(throws: ScenarioError.self) { try spec("queue: maybe\n") }
    }
}

/// Configuration files with several listeners.
struct ConfigurationFileTests {
    func write(_ text: String) throws -> String {
        let folder = try TestSupport.temporaryDirectory("listeners")
        let path = folder + "/server.yaml"
        try TestSupport.write(text, to: path)
        return path
    }

    @Test func listenersFromRunScriptsAreSelectedByPort() throws {
        let auth = TestSupport.fixture("captures/qmail-auth")
        let path = try write(
            """
            control: \(auth)/control
            auth: {users: {testuser: testpass}}
            listeners:
              - name: smtp
                run: \(auth)/run.smtp
              - name: submission
                run: \(auth)/run.submission
                auth: {users: {testuser: testpass}}
              - name: backup
                ip: 192.0.2.26
                port: 25
                rules: null
            """)
        let file = try ConfigurationFile.load(path: path)
        #expect(file.listeners.map(\.name) == ["smtp", "submission", "backup"])
        #expect(file.listener(serverIP: "192.0.2.25", port: 25)?.name == "smtp")
        #expect(file.listener(serverIP: "192.0.2.25", port: 587)?.name == "submission")
        #expect(file.listener(serverIP: "192.0.2.26", port: 25)?.name == "backup")
        #expect(file.listener(serverIP: "192.0.2.25", port: 2525) == nil)
        let submission = try #require(file.listener(serverIP: "192.0.2.25", port: 587))
        #expect(submission.configuration.environment["SMTPAUTH"] == "!")
        #expect(submission.configuration.rules == .file(auth + "/tcp.smtp.cdb"))
        let configuration = try ConfigurationLoader().configuration(for: submission.configuration)
        #expect(configuration.auth?.hasCheckpassword == true)
        #expect(configuration.environment["SMTPAUTH"] == "!")
        #expect(configuration.tcpserver.localHostName == "mx.example.net")
    }

    @Test func aFileWithoutListenersIsOneListenerForEverything() throws {
        let path = try write("control_files: {me: mx.example.net}\n")
        let file = try ConfigurationFile.load(path: path)
        #expect(file.listeners.count == 1)
        #expect(file.listener(serverIP: "10.0.0.1", port: 12345)?.name == "default")
    }

    @Test func twoListenersOnOneAddressAreAnError() throws {
        let path = try write("listeners:\n  - {name: a, port: 25}\n  - {name: b, port: smtp}\n")
        do {
            _ = try ConfigurationFile.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.position?.line == 3)
            #expect(error.message.hasPrefix("listener 'b' has the same address and port as 'a'"))
        }
    }

    @Test func aMissingRunScriptIsLocated() throws {
        let path = try write("listeners:\n  - run: no-such-run\n")
        do {
            _ = try ConfigurationFile.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.position == FilePosition(file: path, line: 2, column: 10))
            #expect(error.message.hasSuffix("no-such-run does not exist"))
        }
    }
}

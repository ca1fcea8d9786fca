import Foundation
import RelayEngine
import Scenarios
import TCPRules
import TestSupport
import Testing

/// Run scripts: the real ones shipped with the captures, and shell details.
struct RunScriptTests {
    @Test func readsTheRelayCapturesRunScript() throws {
        let path = TestSupport.fixture("captures/qmail-relay/run.smtp")
        let script = try RunScript.load(path: path)
        #expect(script.line == 8)
        #expect(script.clearsEnvironment)
        #expect(script.environment == ["PATH": "/usr/bin:/bin", "QMAILQUEUE": "/path/to/qmail-queue", "DNSCACHEIP": "127.0.0.53"])
        #expect(script.tcpserver.options.lookupRemoteHost)
        #expect(!script.tcpserver.options.lookupRemoteInfo)
        #expect(script.tcpserver.options.localHostName == "mx.example.net")
        #expect(script.rulesFile == TestSupport.fixture("captures/qmail-relay/tcp.smtp.cdb"))
        #expect(script.host == "0")
        #expect(script.port == 25)
        #expect(script.rblsmtpdArguments == [])
        #expect(script.smtpdProgram == "/var/qmail/bin/qmail-smtpd")
        #expect(script.checkpasswordArguments.isEmpty)
        #expect(script.warnings.isEmpty)

        let spec = script.configuration
        #expect(spec.rules == .file(TestSupport.fixture("captures/qmail-relay/tcp.smtp.cdb")))
        #expect(spec.rblsmtpd == .on(RBLSMTPDOptions()))
        #expect(spec.auth == .off)
        #expect(spec.server.port == 25)
        #expect(spec.control == .directory(TestSupport.fixture("captures/qmail-relay/control")))
    }

    @Test func readsTheSubmissionRunScript() throws {
        let script = try RunScript.load(path: TestSupport.fixture("captures/qmail-auth/run.submission"))
        #expect(script.environment["SMTPAUTH"] == "!")
        #expect(script.port == 587)
        #expect(script.rblsmtpdArguments == nil)
        #expect(script.checkpasswordArguments == ["/var/qmail/bin/checkpassword-test", "/bin/true"])
        let spec = script.configuration
        #expect(spec.environment["SMTPAUTH"] == "!")
        #expect(spec.rblsmtpd == .off)
        guard case .on(let options)? = spec.auth else {
            Issue.record("expected the AUTH build")
            return
        }
        #expect(options.hasCheckpassword)
    }

    @Test func theSMTPRunScriptOfTheAuthCapturesSetsAnEmptySMTPAUTH() throws {
        let script = try RunScript.load(path: TestSupport.fixture("captures/qmail-auth/run.smtp"))
        #expect(script.environment["SMTPAUTH"] == "")
        #expect(script.port == 25)
    }

    @Test func shellWordsVariablesAndWrappers() throws {
        let text = #"""
            #!/bin/sh
            QMAILDUID=`id -u qmaild`
            LOCAL="mx.example.org"
            RULES=/etc/tcp.smtp.cdb   # compiled by tcprules
            exec /usr/bin/softlimit -m 2000000 \
                /usr/bin/tcpserver -vRHp -l "$LOCAL" -x "${RULES}" -c 20 -u "$QMAILDUID" -g 1 192.0.2.25 smtp \
                /usr/bin/rblsmtpd -b -r zen.example -t0 \
                /var/qmail/bin/qmail-smtpd /bin/checkpassword /bin/true 2>&1
            """#
        let script = try RunScript.parse(text, path: "/srv/smtpd/run")
        #expect(script.line == 5)
        #expect(script.tcpserver.options.localHostName == "mx.example.org")
        #expect(!script.tcpserver.options.lookupRemoteHost)
        #expect(script.tcpserver.options.paranoid)
        #expect(script.rulesFile == "/etc/tcp.smtp.cdb")
        #expect(script.host == "192.0.2.25")
        #expect(script.port == 25)
        #expect(script.rblsmtpdArguments == ["-b", "-r", "zen.example", "-t0"])
        #expect(script.checkpasswordArguments == ["/bin/checkpassword", "/bin/true"])
        #expect(script.configuration.server.ip == "192.0.2.25")
        #expect(script.configuration.tcpserver == ["-H", "-p", "-R", "-l", "mx.example.org"])
    }

    @Test func leadingAssignmentsAndEnvdir() throws {
        let folder = try TestSupport.temporaryDirectory("envdir")
        try FileManager.default.createDirectory(atPath: folder + "/env", withIntermediateDirectories: true)
        try TestSupport.write("1000000\nignored\n", to: folder + "/env/DATABYTES")
        try TestSupport.write("", to: folder + "/env/RELAYCLIENT")
        let text = "exec envdir ./env env SMTPAUTH= tcpserver -x rules.cdb 0 587 qmail-smtpd\n"
        let script = try RunScript.parse(text, path: folder + "/run")
        #expect(script.environment == ["DATABYTES": "1000000", "SMTPAUTH": ""])
        #expect(script.rulesFile == folder + "/rules.cdb")
        #expect(script.port == 587)
    }

    @Test func anUnknownRulesPathIsAnError() {
        #expect(throws: ScenarioError.self) {
            try RunScript.parse("exec tcpserver -x \"$RULES\" 0 25 qmail-smtpd\n", path: "run")
        }
    }

    @Test func problemsNameTheScriptAndLine() throws {
        do {
            _ = try RunScript.parse("# nothing here\necho hello\n", path: "run")
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "run: no tcpserver command line in this run script")
        }
        do {
            _ = try RunScript.parse("\n\nexec tcpserver -z 0 25 qmail-smtpd\n", path: "run")
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "run:3:1: tcpserver has no option -z")
        }
        do {
            _ = try RunScript.parse("exec tcpserver 0 25 rblsmtpd /bin/cat\n", path: "run")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "no qmail-smtpd in tcpserver's command line")
        }
    }

    @Test func anUnevaluableLocalNameIsAWarning() throws {
        let script = try RunScript.parse("exec tcpserver -l \"`hostname`\" 0 25 qmail-smtpd\n", path: "run")
        #expect(script.tcpserver.options.localHostName == nil)
        #expect(script.warnings.count == 1)
    }
}

/// tcpserver's getopt.
struct TCPServerCommandLineTests {
    @Test func groupedFlagsAttachedAndSeparateArguments() throws {
        let parsed = try TCPServerCommandLine.parse(["-vRHl0", "-c40", "-x", "r.cdb", "-X", "0", "25", "prog"])
        #expect(parsed.options.localHostName == "0")
        #expect(!parsed.options.lookupRemoteHost)
        #expect(!parsed.options.lookupRemoteInfo)
        #expect(parsed.options.allowMissingRules)
        #expect(parsed.rulesFile == "r.cdb")
        #expect(parsed.remaining == ["0", "25", "prog"])
    }

    @Test func errors() {
        #expect(throws: TCPServerCommandLine.OptionError.self) { try TCPServerCommandLine.parse(["-x"]) }
        #expect(throws: TCPServerCommandLine.OptionError.self) { try TCPServerCommandLine.parse(["-k"]) }
    }
}

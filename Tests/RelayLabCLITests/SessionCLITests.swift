import Foundation
import TestSupport
import Testing

/// End-to-end tests of `relaylab session` with the built binary.
@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct SessionCLITests {
    let relay = TestSupport.fixture("captures/qmail-relay")

    func session(_ arguments: [String], input: String) throws -> TestSupport.ProcessResult {
        // relaylab stops reading once the chain closes: writing the rest must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        return try TestSupport.run(TestSupport.relaylabBinary!, ["session"] + arguments, input: Array(input.utf8))
    }

    var relayArguments: [String] {
        ["--control", relay + "/control", "--rules", relay + "/tcp.smtp.cdb", "--rblsmtpd", "--tcpserver-options", "-R -l mx.example.net"]
    }

    @Test func localDeliveryAndRefusedRelay() throws {
        let result = try session(
            relayArguments + ["--client-ip", "198.19.1.10", "--client-host", "mail.partner-a.example", "--clock", "1795563513"],
            input: "EHLO mail.partner-a.example\r\nMAIL FROM:<bob@partner-a.example>\r\nRCPT TO:<someone@elsewhere.example>\r\n"
                + "RCPT TO:<alice@example.net>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        #expect(result.status == 0)
        #expect(
            result.stdoutText
                == "220 mx.example.net ESMTP\r\n250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n250 ok\r\n"
                + "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n250 ok\r\n354 go ahead\r\n"
                + "250 ok 1795563513 qp 14399\r\n221 mx.example.net\r\n")
        #expect(result.stderrText.isEmpty)
    }

    @Test func explainWritesFactsToStandardError() throws {
        let result = try session(
            relayArguments + ["--client-ip", "10.1.2.15", "--explain"],
            input: "HELO x\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<friend@elsewhere.example>\r\nQUIT\r\n")
        #expect(result.stdoutText.hasSuffix("250 ok\r\n250 ok\r\n221 mx.example.net\r\n"))
        #expect(result.stderrText.contains("[explain] tcpserver: connection: accept\n[explain]   rule \"10.1.\" matched: allow (\(relay)/tcp.smtp:11)"))
        #expect(result.stderrText.contains("[explain] qmail-smtpd: rcpt <friend@elsewhere.example>: relay\n[explain]   RELAYCLIENT is set (\"\") (\(relay)/tcp.smtp:11)"))
    }

    @Test func denyIsSilent() throws {
        let result = try session(relayArguments + ["--client-ip", "203.0.113.9", "--explain"], input: "HELO x\r\n")
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrText.contains("rule \"203.0.113.\" matched: deny"))
    }

    @Test func blockedByRblsmtpd() throws {
        let result = try session(relayArguments + ["--client-ip", "172.20.5.9"], input: "HELO x\r\nRCPT TO:<a@example.net>\r\nQUIT\r\n")
        #expect(result.stdoutText == "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n451 No reverse DNS for your IP address; try again later\r\n221 rblsmtpd.local\r\n")
    }

    @Test func blocklistFixture() throws {
        let folder = try TestSupport.temporaryDirectory("cli")
        try TestSupport.write("zen.example 192.0.2.77 TXT Listed at zen\n", to: folder + "/rbl.txt")
        let result = try session(
            ["--control", relay + "/control", "--rblsmtpd", "--rbl-fixture", folder + "/rbl.txt", "--rblsmtpd-options", "-b -r zen.example",
             "--client-ip", "192.0.2.77"],
            input: "RCPT TO:<a@example.net>\r\n")
        #expect(result.stdoutText == "220 rblsmtpd.local\r\n553 Listed at zen\r\n")
    }

    @Test func authVariant() throws {
        let folder = try TestSupport.temporaryDirectory("cli")
        try TestSupport.write("testuser:testpass\n", to: folder + "/users")
        let result = try session(
            ["--control", relay + "/control", "--variant", "auth", "--smtpauth", "!", "--auth-users", folder + "/users"],
            input: "EHLO x\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN AHRlc3R1c2VyAHRlc3RwYXNz\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n")
        #expect(
            result.stdoutText
                == "220 mx.example.net ESMTP\r\n250-mx.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN\r\n250 SIZE 10240\r\n"
                + "530 Authorization required (#5.7.1) \r\n235 ok, go ahead (#2.0.0)\r\n250 ok\r\n250 ok\r\n")
        let noCheckpassword = try session(["--control", relay + "/control", "--variant", "auth", "--smtpauth", ""], input: "AUTH LOGIN\r\n")
        #expect(noCheckpassword.stdoutText.hasSuffix("503 auth not available (#5.3.3)\r\n"))
    }

    @Test func environmentAndIpme() throws {
        let result = try session(
            ["--control", relay + "/control", "--env", "RELAYCLIENT=@fixme.example", "--ipme", "10.9.9.9", "--explain"],
            input: "MAIL FROM:<a@b>\r\nRCPT TO:<a@[10.9.9.9]>\r\n")
        #expect(result.stdoutText.hasSuffix("250 ok\r\n250 ok\r\n"))
        #expect(result.stderrText.contains("stored as \"a@mx.example.net@fixme.example\""))
    }

    @Test func endsWhenTheChainCloses() throws {
        // stdin stays open: the command must exit after QUIT on its own.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.relaylabBinary!)
        process.arguments = ["session", "--control", relay + "/control"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("NOOP\r\nQUIT\r\n".utf8))
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!process.isRunning)
        if process.isRunning { process.terminate() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "220 mx.example.net ESMTP\r\n250 ok\r\n221 mx.example.net\r\n")
        try? input.fileHandleForWriting.close()
    }

    @Test func warningsGoToStandardError() throws {
        let folder = try TestSupport.temporaryDirectory("cli")
        try TestSupport.write("mx.example.net\n", to: folder + "/me")
        let result = try session(["--control", folder], input: "MAIL FROM:<a@b>\r\nRCPT TO:<x@anywhere.example>\r\n")
        #expect(result.stdoutText.hasSuffix("250 ok\r\n250 ok\r\n"))
        #expect(result.stderrText.contains("warning: control/rcpthosts does not exist") || result.stderrText.contains("open relay"))
    }

    @Test func errorsExitWith2() throws {
        let missing = try session(["--control", "/nonexistent/control"], input: "")
        #expect(missing.status == 2)
        #expect(missing.stderrText.contains("/nonexistent/control"))
        let folder = try TestSupport.temporaryDirectory("cli")
        try TestSupport.write("1.2.3.4:allow,X=\n", to: folder + "/rules")
        let badRules = try session(["--control", relay + "/control", "--rules", folder + "/rules"], input: "")
        #expect(badRules.status == 2)
        #expect(badRules.stderrText.contains(folder + "/rules"))
        let badVariant = try session(["--control", relay + "/control", "--variant", "sendmail"], input: "")
        #expect(badVariant.status == 2)
        let badIP = try session(["--control", relay + "/control", "--client-ip", "999.1.1.1"], input: "")
        #expect(badIP.status == 2)
        #expect(badIP.stderrText.contains("999.1.1.1"))
        let usersWithoutAuth = try session(["--control", relay + "/control", "--auth-users", "x"], input: "")
        #expect(usersWithoutAuth.status == 2)
    }
}

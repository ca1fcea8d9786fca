import RelayEngine
import Testing

/// Spec §15: netqmail + qmail-authentication 0.8.3.
@Suite struct AuthTests {
    static let users = AuthCredentials.users(["testuser": "testpass"])

    func config(databytes: String? = nil, credentials: AuthCredentials = AuthTests.users, checkpassword: Bool = true) -> RelayConfiguration {
        var files = Harness.standardFiles
        files["badmailfrom"] = "spammer@bulk.example\n"
        if let databytes { files["databytes"] = databytes }
        return Harness.configuration(files, auth: AuthOptions(credentials: credentials, hasCheckpassword: checkpassword))
    }

    func env(_ smtpauth: String?, _ extra: [String: String] = [:]) -> [String: String] {
        var env = Harness.environment(extra)
        env["SMTPAUTH"] = smtpauth
        return env
    }

    static func b64(_ text: String) -> String {
        String(decoding: Base64Helper.encode(Array(text.utf8)), as: UTF8.self)
    }

    @Test(arguments: [
        (nil, nil),
        ("-", nil),
        ("", "250-AUTH LOGIN PLAIN"),
        ("anything", "250-AUTH LOGIN PLAIN"),
        ("!", "250-AUTH LOGIN PLAIN"),
        ("cram", "250-AUTH CRAM-MD5"),
        ("CRAM-md5", "250-AUTH CRAM-MD5"),
        ("!cram", "250-AUTH CRAM-MD5"),
        ("+cram", "250-AUTH LOGIN PLAIN CRAM-MD5"),
        ("!+CRAM", "250-AUTH LOGIN PLAIN CRAM-MD5"),
    ] as [(String?, String?)])
    func ehloAdvertisement(smtpauth: String?, line: String?) {
        let reply = Harness.replies(config(databytes: "10240\n"), environment: env(smtpauth), ["EHLO x"])[0]
        let authLine = line.map { $0 + "\r\n" } ?? ""
        #expect(reply == "250-mx.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n" + authLine + "250 SIZE 10240\r\n")
    }

    @Test func ehloSize() {
        #expect(Harness.replies(config(), environment: env(nil), ["EHLO x"])[0].hasSuffix("250-8BITMIME\r\n250 SIZE 0\r\n"))
        #expect(
            Harness.replies(config(databytes: "10240\n"), environment: env("", ["DATABYTES": "77"]), ["EHLO x"])[0]
                .hasSuffix("250 SIZE 77\r\n"))
        #expect(
            Harness.replies(config(databytes: "10240\n"), environment: env("", ["DATABYTES": "junk"]), ["EHLO x"])[0]
                .hasSuffix("250 SIZE 0\r\n"))
    }

    @Test func authNotAvailable() {
        #expect(Harness.reply(config(), environment: env(nil), "AUTH LOGIN") == "503 auth not available (#5.3.3)")
        #expect(Harness.reply(config(), environment: env("-"), "AUTH LOGIN") == "503 auth not available (#5.3.3)")
        #expect(Harness.reply(config(checkpassword: false), environment: env(""), "AUTH LOGIN") == "503 auth not available (#5.3.3)")
        #expect(Harness.reply(Harness.configuration(), environment: env(""), "AUTH LOGIN") == "502 unimplemented (#5.5.1)")
    }

    @Test func loginDialogue() {
        let run = Harness.run(
            config(), environment: env("", ["TCPREMOTEHOST": "laptop.example"]),
            "EHLO laptop.example\r\nAUTH LOGIN\r\n\(Self.b64("testuser"))\r\n\(Self.b64("testpass"))\r\n"
                + "MAIL FROM:<carol@example.net>\r\nRCPT TO:<friend@elsewhere.example>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
        let replies = run.session.exchanges.map { String(decoding: $0.reply, as: UTF8.self) }
        #expect(replies[2] == "334 VXNlcm5hbWU6\r\n")
        #expect(replies[3] == "334 UGFzc3dvcmQ6\r\n")
        #expect(replies[4] == "235 ok, go ahead (#2.0.0)\r\n")
        #expect(replies[6] == "250 ok\r\n")
        #expect(run.session.exchanges[3].kind == .authResponse)
        #expect(run.session.exchanges[6].decision?.outcome == .relay)
        #expect(run.session.exchanges[6].decision?.reasons.first?.kind == .authenticated(user: "testuser"))
        #expect(
            run.session.envelopes.first?.receivedText
                == "Received: from laptop.example (testuser@192.0.2.9)\n  by mx.example.net with ESMTPA; 24 Nov 2026 23:04:53 -0000")
    }

    @Test func loginWithInitialResponseAndPlainForms() {
        let ir = Harness.replies(config(), environment: env(""), ["AUTH LOGIN \(Self.b64("testuser"))", Self.b64("testpass")])
        #expect(ir == ["334 UGFzc3dvcmQ6\r\n", "235 ok, go ahead (#2.0.0)\r\n"])
        let plain = Self.b64("\0testuser\0testpass")
        #expect(Harness.replies(config(), environment: env(""), ["AUTH PLAIN \(plain)"]) == ["235 ok, go ahead (#2.0.0)\r\n"])
        #expect(Harness.replies(config(), environment: env(""), ["auth plain", plain]) == ["334 \r\n", "235 ok, go ahead (#2.0.0)\r\n"])
        // The authzid is ignored.
        #expect(Harness.replies(config(), environment: env(""), ["AUTH PLAIN \(Self.b64("admin\0testuser\0testpass"))"]) == ["235 ok, go ahead (#2.0.0)\r\n"])
    }

    @Test func cramMD5() {
        let challenge = "<14398.1795561493@mx.example.net>"
        let replies = Harness.replies(config(), environment: env("cram"), ["AUTH CRAM-MD5"])
        #expect(replies == ["334 \(Self.b64(challenge))\r\n"])
        let digest = MD5.hex(MD5.hmac(key: Array("testpass".utf8), message: Array(challenge.utf8)))
        #expect(
            Harness.replies(config(), environment: env("+cram"), ["AUTH CRAM-MD5", Self.b64("testuser " + digest)]).last
                == "235 ok, go ahead (#2.0.0)\r\n")
        #expect(
            Harness.replies(config(), environment: env("+cram"), ["AUTH CRAM-MD5", Self.b64("testuser 0" + digest.dropFirst())]).last
                == "535 authentication failed (#5.7.1)\r\n")
        // Without a CRAM build the checkpassword gets no challenge: the digest is a password.
        #expect(
            Harness.replies(config(), environment: env(""), ["AUTH CRAM-MD5", Self.b64("testuser testpass")]).last
                == "235 ok, go ahead (#2.0.0)\r\n")
        // The challenge falls back to TCPLOCALIP, then "unknown".
        var noHost = env("cram")
        noHost["TCPLOCALHOST"] = nil
        #expect(Harness.replies(config(), environment: noHost, ["AUTH CRAM-MD5"]) == ["334 \(Self.b64("<14398.1795561493@192.0.2.25>"))\r\n"])
        noHost["TCPLOCALIP"] = nil
        #expect(Harness.replies(config(), environment: noHost, ["AUTH CRAM-MD5"]) == ["334 \(Self.b64("<14398.1795561493@unknown>"))\r\n"])
        #expect(Harness.replies(config(), environment: env("cram"), ["AUTH CRAM-MD5", Self.b64("testuser")]).last == "501 malformed auth input (#5.5.4)\r\n")
    }

    @Test func failureAndItsPause() {
        var session = RelaySession(configuration: config(), childEnvironment: env(""))
        _ = session.start()
        let out = session.receive(Array("AUTH PLAIN \(Self.b64("\0testuser\0wrong"))\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\n".utf8))
        #expect(
            String(decoding: out, as: UTF8.self)
                == "535 authentication failed (#5.7.1)\r\n250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n")
        #expect(session.exchanges[1].delay == 5)
        #expect(session.elapsed == 5)
        #expect(session.now == 1_795_561_498)
        #expect(session.exchanges[1].decision?.reasons.first?.kind == .authFailed(user: "testuser"))
    }

    @Test func errorReplies() {
        let c = config()
        let e = env("")
        #expect(Harness.replies(c, environment: e, ["AUTH LOGIN", "*"]) == ["334 VXNlcm5hbWU6\r\n", "501 auth exchange canceled (#5.0.0)\r\n"])
        #expect(Harness.replies(c, environment: e, ["AUTH LOGIN", Self.b64("testuser"), "*"]).last == "501 auth exchange canceled (#5.0.0)\r\n")
        #expect(Harness.replies(c, environment: e, ["AUTH LOGIN", ""]).last == "501 malformed auth input (#5.5.4)\r\n")
        #expect(Harness.replies(c, environment: e, ["AUTH PLAIN", ""]).last == "501 malformed auth input (#5.5.4)\r\n")
        #expect(Harness.replies(c, environment: e, ["AUTH PLAIN \(Self.b64("\0testuser"))"]) == ["501 malformed auth input (#5.5.4)\r\n"])
        #expect(Harness.replies(c, environment: e, ["AUTH PLAIN \(Self.b64("testuser"))"]) == ["501 malformed auth input (#5.5.4)\r\n"])
        #expect(Harness.reply(c, environment: e, "AUTH DIGEST-MD5") == "504 auth type unimplemented (#5.5.1)")
        #expect(Harness.reply(c, environment: e, "AUTH") == "504 auth type unimplemented (#5.5.1)")
        #expect(
            Harness.reply(c, environment: e, after: ["AUTH PLAIN \(Self.b64("\0testuser\0testpass"))"], "AUTH LOGIN")
                == "503 you're already authenticated (#5.5.0)")
        #expect(Harness.reply(c, environment: e, after: ["MAIL FROM:<a@b>"], "AUTH LOGIN") == "503 no auth during mail transaction (#5.5.0)")
        // After RSET the transaction is over, so AUTH works again.
        #expect(Harness.reply(c, environment: e, after: ["MAIL FROM:<a@b>", "RSET"], "AUTH LOGIN") == "334 VXNlcm5hbWU6")
    }

    @Test func authRequired() {
        let required = env("!")
        #expect(Harness.reply(config(), environment: required, "MAIL FROM:<carol@example.net>") == "530 Authorization required (#5.7.1) ")
        let run = Harness.run(config(), environment: required, "MAIL FROM:<a@b>\r\n")
        #expect(run.afterGreeting == "530 Authorization required (#5.7.1) \r\n")
        #expect(Harness.reply(config(), environment: env("!cram"), "MAIL FROM:<a@b>") == "530 Authorization required (#5.7.1) ")
        #expect(Harness.reply(config(), environment: env("!+cram"), "MAIL FROM:<a@b>") == "530 Authorization required (#5.7.1) ")
        #expect(
            Harness.reply(config(), environment: required, after: ["AUTH PLAIN \(Self.b64("\0testuser\0testpass"))"], "MAIL FROM:<a@b>")
                == "250 ok")
    }

    @Test func authenticationSurvivesRsetAndDropsTheRelayClientSuffix() {
        let run = Harness.run(
            config(), environment: env("", ["RELAYCLIENT": "@fixme.example"]),
            "AUTH PLAIN \(Self.b64("\0testuser\0testpass"))\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.example>\r\nRSET\r\n"
                + "MAIL FROM:<a@b>\r\nRCPT TO:<y@faraway.example>\r\nDATA\r\n.\r\n")
        #expect(run.session.envelopes.first?.recipientTexts == ["y@faraway.example"])
        #expect(run.session.exchanges[6].reply == Array("250 ok\r\n".utf8))
    }

    @Test func badmailfromAfterAuth() {
        let replies = Harness.replies(
            config(), environment: env(""),
            ["AUTH PLAIN \(Self.b64("\0testuser\0testpass"))", "MAIL FROM:<spammer@bulk.example>", "RCPT TO:<friend@elsewhere.example>"])
        #expect(replies[2] == "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n")
    }

    @Test func quirks() {
        let c = config()
        // AUTH with no greeting command at all, or after HELO.
        #expect(Harness.replies(c, environment: env(""), ["HELO x", "AUTH PLAIN \(Self.b64("\0testuser\0testpass"))"]).last == "235 ok, go ahead (#2.0.0)\r\n")
        // LOGIN works when only CRAM-MD5 is advertised.
        #expect(Harness.replies(c, environment: env("cram"), ["AUTH LOGIN", Self.b64("testuser"), Self.b64("testpass")]).last == "235 ok, go ahead (#2.0.0)\r\n")
        // Invalid base64 is not detected.
        #expect(Harness.replies(c, environment: env(""), ["AUTH LOGIN", "!!!notbase64"]).last == "334 UGFzc3dvcmQ6\r\n")
    }

    @Test func lenientBase64() {
        func user(_ encoded: String) -> String? {
            let run = Harness.run(config(credentials: .rejectAll), environment: env(""), "AUTH LOGIN \(encoded)\r\ncGFzcw==\r\n")
            return run.session.exchanges.last?.decision?.address
        }
        #expect(user("dGVzdHVzZXI=") == "testuser")
        // A partial last group is ignored; unknown characters take no 6-bit slot.
        #expect(user("dGVzdHVzZXI") == "testus")
        #expect(user("dGVz!!!!") == "tes")  // "!!!!" decodes to three NUL bytes
        // Shorter than a group: nothing decoded, so the user is empty and the input malformed.
        let short = Harness.run(config(), environment: env(""), "AUTH LOGIN dGV\r\ncGFzcw==\r\n")
        #expect(short.session.exchanges.last?.reply == Array("501 malformed auth input (#5.5.4)\r\n".utf8))
    }

    @Test func sizeParameterAtMail() {
        let c = config(databytes: "10240\n")
        let e = env("")
        let tooBig = "552 sorry, that message size exceeds my databytes limit (#5.3.4)"
        #expect(Harness.reply(c, environment: e, "MAIL FROM:<carol@example.net> SIZE=11900") == tooBig)
        #expect(Harness.reply(c, environment: e, "MAIL FROM:<carol@example.net> size=11900") == tooBig)
        #expect(Harness.reply(c, environment: e, "MAIL FROM:<carol@example.net> SIZE=10240") == "250 ok")
        #expect(Harness.reply(c, environment: e, "MAIL FROM:carol@example.net SIZE=11900") == "250 ok")
        #expect(Harness.reply(c, environment: e, "MAIL FROM:<> SIZE=11900") == tooBig)
        #expect(Harness.reply(config(), environment: e, "MAIL FROM:<a@b> SIZE=11900") == "250 ok")
        // A refused MAIL keeps the previous transaction.
        #expect(
            Harness.replies(c, environment: e, ["MAIL FROM:<a@b>", "MAIL FROM:<c@d> SIZE=99999", "RCPT TO:<x@example.com>"])
                == ["250 ok\r\n", tooBig + "\r\n", "250 ok\r\n"])
    }

    @Test func authParameterSetsRemoteInfo() {
        let run = Harness.run(
            config(), environment: env(""),
            "MAIL FROM:<a@b> AUTH=joe+2Bx+3Dy@example.org\r\nRCPT TO:<c@example.com>\r\nDATA\r\n.\r\n"
                + "MAIL FROM:<a@b> AUTH=<>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n.\r\n")
        #expect(run.session.envelopes.count == 2)
        #expect(run.session.envelopes[0].receivedText.contains("(joe+x=y@example.org@192.0.2.9)"))
        #expect(run.session.envelopes[1].receivedText.contains("(unknown@192.0.2.9)"))
        // An ident answer (TCPREMOTEINFO) is kept.
        let ident = Harness.run(
            config(), environment: env("", ["TCPREMOTEINFO": "ident"]),
            "MAIL FROM:<a@b> AUTH=joe\r\nRCPT TO:<c@example.com>\r\nDATA\r\n.\r\n")
        #expect(ident.session.envelopes.first?.receivedText.contains("(ident@192.0.2.9)") == true)
    }

    @Test func recordedOutcomes() {
        let recorded = config(credentials: .recorded([false, true]))
        let replies = Harness.replies(
            recorded, environment: env(""),
            ["AUTH PLAIN \(Self.b64("\0u\0p"))", "AUTH LOGIN", Self.b64("u"), Self.b64("p"), "MAIL FROM:<a@b>", "RCPT TO:<x@elsewhere.example>"])
        #expect(replies == [
            "535 authentication failed (#5.7.1)\r\n", "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n",
            "235 ok, go ahead (#2.0.0)\r\n", "250 ok\r\n", "250 ok\r\n",
        ])
        // Malformed input never reaches checkpassword, so it does not use up an outcome.
        let run = Harness.run(
            config(credentials: .recorded([true])), environment: env(""),
            "AUTH PLAIN \(Self.b64("\0u"))\r\nAUTH PLAIN \(Self.b64("\0u\0p"))\r\n")
        #expect(run.session.exchanges.last?.reply == Array("235 ok, go ahead (#2.0.0)\r\n".utf8))
    }

    @Test func usersFile() throws {
        let parsed = try AuthCredentials.parseUsers("# users\ntestuser:testpass\r\nother:with:colon\n\n", path: "users")
        #expect(parsed == .users(["testuser": "testpass", "other": "with:colon"]))
        #expect(throws: UsersFileError.self) { try AuthCredentials.parseUsers("nocolon\n", path: "users") }
        do {
            _ = try AuthCredentials.parseUsers("ok:1\nbad\n", path: "users")
        } catch {
            #expect("\(error)" == "users:2: expected user:password")
        }
    }
}

/// A test-side base64 encoder (independent of the engine's).
enum Base64Helper {
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var n = UInt32(bytes[index]) << 16
            if rest == 2 { n |= UInt32(bytes[index + 1]) << 8 }
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return out
    }
}

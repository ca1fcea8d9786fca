import Foundation
import RelayEngine
import TestSupport
import Testing

/// Loading control directories from disk: qmail's control.c rules, missing vs unreadable,
/// inline overrides, a damaged morercpthosts.cdb, NUL bytes in list files.
@Suite struct ControlTests {
    func folder(_ files: [String: String]) throws -> String {
        let path = try TestSupport.temporaryDirectory("control")
        for (name, text) in files { try TestSupport.write(text, to: path + "/" + name) }
        return path
    }

    @Test func loadsFromDisk() throws {
        let path = try folder(["me": "mx.example.net\n", "rcpthosts": "example.com\n", "databytes": "123abc\n", "timeoutsmtpd": "60\n"])
        let control = try QmailControl.load(directory: path)
        #expect(control.me?.text == "mx.example.net")
        #expect(control.databytes == 123)
        #expect(control.timeout == 60)
        #expect(control.status(of: "rcpthosts") == .present)
        #expect(control.status(of: "badmailfrom") == .missing)
        #expect(control.rcpthosts?.first?.location == SourceLocation(file: path + "/rcpthosts", line: 1))
        #expect(control.setupFailure == nil)
    }

    @Test func missingDirectoryIsAnError() {
        #expect(throws: ControlError.self) { try QmailControl.load(directory: "/nonexistent/control") }
    }

    @Test func overrides() throws {
        let path = try folder(["me": "mx.example.net\n", "rcpthosts": "example.com\n"])
        let replaced = try QmailControl.load(directory: path, overrides: ["rcpthosts": .text("other.example\n", origin: "scenario.yaml")])
        #expect(replaced.rcpthosts?.map(\.text) == ["other.example"])
        #expect(replaced.rcpthosts?.first?.location == SourceLocation(file: "scenario.yaml", line: 1))
        let removed = try QmailControl.load(directory: path, overrides: ["rcpthosts": .missing])
        #expect(removed.rcpthosts == nil)
        #expect(removed.warnings.contains { $0.kind == .rcpthostsMissing })
    }

    @Test(arguments: ["me", "smtpgreeting", "localiphost", "timeoutsmtpd", "rcpthosts", "badmailfrom", "databytes"])
    func unreadableFilesGive421(name: String) throws {
        var files: [String: ControlFile] = ["me": .text("mx.example.net\n"), "rcpthosts": .text("example.com\n")]
        files[name] = .unreadable(reason: "access denied")
        let control = QmailControl(files: files)
        #expect(control.setupFailure?.kind == .controlUnreadable(file: name))
        #expect(control.warnings.contains { $0.kind == .controlUnreadable })
        let run = Harness.run(RelayConfiguration(control: control), "HELO x\r\n")
        #expect(run.text == "421 unable to read controls (#4.3.0)\r\n")
    }

    @Test func unreadableFileOnDisk() throws {
        let path = try folder(["me": "mx.example.net\n", "rcpthosts": "example.com\n"])
        try FileManager.default.createDirectory(atPath: path + "/badmailfrom", withIntermediateDirectories: false)
        let control = try QmailControl.load(directory: path)
        #expect(control.setupFailure?.kind == .controlUnreadable(file: "badmailfrom"))
    }

    @Test func unreadableMorercpthostsMattersOnlyWithRcpthosts() {
        let broken = QmailControl(files: ["me": .text("mx\n"), "rcpthosts": .text("example.com\n"), "morercpthosts.cdb": .unreadable(reason: "access denied")])
        #expect(broken.setupFailure?.kind == .controlUnreadable(file: "morercpthosts.cdb"))
        let open = QmailControl(files: ["me": .text("mx\n"), "morercpthosts.cdb": .unreadable(reason: "access denied")])
        #expect(open.setupFailure == nil)
    }

    @Test func damagedCDBFailsAtLookupTime() {
        let control = QmailControl(files: [
            "me": .text("mx.example.net\n"), "rcpthosts": .text("example.com\n"), "morercpthosts.cdb": .contents(Array("not a cdb".utf8)),
        ])
        #expect(control.warnings.contains { $0.kind == .morercpthostsDamaged })
        let run = Harness.run(
            RelayConfiguration(control: control),
            "MAIL FROM:<a@b>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<a@elsewhere.example>\r\nNOOP\r\n")
        #expect(run.afterGreeting == "250 ok\r\n250 ok\r\n250 ok\r\n421 unable to read controls (#4.3.0)\r\n")
        #expect(run.session.exitStatus == 1)
        #expect(run.session.exchanges.last?.decision?.outcome == .tempfail)
    }

    @Test func uppercaseCDBKeysAreFlagged() {
        let control = Harness.control(Harness.standardFiles, cdb: ["Hosted.Example"])
        #expect(control.warnings.contains { $0.kind == .morercpthostsUppercaseKey })
        let config = RelayConfiguration(control: control)
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@hosted.example>").hasPrefix("553"))
    }

    @Test func nulBytesSplitListEntries() {
        let control = Harness.control(bytes: [
            "me": Array("mx\n".utf8),
            "rcpthosts": Array("one.example".utf8) + [0] + Array("two.example\n".utf8) + [0] + Array("skipped.example\n".utf8),
        ])
        #expect(control.rcpthosts?.map(\.text) == ["one.example", "two.example"])
        let config = RelayConfiguration(control: control)
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@two.example>") == "250 ok")
        #expect(Harness.reply(config, after: ["MAIL FROM:<a@b>"], "RCPT TO:<a@skipped.example>").hasPrefix("553"))
    }

    @Test func capturedControlDirectories() throws {
        for name in ["qmail-relay", "qmail-auth"] {
            let control = try QmailControl.load(directory: TestSupport.fixture("captures/\(name)/control"))
            #expect(control.setupFailure == nil)
            #expect(control.databytes == 10240)
            #expect(control.rcpthosts?.map(\.text) == ["example.net", "example.com", ".sub.example.org"])
            #expect(control.badmailfrom?.map(\.text) == ["spammer@bulk.example", "@junk.example"])
            #expect(control.warnings.isEmpty)
        }
    }
}

/// MD5 and HMAC-MD5 against RFC 1321 and RFC 2104 test vectors, base64 quirks, dates.
@Suite struct PrimitiveTests {
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5(input: String, digest: String) {
        #expect(MD5.hex(MD5.digest(Array(input.utf8))) == digest)
    }

    @Test func hmacMD5() {
        #expect(MD5.hex(MD5.hmac(key: [UInt8](repeating: 0x0b, count: 16), message: Array("Hi There".utf8))) == "9294727a3638bb1c13f48ef8158bfc9d")
        #expect(MD5.hex(MD5.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))) == "750c783e6ab0b503eaa86e310a5db738")
        #expect(MD5.hex(MD5.hmac(key: [UInt8](repeating: 0xAA, count: 16), message: [UInt8](repeating: 0xDD, count: 50))) == "56be34521d144c88dbb8c733f0e8b3f6")
        // RFC 2195's CRAM-MD5 example.
        #expect(
            MD5.hex(MD5.hmac(key: Array("tanstaaftanstaaf".utf8), message: Array("<1896.697170952@postoffice.reston.mci.net>".utf8)))
                == "b913a602c7eda7a495b4e6e7334d3890")
        // A key longer than the block is hashed first (RFC 2202 test 6).
        #expect(
            MD5.hex(MD5.hmac(key: [UInt8](repeating: 0xAA, count: 80), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd")
    }
}

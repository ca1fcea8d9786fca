// Hand-picked odd inputs, each compiled by the real tcprules of both Debian packages (one batch per
// program) and compared with relaylab byte for byte: every example of §18 plus what the random
// generator never writes (NUL bytes, stale line buffers, huge bounds, a missing final newline).

import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("Curated inputs against the real tcprules")
struct CuratedRealTests {
    static let files: [String] = [
        "1.2.3.4:allow,X=\"a:b,c=d#e\"\n", ":allow,RELAYCLIENT=\"\"\n", "a:allow,X=\"1\",X=\"2\"\n", "a:allow,=\"v\"\n",
        "a:deny,G=\"x\"\n", "a:allow,D=xvaluex\n", "a:allow,C=/sl/\n", "a:allow,Q='si \"q\"'\n", "10.0.1.4-7:allow\n",
        "10.0.2-3.:deny\n", "10-11.:allow\n", "1.2.3.250-300:allow\n", "1.2.3.7-4:allow\n", "1.2.3.4-:allow\n",
        "1.2.3.-2:allow\n", "joe@10.0.6.1-2:allow\n", "=a-b.c:allow\n", "a-b.c.d:allow\n", "1.2.3.x-7:allow\n",
        "1.2.3.4-7x:allow\n", " # indented: comment?\n", ":allow X=\"y\"\n", ":allow,X=\"y\" ,Z=\"w\"\n", ":denyfoo\n",
        ":allowed\n", ":allow,\n", ":allow,X\n", ":allow,X=\n", ":allow,X=\"y\n", "1.2.3.4:allow\r\n",
        "#x\r\n\r\n1:allow\n", "1.2.3.4 :allow \t \n", "1-2.3-4.:allow\n", "010-012.:allow\n",
        "1.2.3.99999999999999999999-3:allow\n", "1.2.3.0-18446744073709551617:allow\n", "-:allow\n", "-5.:deny\n",
        "1:allow,X=\"y\"", "xxxxlow:allow\nx:al", "xxxxny:allow\nx:de", "a\u{0}b:allow,X=\"\u{0}\"\n", "a\u{0}b:Allow\n",
        "1:allow,X= v \n", "1:allow,X= v \t\n", "x:y:allow\n", "::1:allow\n", "2001:db8::allow\n", "2001:db8:::allow\n",
        "x:yallow:allow,A=\"b:deny\"\n", "a:allow:deny\n", "1.2\u{0}-3:allow\n",
        "=" + String(repeating: "long.", count: 400) + "example:allow,V=\"" + String(repeating: "v", count: 5000) + "\"\n",
        "1:allow\n1:deny\n1:allow,X=\"third\"\n", "", "\n\n\n", "# only comments\n#:deny\n",
    ]

    func compare(_ dialect: RulesDialect) throws {
        let tcprules = try #require(RealPrograms.tcprules(dialect))
        let folder = try TestSupport.temporaryDirectory("rules-curated")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let real = try RealPrograms.compile(Self.files.map { Array($0.utf8) }, with: tcprules, in: folder, timeout: 0.5)
        for (index, file) in Self.files.enumerated() {
            let context = "\(dialect) file \(index): \(Array(file.utf8).visible)"
            let parsed = Result { () throws(RulesSyntaxError) in
                try RulesSource(parsing: Array(file.utf8), path: "f", dialect: dialect)
            }
            switch parsed {
            case .success(let source):
                #expect(real[index].status == 0, "\(context): real tcprules exit \(real[index].status) \(real[index].stderr.visible)")
                #expect(try source.compiled() == real[index].cdb, "\(context)")
            case .failure(let error):
                if error.reason == .noRuleColon {
                    #expect(real[index].status == RealPrograms.timedOut, "\(context): real exit \(real[index].status)")
                } else {
                    #expect(real[index].status == 100, "\(context): real exit \(real[index].status)")
                    #expect(error.tcprulesOutput == real[index].stderr, "\(context)")
                }
            }
        }
    }

    @Test(.enabled(if: RealPrograms.hasStock, "tcprules (Debian ucspi-tcp) is not installed"))
    func stock() throws { try compare(.ucspiTCP) }

    @Test(.enabled(if: RealPrograms.hasIPv6, "ucspi-tcp-ipv6 is not unpacked at .tools/ucspi-tcp-ipv6 (scripts/test unpacks it)"))
    func ipv6() throws { try compare(.ucspiTCPIPv6) }
}

// The scenario loader (YAML parsing, the configuration schema, includes, control files, rules)
// and `relaylab check`'s runner on arbitrary text. Relative paths resolve into a small fixture
// folder (control files, tcp.smtp, an includable setup) made at start-up.
//
// Properties: no crash, no hang; every problem is reported as a located one-line message.

import Foundation
import FuzzSupport
import Replay
import Scenarios

let fixtureFolder: String = {
    let folder = NSTemporaryDirectory() + "relaylab-fuzz-scenario-\(ProcessInfo.processInfo.processIdentifier)"
    let files = [
        "control/me": "mx.example.net\n",
        "control/rcpthosts": "example.com\n.sub.example.org\n",
        "control/badmailfrom": "spammer@bulk.example\n@junk.example\n",
        "control/databytes": "10240\n",
        "tcp.smtp": "127.:allow,RELAYCLIENT=\"\"\n10.0.0.66:deny\n=.partner.example:allow,RBLSMTPD=\"\"\n:allow\n",
        "users": "alice:secret\n",
        "_setup.yaml": "control: control\nrules: tcp.smtp\nserver: {ip: 192.0.2.25, port: 25}\n",
    ]
    for (name, text) in files {
        let path = folder + "/" + name
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }
    return folder
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: LibFuzzer.bytes(start, count), as: UTF8.self)
    let source = YAMLSource(text: text, path: fixtureFolder + "/fuzz.yaml")
    CheckRunner.check(source: source) { event in
        switch event {
        case .problem(let problem):
            fuzzCheck(isOneLine(problem.message), "a problem message is not one line: \(problem.message.debugDescription)")
        case .result:
            break
        }
    }
    return 0
}

@main
enum Harness {
    static func main() {
        _ = fixtureFolder
        LibFuzzer.run(testOneInput)
    }
}

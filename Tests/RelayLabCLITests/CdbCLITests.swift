import Foundation
import TestSupport
import Testing

/// `relaylab cdb …` and `relaylab bench cdb`, run as the built binary, compared with freecdb's
/// and tinycdb's tools where they are installed.
@Suite(
    "relaylab cdb and bench cdb, end to end",
    .enabled(if: TestSupport.relaylabBinary != nil, "relaylab is not built (run swift build first)")
)
struct CdbCLITests {
    static let haveFreecdb = TestSupport.has("cdbmake", "cdbdump", "cdbget")

    static func relaylab(_ arguments: [String], input: [UInt8] = []) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, input: input)
    }

    /// cdbmake input with binary keys and data, duplicates, empty keys and values.
    static func sampleInput(count: Int = 400, seed: UInt64 = 9) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var text: [UInt8] = []
        var keys: [[UInt8]] = []
        for index in 0..<count {
            var key = (0..<Int.random(in: 0...12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if index > 0 && index % 7 == 0 { key = keys[Int.random(in: 0..<keys.count, using: &rng)] }
            if index % 3 == 0 { key = Array("key\(index)".utf8) }
            keys.append(key)
            let data = (0..<Int.random(in: 0...20, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            text += Array("+\(key.count),\(data.count):".utf8) + key + Array("->".utf8) + data + [0x0a]
        }
        return text + [0x0a]
    }

    @Test("make: from a file and from stdin, identical to cdbmake, atomically")
    func make() throws {
        let dir = try TestSupport.temporaryDirectory("cli-make")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = Self.sampleInput()
        try TestSupport.write(input, to: "\(dir)/in.txt")
        let fromFile = try Self.relaylab(["cdb", "make", "\(dir)/a.cdb", "\(dir)/in.txt"])
        #expect(fromFile.status == 0 && fromFile.stdout.isEmpty && fromFile.stderr.isEmpty)
        let fromStdin = try Self.relaylab(["cdb", "make", "\(dir)/b.cdb"], input: input)
        #expect(fromStdin.status == 0)
        let dash = try Self.relaylab(["cdb", "make", "\(dir)/c.cdb", "-"], input: input)
        #expect(dash.status == 0)
        let a = try TestSupport.read("\(dir)/a.cdb")
        #expect(try TestSupport.read("\(dir)/b.cdb") == a)
        #expect(try TestSupport.read("\(dir)/c.cdb") == a)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["a.cdb", "b.cdb", "c.cdb", "in.txt"])
        if Self.haveFreecdb {
            _ = try TestSupport.run("cdbmake", ["\(dir)/ref.cdb", "\(dir)/ref.tmp"], input: input)
            #expect(try TestSupport.read("\(dir)/ref.cdb") == a)
        }
    }

    @Test("make: malformed input exits 2 with one line naming line and offset; nothing is written")
    func makeRejects() throws {
        let dir = try TestSupport.temporaryDirectory("cli-make-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.write("the old database", to: "\(dir)/out.cdb")
        let bad = Array("+1,1:a->b\n+3 ,5:one->Hello\n\n".utf8)
        let result = try Self.relaylab(["cdb", "make", "\(dir)/out.cdb"], input: bad)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderrText
                == "relaylab: <stdin>: line 2: offset 12: bad cdbmake input: expected a digit or ',' in the key length, found a space\n"
        )
        try TestSupport.write(Array("+1,1:a->b\n".utf8), to: "\(dir)/in.txt")
        let unterminated = try Self.relaylab(["cdb", "make", "\(dir)/out.cdb", "\(dir)/in.txt"])
        #expect(unterminated.status == 2)
        #expect(unterminated.stderrText.hasPrefix("relaylab: \(dir)/in.txt: line 2: offset 10: "))
        #expect(try TestSupport.read("\(dir)/out.cdb") == Array("the old database".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["in.txt", "out.cdb"])

        let missing = try Self.relaylab(["cdb", "make", "\(dir)/x.cdb", "\(dir)/missing.txt"])
        #expect(missing.status == 2)
        #expect(missing.stderrText.hasPrefix("relaylab: \(dir)/missing.txt: unable to read: "))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.cdb"))
    }

    @Test("get: raw data like cdbget, exit 1 when not found, --skip and --all")
    func get() throws {
        let dir = try TestSupport.temporaryDirectory("cli-get")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = Array("+3,5:one->Hello\n+3,7:one->Goodbye\n+0,3:->\u{0}\n\u{1}\n+3,0:two->\n\n".utf8)
        #expect(try Self.relaylab(["cdb", "make", "\(dir)/t.cdb"], input: input).status == 0)
        let file = "\(dir)/t.cdb"
        let hello = try Self.relaylab(["cdb", "get", file, "one"])
        #expect(hello.status == 0 && hello.stdout == Array("Hello".utf8) && hello.stderr.isEmpty)
        #expect(try Self.relaylab(["cdb", "get", file, "one", "--skip", "1"]).stdout == Array("Goodbye".utf8))
        #expect(try Self.relaylab(["cdb", "get", file, "one", "--skip", "2"]).status == 1)
        #expect(try Self.relaylab(["cdb", "get", file, ""]).stdout == [0, 0x0a, 1])
        let empty = try Self.relaylab(["cdb", "get", file, "two"])
        #expect(empty.status == 0 && empty.stdout.isEmpty)
        let missing = try Self.relaylab(["cdb", "get", file, "three"])
        #expect(missing.status == 1 && missing.stdout.isEmpty && missing.stderr.isEmpty)
        let all = try Self.relaylab(["cdb", "get", file, "one", "--all"])
        #expect(all.status == 0 && all.stdoutText == "Hello\nGoodbye\n")
        #expect(try Self.relaylab(["cdb", "get", file, "three", "--all"]).status == 1)
        if TestSupport.has("cdb") {
            #expect(try TestSupport.run("cdb", ["-q", "-m", file, "one"]).stdout == all.stdout)
        }
        let noFile = try Self.relaylab(["cdb", "get", "\(dir)/none.cdb", "one"])
        #expect(noFile.status == 2)
        #expect(noFile.stderrText == "relaylab: \(dir)/none.cdb: unable to open: file does not exist\n")
    }

    @Test("get equals cdbget on every key of a binary database", .enabled(if: haveFreecdb, "freecdb (cdbmake, cdbget) is not installed"))
    func getMatchesCdbget() throws {
        let dir = try TestSupport.temporaryDirectory("cli-cdbget")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/t.cdb"
        _ = try TestSupport.run("cdbmake", [file, "\(dir)/t.tmp"], input: Self.sampleInput(count: 120))
        for index in stride(from: 0, to: 130, by: 3) {  // key0, key3, … (key123 and up are missing)
            let key = "key\(index)"
            let theirs = try TestSupport.run("sh", ["-c", "cdbget \"$1\" < \"$0\"", file, key])
            let ours = try Self.relaylab(["cdb", "get", file, key])
            #expect(ours.stdout == theirs.stdout, "\(key)")
            #expect(ours.status == (theirs.status == 100 ? 1 : theirs.status), "\(key)")
        }
    }

    @Test("dump: byte-identical to cdbdump, and make(dump(f)) == f", .enabled(if: haveFreecdb, "freecdb (cdbmake, cdbdump) is not installed"))
    func dump() throws {
        let dir = try TestSupport.temporaryDirectory("cli-dump")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/t.cdb"
        _ = try TestSupport.run("cdbmake", [file, "\(dir)/t.tmp"], input: Self.sampleInput(count: 2000, seed: 4))
        let theirs = try TestSupport.run("sh", ["-c", "cdbdump < \"$0\"", file])
        let ours = try Self.relaylab(["cdb", "dump", file])
        #expect(ours.status == 0 && theirs.status == 0)
        #expect(ours.stdout == theirs.stdout)
        #expect(try Self.relaylab(["cdb", "make", "\(dir)/again.cdb"], input: ours.stdout).status == 0)
        #expect(try TestSupport.read("\(dir)/again.cdb") == TestSupport.read(file))
    }

    @Test("damaged files: exit 2 and one line naming the file and offset")
    func damaged() throws {
        let dir = try TestSupport.temporaryDirectory("cli-damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/t.cdb"
        try TestSupport.write([UInt8](repeating: 0, count: 100), to: file)
        for command in [["dump"], ["stats"], ["get"]] {
            let result = try Self.relaylab(["cdb"] + command + [file] + (command == ["get"] ? ["k"] : []))
            #expect(result.status == 2)
            #expect(
                result.stderrText
                    == "relaylab: \(file): offset 100: truncated cdb header: the file has 100 bytes, a cdb needs at least 2048\n"
            )
        }
        // A record whose length runs past the end: dump prints the records before it, then fails.
        var bytes = Array(try Self.relaylab(["cdb", "make", file], input: Array("+1,1:a->b\n+1,1:c->d\n\n".utf8)).stdout)
        #expect(bytes.isEmpty)
        bytes = try TestSupport.read(file)
        bytes[2048 + 10 + 4] = 0xFF  // second record's data length
        try TestSupport.write(bytes, to: file)
        let dump = try Self.relaylab(["cdb", "dump", file])
        #expect(dump.status == 2)
        #expect(dump.stdoutText == "+1,1:a->b\n")
        #expect(dump.stderrText.hasPrefix("relaylab: \(file): offset 2058: record at position 2058 "))
        #expect(dump.stderrText.filter { $0 == "\n" }.count == 1)
    }

    @Test("stats: text and JSON")
    func stats() throws {
        let dir = try TestSupport.temporaryDirectory("cli-stats")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/t.cdb"
        #expect(try Self.relaylab(["cdb", "make", file], input: Self.sampleInput(count: 300)).status == 0)
        let text = try Self.relaylab(["cdb", "stats", file, "--tables"])
        #expect(text.status == 0)
        for label in ["records           300", "distinct keys", "hash tables", "hit lookups", "miss lookups", "probes per hit", "table  position"] {
            #expect(text.stdoutText.contains(label), "\(label)")
        }
        let json = try Self.relaylab(["cdb", "stats", file, "--format", "json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])
        #expect(object["records"] as? Int == 300)
        #expect(object["indexed_records"] as? Int == 300)
        #expect((object["distinct_keys"] as? Int).map { $0 > 200 && $0 < 300 } == true)
        #expect(object["slots"] as? Int == 600)
        #expect(object["load"] as? Double == 0.5)
        #expect((object["tables"] as? [Any])?.count == 256)
        let hit = try #require(object["hit"] as? [String: Any])
        #expect((hit["mean_probe"] as? Double).map { $0 >= 1 } == true)
        #expect(hit["histogram"] is [String: Any])
        #expect(object["miss"] is [String: Any])
    }

    @Test("usage errors exit 2; --help exits 0")
    func usage() throws {
        for arguments in [["cdb", "get"], ["cdb", "get", "f"], ["cdb", "stats", "f", "--format", "xml"], ["cdb", "frobnicate"], ["cdb", "get", "f", "k", "--skip", "-1"], ["bench", "cdb", "f", "--lookups", "0"], ["bench", "cdb", "f", "--keys", "k", "--hit-ratio", "0.3"]] {
            let result = try Self.relaylab(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(!result.stderr.isEmpty)
        }
        for arguments in [["--help"], ["cdb", "--help"], ["cdb", "make", "--help"], ["cdb", "get", "--help"], ["cdb", "dump", "--help"], ["cdb", "stats", "--help"], ["bench", "--help"], ["bench", "cdb", "--help"]] {
            let result = try Self.relaylab(arguments)
            #expect(result.status == 0, "\(arguments)")
            #expect(result.stdoutText.contains("USAGE"), "\(arguments)")
        }
        #expect(try Self.relaylab(["--version"]).status == 0)
    }

    @Test("bench cdb: --generate, then single, batched, suffix and threaded runs in JSON")
    func bench() throws {
        let dir = try TestSupport.temporaryDirectory("cli-bench")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/domains.cdb"
        let generate = try Self.relaylab(["bench", "cdb", "--generate", "3000", file, "--seed", "5"])
        #expect(generate.status == 0)
        #expect(generate.stdoutText.hasPrefix("wrote \(file): 3000 domain-name keys (seed 5)"))
        let again = "\(dir)/again.cdb"
        #expect(try Self.relaylab(["bench", "cdb", "--generate", "3000", again, "--seed", "5"]).status == 0)
        #expect(try TestSupport.read(again) == TestSupport.read(file), "--generate is reproducible")

        let runs: [[String]] = [[], ["--batch"], ["--suffix"], ["--suffix", "--batch"], ["--threads", "2"], ["--hit-ratio", "1"]]
        for extra in runs {
            let result = try Self.relaylab(["bench", "cdb", file, "--lookups", "20000", "--format", "json"] + extra)
            #expect(result.status == 0, "\(extra): \(result.stderrText)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any])
            for field in ["lookups", "seconds", "lookups_per_second", "p50_ns", "p99_ns", "max_ns", "hits", "misses"] {
                #expect(object[field] != nil, "\(extra): \(field)")
            }
            let lookups = try #require(object["lookups"] as? Int)
            let hits = try #require(object["hits"] as? Int)
            let misses = try #require(object["misses"] as? Int)
            #expect(hits + misses == lookups)
            #expect((object["p50_ns"] as? Int).map { $0 > 0 } == true)
            #expect((object["p99_ns"] as? Int ?? 0) >= (object["p50_ns"] as? Int ?? 0))
            if extra.contains("--suffix") {
                #expect(lookups >= 20000)  // whole queries: at least the asked-for lookups
                #expect((object["queries"] as? Int).map { $0 < lookups } == true)
            } else {
                #expect(lookups == 20000)
                if extra == ["--hit-ratio", "1"] {
                    #expect(hits == lookups)
                } else {
                    #expect(hits == 10000, "half of the generated queries are keys of the file")
                }
            }
        }
        // Keys from a file, in text.
        try TestSupport.write("nothere.example\n\(CdbCLITests.firstKey(file))\n", to: "\(dir)/keys.txt")
        let fromFile = try Self.relaylab(["bench", "cdb", file, "--keys", "\(dir)/keys.txt", "--lookups", "1000"])
        #expect(fromFile.status == 0)
        #expect(fromFile.stdoutText.contains("500 hits, 500 misses"))
        #expect(fromFile.stdoutText.contains("latency"))
        #expect(fromFile.stdoutText.contains("memory"))

        let missing = try Self.relaylab(["bench", "cdb", "\(dir)/none.cdb", "--lookups", "10"])
        #expect(missing.status == 2)
        #expect(missing.stderrText.hasPrefix("relaylab: \(dir)/none.cdb: unable to open"))
    }

    /// The first key of a cdb file (from `relaylab cdb dump`).
    static func firstKey(_ file: String) throws -> String {
        let dump = try relaylab(["cdb", "dump", file]).stdoutText
        let line = dump.split(separator: "\n").first ?? ""
        let colon = line.firstIndex(of: ":")!
        let arrow = line.range(of: "->")!
        return String(line[line.index(after: colon)..<arrow.lowerBound])
    }
}

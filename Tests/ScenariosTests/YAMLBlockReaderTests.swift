import Foundation
@_spi(Testing) import Scenarios
import TestSupport
import Testing

/// The hand-written block reader against Yams: for every text it takes, the tree (kinds,
/// styles, texts, line and column marks) must be exactly the one Yams composes; every other
/// text must be left to Yams.
struct YAMLBlockReaderTests {
    /// The reader's tree and Yams's for `text`: nil for the reader when it leaves the text to
    /// Yams; Yams's is its error message when it fails.
    static func bothTrees(_ text: String) -> (fast: String?, yams: String) {
        let source = YAMLSource(text: text, path: "t.yaml")
        let fast = source._blockReaderDump()
        let yams: String
        do {
            yams = try source._yamsDump()
        } catch {
            yams = "error: \(error.summary)"
        }
        return (fast, yams)
    }

    /// Whether the reader took `text`, after checking it agrees with Yams.
    @discardableResult
    static func expectAgreement(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let (fast, yams) = bothTrees(text)
        guard let fast else { return false }
        #expect(fast == yams, "block reader and Yams disagree on:\n\(text)", sourceLocation: sourceLocation)
        return true
    }

    static func yamlFiles() throws -> [String] {
        var files: [String] = []
        for folder in ["scenarios", "Tests/Fixtures", "captures", "Fuzz/Corpus"] {
            let root = TestSupport.packageRoot + "/" + folder
            guard let enumerator = FileManager.default.enumerator(atPath: root) else { continue }
            while let path = enumerator.nextObject() as? String {
                if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { files.append(root + "/" + path) }
            }
        }
        return files.sorted()
    }

    @Test func everyBundledYAMLFileReadsAsYamsReadsIt() throws {
        let files = try Self.yamlFiles()
        #expect(files.count >= 20)
        var taken = 0
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            if Self.expectAgreement(text) { taken += 1 }
        }
        // Most bundled files are in the subset (the others use flow mappings, block scalars…).
        print("block reader took \(taken) of \(files.count) bundled YAML files")
        #expect(taken >= 1, "the block reader took none of \(files.count) files")
    }

    @Test func theGeneratedThroughputFileIsInTheSubset() {
        var generator = SplitMix64(seed: 3)
        var text = "config:\n  control: captures/qmail-relay/control\n  rblsmtpd: true\nconnections:\n"
        for index in 0..<200 {
            text += "  - client: 198.18.\(index % 250).\(generator.next() % 250)\n"
            if index % 2 == 0 { text += "    ptr: host\(index).partner.example\n" }
            text += "    from: sender\(index)@partner.example\n    rcpt:\n"
            text += "      user\(index)@example.net: accept\n      'quoted\(index)@other.example': \"refuse\"  # comment\n"
        }
        #expect(Self.expectAgreement(text))
    }

    /// Short keys and words are taken from a small table of recent texts (by their bytes); with
    /// a few hundred different ones of every length from 1 to 15, many share a slot, and the
    /// texts at the very end of the file are read byte by byte: every text must still be its own.
    @Test func shortTextsThatShareATableSlotStayApart() {
        var generator = SplitMix64(seed: 11)
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789.-@")
        var words: [String] = []
        for index in 0..<300 {
            let length = index % 15 + 1
            var word = String(letters[Int(generator.next() % 26)])
            while word.count < length { word.append(letters[Int(generator.next() % UInt64(letters.count))]) }
            words.append(word)
        }
        var text = "items:\n"
        for _ in 0..<1500 {
            let key = words[Int(generator.next() % UInt64(words.count))]
            let value = words[Int(generator.next() % UInt64(words.count))]
            text += "  - \(key): \(value)\n"
        }
        // The last texts end less than 16 bytes before the end of the file.
        text += "last: \(words[14])\nz: \(words[0])"
        #expect(Self.expectAgreement(text))
    }

    @Test(arguments: [
        "a: b\n",
        "a: b\nc: d",
        "a:\n  b: c\n  d: e\nf: g\n",
        "a:\n- x\n- y\nb: z\n",
        "a:\n  - x\n  - y\nb: z\n",
        "- a\n- b\n",
        "- a: b\n  c: d\n- e: f\n",
        "-   a: b\n    c: d\n",
        "- \n  a: b\n",
        "-\n  - x\n",
        "k:\n  - a: 1\n    b:\n    - 2\n    - 3\n  - c\n",
        "a: 'it''s'\nb: \"x # y\"\nc: d # comment\n",
        "# comment\n\na: b   \n   # indented comment\nc: d\n",
        "\"quoted key\": v\n'single': w\n",
        "a: b: c\n",
        "a: b\n  c\n",
        "a: b\n b: c\n",
        "a: b\na: c\n",
        "a: b\n'a': c\n",
        "a:\nb: c\n",
        "a: [1, 2]\n",
        "a: {b: c}\n",
        "a: &x b\nc: *x\n",
        "a: |\n  text\n",
        "a: >\n  text\n",
        "---\na: b\n",
        "a: b\n...\n",
        "%YAML 1.2\n---\na: b\n",
        "a: \"x\\ty\"\n",
        "a:\tb\n",
        "a: b\r\nc: d\r\n",
        "a: é\n",
        "a: -1\n",
        "a: b#c\n",
        "a: b #c\n",
        "a: 'b'#c\n",
        "a: 'b' x\n",
        "a#: b\n",
        "a : b\n",
        "a:b\n",
        "- - a\n",
        "- a\nb: c\n",
        "k:\n  - a\n  b: c\n",
        "  a: b\n  c: d\n",
        "  a: b\nc: d\n",
        "a:\n    b: 1\n  c: 2\n",
        "",
        "# only a comment\n",
        "a",
        "a: ~\nb: null\nc: yes\nd: 25\ne: 0x1F\n",
        "a: http://x:y/z\nb: tcp.smtp:7\n",
        "a: 'x\n  y'\n",
        "a: \"x\n  y\"\n",
        "? a\n: b\n",
        "a: !tag b\n",
        "a: @b\n",
        "a: `b\n",
        "a: b,c\n",
        "a: x, y\n",
        "a: x]\n",
        "a: '' \nb: \"\"\n",
        "a:\nb: c\n", "a:   \nb: c\n", "a:  # x\n\n  # y\nb: c\n", "k:\n  a:\n  b: c\n", "- a:\n- b\n", "-\n- b\n",
        "-   # c\n- b\n", "a:\n", "a:", "- a:\n  b:\n", "x:\n  -\n  - a:\n", "x:\n-\n-\ny:\n",
    ])
    func handPickedTextsReadAsYamsReadsThem(_ text: String) {
        Self.expectAgreement(text)
    }

    @Test func theSubsetIsTakenAndTheRestLeftToYams() {
        let subset = [
            "a: b\n", "a: x, y\n", "a: b#c\n", "a: b #c\n", "a: 'it''s'\nb: \"x # y\"\n", "- a: b\n  c: d\n- e\n",
            "a:\n- x\n- y\nb: z\n", "a:\n  - x\nb:\n", "-\n- b\n", "\"k\": v\n'k2': w\n", "# c\n\na: b   # c\n",
            "a: http://x:y/z\n", "a: ~\nb: 25\n", "  a: b\n  c: d\n", "x:\n  -\n  - a:\n",
        ]
        for text in subset { #expect(Self.expectAgreement(text), "left \(text.debugDescription) to Yams") }
        let others = [
            "a: [b]\n", "a: {b: c}\n", "a: |\n  b\n", "a: >\n  b\n", "a: b\na: c\n", "a: b\n  c\n", "a:\tb\n", "a: &x b\n",
            "a: *x\n", "a: !t b\n", "a: \"\\n\"\n", "a: b\r\n", "a: é\n", "---\na: b\n", "a: 'x\n  y'\n", "? a\n: b\n", "",
            "a: b: c\n", "- - a\n", "a: -1\n",
        ]
        for text in others {
            #expect(YAMLSource(text: text, path: "t.yaml")._blockReaderDump() == nil, "took \(text.debugDescription)")
        }
    }

    @Test func deepNestingIsLeftToYams() {
        var text = ""
        for depth in 0..<250 { text += String(repeating: " ", count: depth) + "k\(depth):\n" }
        #expect(YAMLSource(text: text, path: "t.yaml")._blockReaderDump() == nil)
        text = ""
        for depth in 0..<150 { text += String(repeating: " ", count: depth) + "k\(depth):\n" }
        #expect(Self.expectAgreement(text))
    }

    /// Random texts built from lines scenario files use and lines they should not, mutated:
    /// whatever the reader takes must match Yams.
    @Test func randomTextsReadAsYamsReadsThem() {
        var generator = SplitMix64(seed: 11)
        let keys = ["a", "client", "rcpt", "user@example.net", "'q k'", "\"dq\"", "a b", "x-y", "k#", "k:v", "?", "-", "[a]", "é", ""]
        let values = [
            "b", "'s''q'", "\"d\"", "~", "", "x # c", "x#c", "a: b", "[1]", "{a: b}", "|", ">", "&x y", "*x", "!t v",
            "'open", "\"esc\\n\"", "x, y", "@", "-1", "- a", "tcp.smtp:7", " lead",
        ]
        var taken = 0
        for _ in 0..<3000 {
            var text = ""
            for _ in 0..<Int(generator.next() % 8 + 1) {
                let indent = String(repeating: " ", count: Int(generator.next() % 4) * 2 + (generator.next() % 10 == 0 ? 1 : 0))
                let key = keys[Int(generator.next() % UInt64(keys.count))]
                let value = values[Int(generator.next() % UInt64(values.count))]
                switch generator.next() % 7 {
                case 0: text += indent + "- " + value + "\n"
                case 1: text += indent + "- " + key + ": " + value + "\n"
                case 2: text += indent + key + ":\n"
                case 3: text += indent + "-\n"
                case 4: text += indent + "# " + value + "\n"
                case 5: text += "\n"
                default: text += indent + key + ": " + value + "\n"
                }
            }
            if Self.expectAgreement(text) { taken += 1 }
        }
        #expect(taken > 100, "the block reader took only \(taken) of 3000 random texts")
    }

    /// Random well-formed block documents (nested mappings and lists at random indentations,
    /// compact `- key:` items, indentless lists, empty values, comments, blank lines, scalars
    /// with the characters that matter): most are in the subset, and each must read as Yams
    /// reads it.
    @Test func randomBlockDocumentsReadAsYamsReadsThem() {
        var generator = SplitMix64(seed: 29)
        func pick<T>(_ items: [T]) -> T { items[Int(generator.next() % UInt64(items.count))] }
        let scalars = [
            "a", "user@example.net", "198.51.100.7", "tcp.smtp:7", "x, y", "a#b", "it's", "~", "null", "25", "yes",
            "'q'", "'it''s'", "\"d q\"", "\"a # b\"", "''", "\"\"", "a  b", "http://x/y", "<a@b>", "5.7.1 x", "%x", "a:b",
        ]
        let keys = ["k", "client", "rcpt", "user@example.net", "a b", "'q k'", "\"d k\"", "x-y", "a:b", "k2", "k3"]
        func comment() -> String { generator.next() % 6 == 0 ? "  # " + pick(scalars) : "" }
        func filler(_ indent: Int) -> String {
            switch generator.next() % 8 {
            case 0: return "\n"
            case 1: return String(repeating: " ", count: Int(generator.next() % 6)) + "# note\n"
            default: return ""
            }
        }
        /// A block node at `indent`, written after a `key:` or `-` line (or at the top).
        func block(_ indent: Int, depth: Int) -> String {
            var out = ""
            if generator.next() % 2 == 0 || depth > 4 {
                // A mapping.
                var used = Set<String>()
                for _ in 0..<Int(generator.next() % 3 + 1) {
                    var key = pick(keys)
                    if used.contains(key) { key += String(used.count) }
                    used.insert(key)
                    out += filler(indent) + String(repeating: " ", count: indent) + key + ":"
                    out += value(indent, depth: depth, indentlessAllowed: true)
                }
            } else {
                for _ in 0..<Int(generator.next() % 3 + 1) {
                    out += filler(indent) + String(repeating: " ", count: indent) + "-"
                    if depth < 4, generator.next() % 3 == 0 {
                        // `- key: value` and more keys under it.
                        let inner = indent + 1 + Int(generator.next() % 3) + 1
                        out += String(repeating: " ", count: inner - indent - 1)
                        var first = true
                        var used = Set<String>()
                        for _ in 0..<Int(generator.next() % 2 + 1) {
                            var key = pick(keys)
                            if used.contains(key) { key += String(used.count) }
                            used.insert(key)
                            out += (first ? "" : String(repeating: " ", count: inner)) + key + ":"
                            out += value(inner, depth: depth + 1, indentlessAllowed: true)
                            first = false
                        }
                    } else {
                        out += value(indent, depth: depth, indentlessAllowed: false)
                    }
                }
            }
            return out
        }
        /// What follows `key:` or `-` (at `indent`): a scalar, nothing, or a nested block.
        func value(_ indent: Int, depth: Int, indentlessAllowed: Bool) -> String {
            switch generator.next() % 5 {
            case 0, 1: return " " + pick(scalars) + comment() + "\n"
            case 2: return comment() + "\n"
            default:
                if depth >= 5 { return " " + pick(scalars) + "\n" }
                if indentlessAllowed, generator.next() % 3 == 0 {
                    var out = comment() + "\n"
                    for _ in 0..<Int(generator.next() % 3 + 1) {
                        out += String(repeating: " ", count: indent) + "-" + value(indent, depth: depth + 1, indentlessAllowed: false)
                    }
                    return out
                }
                return comment() + "\n" + block(indent + 1 + Int(generator.next() % 3), depth: depth + 1)
            }
        }
        var taken = 0
        for _ in 0..<2000 {
            if Self.expectAgreement(block(0, depth: 0)) { taken += 1 }
        }
        #expect(taken > 1000, "the block reader took only \(taken) of 2000 block documents")
    }

    /// Every bundled file with one byte changed (deleted, or replaced by one of the characters
    /// that matter to YAML): whatever the reader takes must match Yams.
    @Test func mutatedBundledFilesReadAsYamsReadsThem() throws {
        var generator = SplitMix64(seed: 5)
        let replacements: [UInt8] = Array(" -:#'\"\n\tax[{&|>.".utf8)
        for file in try Self.yamlFiles() {
            let bytes = Array(try String(contentsOfFile: file, encoding: .utf8).utf8)
            guard !bytes.isEmpty else { continue }
            for _ in 0..<40 {
                var mutated = bytes
                let at = Int(generator.next() % UInt64(bytes.count))
                if generator.next() % 3 == 0 {
                    mutated.remove(at: at)
                } else {
                    mutated[at] = replacements[Int(generator.next() % UInt64(replacements.count))]
                }
                Self.expectAgreement(String(decoding: mutated, as: UTF8.self))
            }
        }
    }
}

import Foundation
internal import Yams

/// The text of a YAML file, parsed with Yams, kept so that errors can quote the offending line.
public final class YAMLSource: Sendable {
    /// The file as shown in messages (as the user gave it).
    public let path: String
    /// The folder relative paths inside the file are resolved against.
    public let directory: String
    /// The whole text.
    public let text: String
    /// The most bytes read from a file this one names (included configurations, control files,
    /// fixtures, run scripts), and from this file itself when read with ``read(path:maxFileBytes:)``.
    public let maxFileBytes: Int

    /// The default ``maxFileBytes``: 64 MiB (a generated 100,000-connection scenario file is
    /// about 17 MB; parsing one with Yams takes about 20 times the file's size in memory).
    public static let defaultMaxFileBytes = 64 << 20

    /// A source over text already in memory.
    ///
    /// - Parameters:
    ///   - text: the YAML text.
    ///   - path: the name shown in messages.
    ///   - directory: the folder relative paths are resolved against (default: `path`'s folder).
    ///   - maxFileBytes: the most bytes read from a file this one names.
    public init(text: String, path: String, directory: String? = nil, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) {
        self.text = text
        self.path = path
        self.directory = directory ?? YAMLSource.folder(of: path)
        self.maxFileBytes = max(0, maxFileBytes)
    }

    /// Reads a file, checking that it is UTF-8 and at most `maxFileBytes` long.
    ///
    /// - Throws: ``ScenarioError`` naming the file (not found, unreadable, too large, not UTF-8,
    ///   with the line and column of the first bad byte).
    public static func read(path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) throws(ScenarioError) -> YAMLSource {
        let bytes: [UInt8]
        switch BoundedRead.read(path, limit: maxFileBytes) {
        case .contents(let contents): bytes = contents
        case let other: throw ScenarioError(file: path, other.problem(what: "a YAML file") ?? "cannot be read")
        }
        // The standard library's check first (one fast pass that also makes the text); the
        // byte-by-byte search only for a file it refuses, to say where.
        if let text = String(validating: bytes, as: UTF8.self) {
            return YAMLSource(text: text, path: path, maxFileBytes: maxFileBytes)
        }
        if let bad = firstInvalidUTF8(bytes) {
            let (line, column, lineText) = YAMLSource.lineAndColumn(ofByte: bad, in: bytes)
            throw ScenarioError(
                at: FilePosition(file: path, line: line, column: column),
                String(format: "not valid UTF-8 (byte 0x%02X); YAML files must be UTF-8", bytes[bad]),
                sourceLine: lineText)
        }
        return YAMLSource(text: String(decoding: bytes, as: UTF8.self), path: path, maxFileBytes: maxFileBytes)
    }

    /// Reads a file this one names (resolved already), at most ``maxFileBytes`` of it.
    public func readNamedFile(_ path: String) -> BoundedRead {
        BoundedRead.read(path, limit: maxFileBytes)
    }

    /// Parses the text into its single document's root node.
    ///
    /// Every scalar is kept as text (no implicit typing: the schema decides what `25`, `yes` or
    /// `null` mean), which also keeps parsing fast. Plain block-style files are read by a
    /// hand-written reader that gives the same tree as Yams, ten times faster; every other file
    /// (and every file with an error) is parsed by Yams.
    ///
    /// - Throws: ``ScenarioError`` for YAML syntax errors, duplicate keys, several documents, or
    ///   an empty file.
    public func root() throws(ScenarioError) -> YAMLNode {
        if let tree = _YAMLBlockReader.read(self) { return YAMLNode(tree: tree, index: 0) }
        return YAMLNode(tree: try yamsTree(), index: 0)
    }

    /// The document as Yams composes it (every file the block reader does not take, and the
    /// reference the differential tests compare it with).
    func yamsTree() throws(ScenarioError) -> _YAMLTree {
        let node: Node?
        do {
            node = try Parser(yaml: text, resolver: .basic).singleRoot()
        } catch let error as YamlError {
            throw scenarioError(from: error)
        } catch {
            throw ScenarioError(file: path, "cannot parse: \(error)")
        }
        guard let node else {
            throw ScenarioError(file: path, "the file is empty")
        }
        return _YAMLTree(yams: node, source: self)
    }

    /// The text of a 1-based line, without its line end.
    public func line(_ number: Int) -> String? {
        guard number >= 1 else { return nil }
        var current = 1
        var start: String.UTF8View.Index? = number == 1 ? text.utf8.startIndex : nil
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "\n") {
                if current == number, let start { return YAMLSource.trimCR(String(text[start..<index])) }
                current += 1
                if current == number { start = utf8.index(after: index) }
            }
            index = utf8.index(after: index)
        }
        if let start, current == number { return YAMLSource.trimCR(String(text[start...])) }
        return nil
    }

    /// An error at a 1-based line and column of this file, quoting the line.
    public func error(line: Int, column: Int, _ message: String) -> ScenarioError {
        ScenarioError(
            at: FilePosition(file: path, line: line, column: column), message, sourceLine: self.line(line))
    }

    /// A path written in this file, made usable: absolute paths stay, relative ones are taken
    /// relative to the file's folder.
    public func resolve(_ relativePath: String) -> String {
        if relativePath.hasPrefix("/") || directory.isEmpty || directory == "." {
            return YAMLSource.normalize(relativePath)
        }
        return YAMLSource.normalize(directory + "/" + relativePath)
    }

    /// Removes `.` components, and `..` after a named component, without touching the disk:
    /// `scenarios/../captures/x` → `captures/x`.
    public static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
                continue
            }
            if part == "..", absolute, parts.isEmpty { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    // MARK: - Internals

    func scenarioError(from error: YamlError) -> ScenarioError {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return self.error(line: mark.line, column: mark.column, message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            let noun = duplicates.count == 1 ? "key" : "keys"
            return self.error(
                line: context.mark.line, column: context.mark.column,
                "duplicate \(noun) \(keys) in the same mapping")
        case .reader(let problem, let offset, _, _):
            if let offset, let position = characterPosition(offset) {
                return self.error(line: position.line, column: position.column, "cannot read the file: \(problem)")
            }
            return ScenarioError(file: path, "cannot read the file: \(problem)")
        default:
            return ScenarioError(file: path, "cannot parse: \(error)")
        }
    }

    /// Line and column of the character at `offset` (in Characters from the start).
    private func characterPosition(_ offset: Int) -> (line: Int, column: Int)? {
        var line = 1
        var column = 1
        var count = 0
        for character in text {
            if count == offset { return (line, column) }
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
            count += 1
        }
        return count == offset ? (line, column) : nil
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func trimCR(_ line: String) -> String {
        line.hasSuffix("\r") ? String(line.dropLast()) : line
    }

    /// The index of the first byte that is not part of valid UTF-8, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var minimum: UInt32
            var scalar: UInt32
            switch byte {
            case 0xC2...0xDF: (length, minimum, scalar) = (2, 0x80, UInt32(byte & 0x1F))
            case 0xE0...0xEF: (length, minimum, scalar) = (3, 0x800, UInt32(byte & 0x0F))
            case 0xF0...0xF4: (length, minimum, scalar) = (4, 0x10000, UInt32(byte & 0x07))
            default: return index
            }
            guard index + length <= bytes.count else { return index }
            for offset in 1..<length {
                let next = bytes[index + offset]
                guard next & 0xC0 == 0x80 else { return index }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return index }
            minimum = 0
            index += length
        }
        return nil
    }

    /// 1-based line and column (in scalars, counting each invalid byte as one) of byte `offset`.
    static func lineAndColumn(ofByte offset: Int, in bytes: [UInt8]) -> (Int, Int, String) {
        var line = 1
        var lineStart = 0
        for index in 0..<offset where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        var column = 1
        for index in lineStart..<offset where bytes[index] & 0xC0 != 0x80 { column += 1 }
        var lineEnd = lineStart
        while lineEnd < bytes.count, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
        return (line, column, trimCR(String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self)))
    }
}

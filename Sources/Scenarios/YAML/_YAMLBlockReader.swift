/// A reader for the plain block-style subset of YAML that scenario and configuration files are
/// written in, building the same ``_YAMLTree`` as Yams would (values, styles, line and column
/// marks), about ten times faster, or giving up (nil) so that the caller uses Yams.
///
/// Why it exists: composing a 100,000-connection scenario file with Yams (libyaml events, then
/// one Swift object per node and a duplicate-key check per mapping) took 16 µs per connection,
/// most of `relaylab check`'s budget of 20 µs. This reader takes one pass over the bytes.
///
/// It takes only what it is sure of, and returns nil for everything else, so that results and
/// error messages stay Yams's:
///
/// - the text is printable ASCII with LF line ends (no tabs, CR, control characters, non-ASCII);
/// - block mappings (`key: value`, `key:` then an indented block or an indentless `- ` list)
///   and block sequences (`- item`, `- key: value` starting a mapping);
/// - keys: plain (no indicator first, no `#`, `[`, `]`, `{`, `}`, no space before the colon)
///   or quoted, on one line, distinct within their mapping;
/// - values: one-line plain scalars (no `: `, ` #` ends it as a comment, no `[]{}`), one-line
///   single-quoted scalars (`''` for a quote), one-line double-quoted ones without escapes;
/// - empty values (nulls), comments and blank lines.
///
/// Everything else — flow collections, anchors, aliases, tags, block scalars, multi-line
/// scalars, document markers and directives, nesting deeper than 200, and anything that is an
/// error — goes to Yams.
enum _YAMLBlockReader {
    static func read(_ source: YAMLSource) -> _YAMLTree? {
        var text = source.text
        return text.withUTF8 { bytes -> _YAMLTree? in
            guard isSubset(bytes) else { return nil }
            var reader = _Reader(bytes: bytes, tree: _YAMLTree(source: source))
            return reader.document()
        }
    }

    /// Whether every byte is printable ASCII or LF.
    static func isSubset(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var bad: UInt8 = 0
        for byte in bytes {
            // 0x20...0x7E and 0x0A pass; anything else sets the flag.
            bad |= (byte &- 0x20 >= 0x5F && byte != 0x0A) ? 1 : 0
        }
        return bad == 0
    }
}

private struct _Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let tree: _YAMLTree

    /// The current content line: its 1-based number, where it starts, its indentation, and
    /// where it ends (the LF or the end of the text). `indent` is -1 at the end of the text.
    var lineNumber = 0
    var lineStart = 0
    var indent = -1
    var lineEnd = 0
    /// Where reading resumes on the current line (after an item's `- `).
    var content = 0
    /// Key texts of the mappings being read (for the duplicate check).
    var keyStack: [String] = []
    var shortStrings = _ShortStrings()
    /// Children of the collections being read (copied into the tree when one is complete).
    var childStack: [Int32] = []
    /// How many collections are open; deeper documents are Yams's (the reader recurses).
    var depth = 0
    static let maxDepth = 200

    init(bytes: UnsafeBufferPointer<UInt8>, tree: _YAMLTree) {
        self.bytes = bytes
        self.tree = tree
        tree.nodes.reserveCapacity(bytes.count / 8)
        tree.children.reserveCapacity(bytes.count / 8)
        // Before the first line.
        lineEnd = -1
    }

    static let space = UInt8(ascii: " ")
    static let colon = UInt8(ascii: ":")
    static let hash = UInt8(ascii: "#")
    static let dash = UInt8(ascii: "-")
    static let newline = UInt8(ascii: "\n")
    static let doubleQuote = UInt8(ascii: "\"")
    static let singleQuote = UInt8(ascii: "'")

    @inline(__always) func byte(_ index: Int) -> UInt8 {
        index < lineEnd ? bytes[index] : Self.newline
    }

    /// Moves to the next line with content (skipping blank and comment-only lines); false when
    /// a line is outside the subset.
    mutating func advance() -> Bool {
        var start = lineEnd + 1
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != Self.newline { end += 1 }
            var first = start
            while first < end, bytes[first] == Self.space { first += 1 }
            if first < end, bytes[first] != Self.hash {
                // Document markers (`---`, `...`) and directives are Yams's.
                if first == start, end - start >= 3 {
                    let a = bytes[start], b = bytes[start + 1], c = bytes[start + 2]
                    if (a == Self.dash && b == Self.dash && c == Self.dash) || (a == 0x2E && b == 0x2E && c == 0x2E) { return false }
                }
                lineStart = start
                lineEnd = end
                indent = first - start
                content = first
                return true
            }
            start = end + 1
        }
        lineStart = bytes.count
        lineEnd = bytes.count
        indent = -1
        content = bytes.count
        return true
    }

    mutating func document() -> _YAMLTree? {
        guard advance(), indent >= 0 else { return nil }
        guard block(parent: -1, slot: 0) != nil, indent == -1 else { return nil }
        return tree
    }

    /// Whether the current line (from `content`) is a list item: `-` then a space or the end.
    var isItem: Bool {
        byte(content) == Self.dash && (byte(content + 1) == Self.space || content + 1 == lineEnd)
    }

    /// A block node starting at the current line: a list or a mapping.
    mutating func block(parent: Int, slot: Int) -> Int? {
        if isItem { return sequence(parent: parent, slot: slot, column: content - lineStart) }
        return mapping(parent: parent, slot: slot, column: content - lineStart)
    }

    /// A block mapping whose keys are at `column` (0-based), starting at `content`.
    mutating func mapping(parent: Int, slot: Int, column: Int) -> Int? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { return nil }
        let index = tree.add(.mapping, line: lineNumber, column: column + 1, parent: parent, slot: slot)
        let keyBase = keyStack.count
        let childBase = childStack.count
        var seen: Set<String>? = nil
        var entry = 0
        while true {
            // The key (a duplicate is Yams's error).
            let keyColumn = content - lineStart
            guard let (keyText, keyStyle, afterKey) = key() else { return nil }
            if var set = seen {
                guard set.insert(keyText).inserted else { return nil }
                seen = set
            } else {
                for previous in keyStack[keyBase...] where previous == keyText { return nil }
                keyStack.append(keyText)
                if keyStack.count - keyBase > 16 { seen = Set(keyStack[keyBase...]) }
            }
            let keyNode = tree.add(
                .scalar, style: keyStyle, line: lineNumber, column: keyColumn + 1, parent: index, slot: 2 * entry,
                text: keyText)
            childStack.append(Int32(keyNode))
            // The value.
            var position = afterKey
            while byte(position) == Self.space { position += 1 }
            let value: Int?
            if position == lineEnd || byte(position) == Self.hash {
                // An empty value (a null) is marked just after the colon.
                let (emptyLine, emptyColumn) = (lineNumber, afterKey - lineStart + 1)
                guard advance() else { return nil }
                if indent > column {
                    value = block(parent: index, slot: 2 * entry + 1)
                } else if indent == column, isItem {
                    value = sequence(parent: index, slot: 2 * entry + 1, column: column)
                } else {
                    value = tree.add(.scalar, style: .plain, line: emptyLine, column: emptyColumn, parent: index, slot: 2 * entry + 1)
                }
            } else {
                value = inlineScalar(at: position, parent: index, slot: 2 * entry + 1)
                if value != nil {
                    guard advance(), indent <= column else { return nil }
                }
            }
            guard let value else { return nil }
            childStack.append(Int32(value))
            entry += 1
            if indent < column { break }
            if indent > column { return nil }
        }
        tree.setChildren(of: index, childStack[childBase...])
        childStack.removeSubrange(childBase...)
        keyStack.removeSubrange(keyBase...)
        return index
    }

    /// A block sequence whose dashes are at `column` (0-based), starting at the current line.
    mutating func sequence(parent: Int, slot: Int, column: Int) -> Int? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { return nil }
        let index = tree.add(.sequence, line: lineNumber, column: column + 1, parent: parent, slot: slot)
        let childBase = childStack.count
        var offset = 0
        while indent == column, isItem {
            var position = content + 1
            while byte(position) == Self.space { position += 1 }
            let item: Int?
            if position == lineEnd || byte(position) == Self.hash {
                let (emptyLine, emptyColumn) = (lineNumber, content - lineStart + 2)
                guard advance() else { return nil }
                item =
                    indent > column
                    ? block(parent: index, slot: offset)
                    : tree.add(.scalar, style: .plain, line: emptyLine, column: emptyColumn, parent: index, slot: offset)
            } else {
                content = position
                if isItem {
                    item = nil  // `- - x`: Yams's.
                } else if isKeyLine {
                    // `- key: value`: a mapping whose keys are at this column.
                    let keyColumn = position - lineStart
                    indent = keyColumn
                    item = mapping(parent: index, slot: offset, column: keyColumn)
                } else {
                    item = inlineScalar(at: position, parent: index, slot: offset)
                    if item != nil {
                        guard advance(), indent <= column else { return nil }
                    }
                }
            }
            guard let item else { return nil }
            childStack.append(Int32(item))
            offset += 1
            if indent > column { return nil }
        }
        // Anything else at this column ends an indentless list (the mapping goes on); it is an
        // error after a list of its own, or inside one: Yams's.
        if indent == column {
            guard parent >= 0, tree.nodes[parent].kind == .mapping, let parentColumn = tree.mappingColumn(parent),
                parentColumn == column
            else { return nil }
        }
        tree.setChildren(of: index, childStack[childBase...])
        childStack.removeSubrange(childBase...)
        return index
    }

    /// Whether the current line, from `content`, is `key:` or `key: …`.
    var isKeyLine: Bool {
        keyBounds() != nil
    }

    /// The key at `content`, with the position after its colon; nil when it is not a key of
    /// the subset.
    mutating func key() -> (String, _YAMLTree.Style, Int)? {
        switch keyBounds() {
        case .none: return nil
        case .quoted(let text, let style, let after)?: return (String(text), style, after)
        case .plain(let end, let after)?: return (shortStrings.string(bytes, content..<end), .plain, after)
        }
    }

    /// Where a key at `content` is.
    enum KeyBounds {
        /// A quoted key: its text.
        case quoted(Substring, _YAMLTree.Style, after: Int)
        /// A plain key: from `content` to `end`.
        case plain(end: Int, after: Int)
    }

    /// ``key()`` without making its text.
    func keyBounds() -> KeyBounds? {
        let start = content
        let first = byte(start)
        if first == Self.doubleQuote || first == Self.singleQuote {
            guard let (text, end) = quoted(at: start) else { return nil }
            guard byte(end) == Self.colon, byte(end + 1) == Self.space || end + 1 == lineEnd else { return nil }
            return .quoted(text, first == Self.doubleQuote ? .doubleQuoted : .singleQuoted, after: end + 1)
        }
        guard _Reader.canStartPlain(first) else { return nil }
        var position = start
        while position < lineEnd {
            let byte = bytes[position]
            if byte == Self.colon, position + 1 == lineEnd || bytes[position + 1] == Self.space {
                guard bytes[position - 1] != Self.space, position - start <= 1000 else { return nil }
                return .plain(end: position, after: position + 1)
            }
            if byte == Self.hash || _Reader.isFlowIndicator(byte) { return nil }
            position += 1
        }
        return nil
    }

    /// A one-line scalar value at `position`, followed by nothing but spaces and a comment.
    mutating func inlineScalar(at position: Int, parent: Int, slot: Int) -> Int? {
        let first = byte(position)
        let column = position - lineStart + 1
        if first == Self.doubleQuote || first == Self.singleQuote {
            guard let (text, end) = quoted(at: position) else { return nil }
            var rest = end
            while byte(rest) == Self.space { rest += 1 }
            guard rest == lineEnd || (byte(rest) == Self.hash && rest > end) else { return nil }
            return tree.add(
                .scalar, style: first == Self.doubleQuote ? .doubleQuoted : .singleQuoted, line: lineNumber, column: column,
                parent: parent, slot: slot, text: String(text))
        }
        guard _Reader.canStartPlain(first) else { return nil }
        var end = position
        var scan = position
        while scan < lineEnd {
            let byte = bytes[scan]
            if byte == Self.space {
                if scan + 1 < lineEnd, bytes[scan + 1] == Self.hash { break }
            } else {
                if byte == Self.colon, scan + 1 == lineEnd || bytes[scan + 1] == Self.space { return nil }
                if _Reader.isFlowIndicator(byte) { return nil }
                end = scan + 1
            }
            scan += 1
        }
        return tree.add(
            .scalar, style: .plain, line: lineNumber, column: column, parent: parent, slot: slot,
            text: shortStrings.string(bytes, position..<end))
    }

    /// A one-line quoted scalar at `start`: its text and the position after the closing quote.
    func quoted(at start: Int) -> (Substring, Int)? {
        let quote = bytes[start]
        var position = start + 1
        var hasDoubledQuote = false
        while true {
            guard position < lineEnd else { return nil }
            let byte = bytes[position]
            if byte == quote {
                if quote == Self.singleQuote, position + 1 < lineEnd, bytes[position + 1] == Self.singleQuote {
                    hasDoubledQuote = true
                    position += 2
                    continue
                }
                break
            }
            if quote == Self.doubleQuote, byte == UInt8(ascii: "\\") { return nil }
            position += 1
        }
        var text = Substring(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<position]), as: UTF8.self)
        if hasDoubledQuote { text = Substring(text.replacing("''", with: "'")) }
        return (text, position + 1)
    }

    /// Whether a plain scalar of the subset may start with `byte` (not an indicator).
    static func canStartPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "#"), UInt8(ascii: "&"),
            UInt8(ascii: "*"), UInt8(ascii: "!"), UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "'"),
            UInt8(ascii: "\""), UInt8(ascii: "%"), UInt8(ascii: "@"), UInt8(ascii: "`"), UInt8(ascii: " "),
            UInt8(ascii: "\n"):
            return false
        default:
            return true
        }
    }

    @inline(__always) static func isFlowIndicator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}")
    }
}

extension _YAMLTree {
    /// The 0-based column of a block mapping's keys (its first key's column).
    func mappingColumn(_ index: Int) -> Int? {
        guard nodes[index].kind == .mapping else { return nil }
        return Int(nodes[index].column) - 1
    }
}

/// Short texts made lately, by their bytes: the same keys and words (`client`, `rcpt`,
/// `accept`) come back in every connection of a file, and taking one from here costs less
/// than making it again. Texts longer than 15 bytes (which are not small strings, and rarely
/// repeat) are always made.
struct _ShortStrings {
    private struct Entry {
        /// The bytes and their count packed into 128 bits (never all zero: the count is in them).
        var low: UInt64 = 0
        var high: UInt64 = 0
        var text = ""
    }
    private var entries = [Entry](repeating: Entry(), count: 64)

    /// The text of `bytes[range]` (UTF-8).
    mutating func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let count = range.count
        guard count > 0, count <= 15, let base = bytes.baseAddress else {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
        var low: UInt64 = 0
        var high: UInt64 = 0
        if range.lowerBound + 16 <= bytes.count {
            // Two loads, and the bytes beyond the text masked off.
            let raw = UnsafeRawPointer(base + range.lowerBound)
            low = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            high = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            if count < 8 {
                low &= (1 << (UInt64(count) * 8)) - 1
                high = 0
            } else {
                high &= (1 << (UInt64(count - 8) * 8)) - 1
            }
        } else {
            for offset in 0..<count {
                let byte = UInt64(base[range.lowerBound + offset])
                if offset < 8 { low |= byte << (offset * 8) } else { high |= byte << ((offset - 8) * 8) }
            }
        }
        high |= UInt64(count) << 56
        let slot = Int(truncatingIfNeeded: ((low ^ high &* 31) &* 0x9E37_79B9_7F4A_7C15) >> 58)
        if entries[slot].low == low, entries[slot].high == high { return entries[slot].text }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        entries[slot] = Entry(low: low, high: high, text: text)
        return text
    }
}

/// A node of a parsed YAML file that knows where it is, so that every schema error can point at
/// the exact line and column (`file:line:column: message`, with the line and a caret).
///
/// Nodes are not `Sendable`; convert them to values on the thread that parsed them. Scalars are
/// never typed implicitly: the schema asks for a string, a number, a flag or a null, and a
/// value of the wrong shape is a located error.
public struct YAMLNode {
    /// The document, and the node's place in it.
    let tree: _YAMLTree
    let index: Int

    init(tree: _YAMLTree, index: Int) {
        self.tree = tree
        self.index = index
    }

    /// The file the node comes from.
    public var source: YAMLSource { tree.source }

    @inline(__always)
    var node: _YAMLTree.Node {
        _read { yield tree.nodes[index] }
    }

    /// Where the node sits in the document, e.g. `config.control_files` or `connections[3].steps[2]`,
    /// used in messages (worked out from the parent links only when a message needs it).
    public var context: String {
        // A key's context is its mapping's; a value's adds the key; a list item's, its index.
        var components: [String] = []
        var current = index
        while true {
            let node = tree.nodes[current]
            guard node.parent >= 0 else { break }
            let parent = Int(node.parent)
            if tree.nodes[parent].kind == .mapping {
                if node.slot % 2 == 1 {
                    let key = tree.nodes[tree.child(parent, Int(node.slot) - 1)]
                    components.append("." + key.text)
                }
            } else {
                components.append("[\(node.slot + 1)]")
            }
            current = parent
        }
        var text = ""
        for component in components.reversed() {
            if text.isEmpty, component.hasPrefix(".") {
                text = String(component.dropFirst())
            } else {
                text += component
            }
        }
        return text
    }

    /// How many items (a list) or entries × 2 (a mapping) the node has; 0 for a scalar.
    var childCount: Int { Int(node.childCount) }

    // MARK: - Where

    /// The node's position (its first character).
    public var position: FilePosition {
        return FilePosition(file: tree.source.path, line: Int(node.line), column: Int(node.column))
    }

    /// An error located at this node.
    public func error(_ message: String) -> ScenarioError {
        let position = self.position
        return source.error(line: position.line, column: position.column, message)
    }

    /// `in <context>` for messages, or nothing at the top level.
    var inContext: String { context.isEmpty ? "at the top level" : "in \(context)" }

    /// The name of a value for messages: the context's last part, quoted.
    var what: String { context.isEmpty ? "the document" : "'\(context)'" }

    // MARK: - Shape

    /// What kind of node this is, in words (for "expected X, found Y" messages).
    public var kindDescription: String {
        switch node.kind {
        case .scalar:
            if isNull { return "null" }
            return node.style == .plain ? "'\(Self.oneLine(node.text))'" : "a string"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// `text` for a one-line message: line breaks and other control characters escaped, at most
    /// 60 characters (a plain scalar can span lines, and a message must stay on one).
    static func oneLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if out.unicodeScalars.count >= 60 { return out + "…" }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Whether the node is a null: an empty value, `~` or `null` (not quoted).
    public var isNull: Bool {
        guard node.kind == .scalar, node.style == .plain, node.text.utf8.count <= 4 else { return false }
        switch node.text {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// Whether the node is a scalar (text, number, flag, null).
    public var isScalar: Bool {
        node.kind == .scalar
    }

    /// Whether the node is a mapping.
    public var isMapping: Bool {
        node.kind == .mapping
    }

    /// Whether the node is a list.
    public var isSequence: Bool {
        node.kind == .sequence
    }

    /// The scalar's text when the node is a scalar (quoted or not), nil otherwise.
    public var scalarText: String? {
        return node.kind == .scalar ? node.text : nil
    }

    /// Whether the node is a literal (`|`) or folded (`>`) block scalar, whose text starts on the
    /// line after the indicator.
    public var isBlockScalar: Bool {
        return node.kind == .scalar && (node.style == .literal || node.style == .folded)
    }

    /// Whether the scalar was written without quotes (so `null`, `yes`, `25` are keywords/numbers).
    public var isPlainScalar: Bool {
        return node.kind == .scalar && node.style == .plain
    }

    // MARK: - Typed values

    /// The node as text.
    ///
    /// - Throws: a located error when the node is a mapping, a list or a null.
    public func string() throws(ScenarioError) -> String {
        guard node.kind == .scalar, !isNull else {
            throw error("expected text for \(what), found \(kindDescription)")
        }
        return node.text
    }

    /// The node as text, or nil for a null.
    public func optionalString() throws(ScenarioError) -> String? {
        if isNull { return nil }
        return try string()
    }

    /// The node as a whole number, optionally within `range`.
    public func int(in range: ClosedRange<Int>? = nil) throws(ScenarioError) -> Int {
        guard node.kind == .scalar, !isNull, let value = Int(node.text.trimmingSpaces) else {
            throw error("expected a whole number for \(what), found \(kindDescription)")
        }
        if let range, !range.contains(value) {
            throw error("\(value) is out of range for \(what) (\(range.lowerBound)…\(range.upperBound))")
        }
        return value
    }

    /// The node as a flag: `true`/`false` (also `yes`/`no`, `on`/`off`), unquoted.
    public func bool() throws(ScenarioError) -> Bool {
        if node.kind == .scalar, node.style == .plain {
            switch node.text.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        throw error("expected true or false for \(what), found \(kindDescription)")
    }

    /// The node as one of `choices` (case-sensitive), with a suggestion for a near miss.
    public func choice(_ choices: [String]) throws(ScenarioError) -> String {
        let text = try string()
        guard choices.contains(text) else {
            throw error("'\(text)' is not a valid value for \(what)" + NearestKey.hint(for: text, among: choices))
        }
        return text
    }

    /// The items of a list.
    ///
    /// - Throws: a located error when the node is not a list.
    public func sequence() throws(ScenarioError) -> [YAMLNode] {
        guard node.kind == .sequence else {
            throw error("expected a list for \(what), found \(kindDescription)")
        }
        var items: [YAMLNode] = []
        items.reserveCapacity(Int(node.childCount))
        let start = Int(node.childStart)
        for offset in 0..<Int(node.childCount) {
            items.append(YAMLNode(tree: tree, index: Int(tree.children[start + offset])))
        }
        return items
    }

    /// A list of texts; a single text counts as a list of one.
    public func stringList() throws(ScenarioError) -> [String] {
        if isScalar { return [try string()] }
        var result: [String] = []
        for item in try sequence() { result.append(try item.string()) }
        return result
    }

    /// The entries of a mapping, in file order, checking every key against `allowedKeys`.
    ///
    /// - Parameter allowedKeys: the valid keys; nil accepts any key.
    /// - Throws: a located error at the first unknown key, suggesting the nearest valid one, or
    ///   when the node is not a mapping or a key is not text.
    public func mapping(allowedKeys: [String]?) throws(ScenarioError) -> [YAMLEntry] {
        try mapping(allowedKeys: allowedKeys.map { KeySet($0) })
    }

    /// The entries of a mapping whose keys are names of the user's choosing (addresses,
    /// variables, users).
    public func mapping() throws(ScenarioError) -> [YAMLEntry] {
        try mapping(allowedKeys: nil as KeySet?)
    }

    /// The entries of a mapping, checking every key against a prepared ``KeySet``.
    public func mapping(allowedKeys: KeySet?) throws(ScenarioError) -> [YAMLEntry] {
        guard node.kind == .mapping else {
            throw error("expected a mapping for \(what), found \(kindDescription)")
        }
        var entries: [YAMLEntry] = []
        let count = Int(node.childCount) / 2
        entries.reserveCapacity(count)
        let start = Int(node.childStart)
        for offset in 0..<count {
            let keyIndex = Int(tree.children[start + 2 * offset])
            let key = tree.nodes[keyIndex]
            let keyNode = YAMLNode(tree: tree, index: keyIndex)
            guard key.kind == .scalar else {
                throw keyNode.error("expected a text key \(inContext), found \(keyNode.kindDescription)")
            }
            let name = key.text
            if let allowedKeys, !allowedKeys.contains(name) {
                throw keyNode.error("unknown key '\(name)' \(inContext)" + NearestKey.hint(for: name, among: allowedKeys.list))
            }
            entries.append(YAMLEntry(key: name, keyNode: keyNode, value: YAMLNode(tree: tree, index: Int(tree.children[start + 2 * offset + 1]))))
        }
        return entries
    }
}

/// The valid keys of a mapping, prepared for fast lookups (and listed, in order, for messages).
public struct KeySet: Sendable {
    /// The keys in documentation order.
    public let list: [String]
    /// The keys by their length and first byte: a key read is compared with the few in its
    /// bucket (hashing it, as a set does, costs more, and every key of every connection of a
    /// file is looked up).
    private let buckets: [[String]]

    public init(_ keys: [String]) {
        list = keys
        var buckets = [[String]](repeating: [], count: 64)
        for key in keys { buckets[KeySet.bucket(of: key)].append(key) }
        self.buckets = buckets
    }

    /// Whether `key` is one of the keys.
    public func contains(_ key: String) -> Bool {
        buckets[KeySet.bucket(of: key)].contains(key)
    }

    private static func bucket(of key: String) -> Int {
        (key.utf8.count &* 7 &+ Int(key.utf8.first ?? 0)) & 63
    }
}

/// One `key: value` entry of a mapping.
public struct YAMLEntry {
    /// The key's text.
    public let key: String
    /// The key node (errors about the key point here).
    public let keyNode: YAMLNode
    /// The value.
    public let value: YAMLNode
}

extension String {
    var trimmingSpaces: Substring {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}

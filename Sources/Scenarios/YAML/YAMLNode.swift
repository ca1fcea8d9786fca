internal import Yams

/// A node of a parsed YAML file that knows where it is, so that every schema error can point at
/// the exact line and column (`file:line:column: message`, with the line and a caret).
///
/// Nodes are not `Sendable` (Yams nodes are not); convert them to values on the thread that
/// parsed them. Scalars are never typed implicitly: the schema asks for a string, a number, a flag or a
/// null, and a value of the wrong shape is a located error.
public struct YAMLNode {
    let node: Node
    /// The file the node comes from.
    public let source: YAMLSource
    /// The parent's place in the document (built only when a message needs it).
    let parentLink: _ContextLink?
    /// This node's key or index in its parent.
    let component: _ContextLink.Component

    init(_ node: Node, source: YAMLSource, parentLink: _ContextLink? = nil, component: _ContextLink.Component = .root) {
        self.node = node
        self.source = source
        self.parentLink = parentLink
        self.component = component
    }

    /// Where the node sits in the document, e.g. `config.control_files` or `connections[3].steps[2]`,
    /// used in messages.
    public var context: String {
        _ContextLink(parent: parentLink, component: component).path
    }

    // MARK: - Where

    /// The node's position (its first character).
    public var position: FilePosition {
        let mark = node.mark
        return FilePosition(file: source.path, line: mark?.line ?? 1, column: mark?.column ?? 1)
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
        switch node {
        case .scalar(let scalar):
            if isNull { return "null" }
            return scalar.style == .plain ? "'\(Self.oneLine(scalar.string))'" : "a string"
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
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        switch scalar.string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// Whether the node is a scalar (text, number, flag, null).
    public var isScalar: Bool {
        if case .scalar = node { return true }
        return false
    }

    /// Whether the node is a mapping.
    public var isMapping: Bool {
        if case .mapping = node { return true }
        return false
    }

    /// Whether the node is a list.
    public var isSequence: Bool {
        if case .sequence = node { return true }
        return false
    }

    /// The scalar's text when the node is a scalar (quoted or not), nil otherwise.
    public var scalarText: String? {
        if case .scalar(let scalar) = node { return scalar.string }
        return nil
    }

    /// Whether the node is a literal (`|`) or folded (`>`) block scalar, whose text starts on the
    /// line after the indicator.
    public var isBlockScalar: Bool {
        if case .scalar(let scalar) = node { return scalar.style == .literal || scalar.style == .folded }
        return false
    }

    /// Whether the scalar was written without quotes (so `null`, `yes`, `25` are keywords/numbers).
    public var isPlainScalar: Bool {
        if case .scalar(let scalar) = node { return scalar.style == .plain }
        return false
    }

    // MARK: - Typed values

    /// The node as text.
    ///
    /// - Throws: a located error when the node is a mapping, a list or a null.
    public func string() throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected text for \(what), found \(kindDescription)")
        }
        return scalar.string
    }

    /// The node as text, or nil for a null.
    public func optionalString() throws(ScenarioError) -> String? {
        if isNull { return nil }
        return try string()
    }

    /// The node as a whole number, optionally within `range`.
    public func int(in range: ClosedRange<Int>? = nil) throws(ScenarioError) -> Int {
        guard case .scalar(let scalar) = node, !isNull, let value = Int(scalar.string.trimmingSpaces) else {
            throw error("expected a whole number for \(what), found \(kindDescription)")
        }
        if let range, !range.contains(value) {
            throw error("\(value) is out of range for \(what) (\(range.lowerBound)…\(range.upperBound))")
        }
        return value
    }

    /// The node as a flag: `true`/`false` (also `yes`/`no`, `on`/`off`), unquoted.
    public func bool() throws(ScenarioError) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain {
            switch scalar.string.lowercased() {
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
        guard case .sequence(let sequence) = node else {
            throw error("expected a list for \(what), found \(kindDescription)")
        }
        var items: [YAMLNode] = []
        items.reserveCapacity(sequence.count)
        let link = _ContextLink(parent: parentLink, component: component)
        for (index, item) in sequence.enumerated() {
            items.append(YAMLNode(item, source: source, parentLink: link, component: .index(index + 1)))
        }
        return items
    }

    /// A list of texts; a single text counts as a list of one.
    public func stringList() throws(ScenarioError) -> [String] {
        if case .scalar = node { return [try string()] }
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
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping for \(what), found \(kindDescription)")
        }
        var entries: [YAMLEntry] = []
        entries.reserveCapacity(mapping.count)
        let link = _ContextLink(parent: parentLink, component: component)
        for (key, value) in mapping {
            let keyNode = YAMLNode(key, source: source, parentLink: parentLink, component: component)
            guard case .scalar(let scalar) = key else {
                throw keyNode.error("expected a text key \(inContext), found \(keyNode.kindDescription)")
            }
            let name = scalar.string
            if let allowedKeys, !allowedKeys.set.contains(name) {
                throw keyNode.error("unknown key '\(name)' \(inContext)" + NearestKey.hint(for: name, among: allowedKeys.list))
            }
            entries.append(YAMLEntry(key: name, keyNode: keyNode, value: YAMLNode(value, source: source, parentLink: link, component: .key(name))))
        }
        return entries
    }
}

/// The valid keys of a mapping, prepared for fast lookups (and listed, in order, for messages).
public struct KeySet: Sendable {
    /// The keys in documentation order.
    public let list: [String]
    let set: Set<String>

    public init(_ keys: [String]) {
        list = keys
        set = Set(keys)
    }
}

/// A node's place in its document, as a chain of parents, turned into text only for messages.
final class _ContextLink: Sendable {
    enum Component: Sendable {
        case root
        case key(String)
        case index(Int)
    }

    let parent: _ContextLink?
    let component: Component

    init(parent: _ContextLink?, component: Component) {
        self.parent = parent
        self.component = component
    }

    /// `config.control_files`, `connections[3].steps[2]`, or "" for the root.
    var path: String {
        var components: [Component] = []
        var link: _ContextLink? = self
        while let current = link {
            components.append(current.component)
            link = current.parent
        }
        var text = ""
        for component in components.reversed() {
            switch component {
            case .root: break
            case .key(let key): text += text.isEmpty ? key : "." + key
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
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

internal import Yams

/// A parsed YAML document as one flat array of nodes (children by index), so that a
/// 100,000-connection file costs a few large arrays rather than millions of small objects.
///
/// Built either by ``_YAMLBlockReader`` (the plain block-style subset scenario files use) or,
/// for everything else, from Yams's node tree (``init(yams:source:)``); both give the same tree
/// for the same text (the differential tests check it).
final class _YAMLTree {
    enum Kind: UInt8 {
        case scalar, mapping, sequence, alias
    }

    /// How a scalar was written.
    enum Style: UInt8 {
        case any, plain, singleQuoted, doubleQuoted, literal, folded
    }

    struct Node {
        var kind: Kind
        var style: Style
        /// 1-based line and column of the node's first character (libyaml's start mark).
        var line: Int32
        var column: Int32
        /// The parent's index, -1 for the root.
        var parent: Int32
        /// Where the node sits among its parent's children (for a mapping: 2 × entry for the
        /// key, 2 × entry + 1 for the value).
        var slot: Int32
        /// A collection's children: `children[childStart ..< childStart + childCount]`; for a
        /// mapping, key and value alternate.
        var childStart: Int32
        var childCount: Int32
        /// A scalar's text.
        var text: String
    }

    let source: YAMLSource
    // Read very often, written only while the tree is built: no dynamic exclusivity checks.
    @exclusivity(unchecked) var nodes: [Node] = []
    @exclusivity(unchecked) var children: [Int32] = []

    init(source: YAMLSource) {
        self.source = source
    }

    /// Adds a node, returning its index.
    @inline(__always)
    func add(_ kind: Kind, style: Style = .any, line: Int, column: Int, parent: Int, slot: Int, text: String = "") -> Int {
        nodes.append(
            Node(
                kind: kind, style: style, line: Int32(truncatingIfNeeded: line), column: Int32(truncatingIfNeeded: column),
                parent: Int32(truncatingIfNeeded: parent), slot: Int32(truncatingIfNeeded: slot), childStart: 0, childCount: 0,
                text: text))
        return nodes.count - 1
    }

    /// The index of the `offset`-th child of collection `index`.
    @inline(__always)
    func child(_ index: Int, _ offset: Int) -> Int {
        Int(children[Int(nodes[index].childStart) + offset])
    }

    // MARK: - From Yams

    /// The tree of a document Yams composed.
    convenience init(yams root: Yams.Node, source: YAMLSource) {
        self.init(source: source)
        _ = add(yams: root, parent: -1, slot: 0)
    }

    private func add(yams node: Yams.Node, parent: Int, slot: Int) -> Int {
        let mark = node.mark
        let line = mark?.line ?? 1
        let column = mark?.column ?? 1
        switch node {
        case .scalar(let scalar):
            return add(.scalar, style: Style(scalar.style), line: line, column: column, parent: parent, slot: slot, text: scalar.string)
        case .alias:
            return add(.alias, line: line, column: column, parent: parent, slot: slot)
        case .mapping(let mapping):
            let index = add(.mapping, line: line, column: column, parent: parent, slot: slot)
            var items: [Int32] = []
            items.reserveCapacity(mapping.count * 2)
            for (offset, (key, value)) in mapping.enumerated() {
                items.append(Int32(add(yams: key, parent: index, slot: 2 * offset)))
                items.append(Int32(add(yams: value, parent: index, slot: 2 * offset + 1)))
            }
            setChildren(of: index, items)
            return index
        case .sequence(let sequence):
            let index = add(.sequence, line: line, column: column, parent: parent, slot: slot)
            var items: [Int32] = []
            items.reserveCapacity(sequence.count)
            for (offset, item) in sequence.enumerated() {
                items.append(Int32(add(yams: item, parent: index, slot: offset)))
            }
            setChildren(of: index, items)
            return index
        }
    }

    func setChildren(of index: Int, _ items: some Collection<Int32>) {
        nodes[index].childStart = Int32(truncatingIfNeeded: children.count)
        nodes[index].childCount = Int32(truncatingIfNeeded: items.count)
        children.append(contentsOf: items)
    }

    // MARK: - Comparing (tests)

    /// A description of the subtree at `index` with every property a message can show (kind,
    /// style, text, line, column), for differential tests.
    func dump(_ index: Int = 0) -> String {
        var out = ""
        dump(index, depth: 0, into: &out)
        return out
    }

    private func dump(_ index: Int, depth: Int, into out: inout String) {
        let node = nodes[index]
        out += String(repeating: "  ", count: depth) + "\(node.kind) \(node.line):\(node.column)"
        switch node.kind {
        case .scalar: out += " \(node.style) \(String(reflecting: node.text))\n"
        default: out += "\n"
        }
        for offset in 0..<Int(node.childCount) {
            let child = child(index, offset)
            precondition(Int(nodes[child].parent) == index && Int(nodes[child].slot) == offset, "bad parent link")
            dump(child, depth: depth + 1, into: &out)
        }
    }
}

extension _YAMLTree.Style {
    init(_ style: Yams.Node.Scalar.Style) {
        switch style {
        case .any: self = .any
        case .plain: self = .plain
        case .singleQuoted: self = .singleQuoted
        case .doubleQuoted: self = .doubleQuoted
        case .literal: self = .literal
        case .folded: self = .folded
        }
    }
}

// MARK: - Differential tests

extension YAMLSource {
    /// The tree the hand-written block reader builds, as text (kinds, styles, texts, lines and
    /// columns), or nil when the reader leaves the text to Yams. For differential tests.
    @_spi(Testing) public func _blockReaderDump() -> String? {
        _YAMLBlockReader.read(self)?.dump()
    }

    /// The tree Yams composes, in the same form as ``_blockReaderDump()``. For differential tests.
    @_spi(Testing) public func _yamsDump() throws(ScenarioError) -> String {
        try yamsTree().dump()
    }
}

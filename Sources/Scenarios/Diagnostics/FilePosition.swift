/// A position in a text file: 1-based line and column (columns count Unicode scalars, as libyaml
/// does).
public struct FilePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The file, as it is shown to the user (relative paths stay relative).
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    public init(file: String, line: Int, column: Int = 1) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }

    public static func < (lhs: FilePosition, rhs: FilePosition) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// A problem in a scenario or configuration file (or in a file it names), reported the way
/// compilers do:
///
///     scenarios/classic.yaml:12:5: unknown key 'contol' in config; did you mean 'control'?
///       contol: ../captures/qmail-relay/control
///       ^
///
/// The first line is `file:line:column: message`; when the source line is known it follows,
/// with a caret under the column.
public struct ScenarioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the problem is in.
    public var file: String
    /// Where in the file, when known.
    public var position: FilePosition?
    /// One line saying what is wrong.
    public var message: String
    /// The text of the offending line (without its line end), when known.
    public var sourceLine: String?

    /// An error at a position, with the source line for the caret.
    public init(at position: FilePosition, _ message: String, sourceLine: String? = nil) {
        self.file = position.file
        self.position = position
        self.message = Self.oneLine(message)
        self.sourceLine = sourceLine
    }

    /// An error about a whole file (it cannot be read, it is empty, …).
    public init(file: String, _ message: String) {
        self.file = file
        self.position = nil
        self.message = Self.oneLine(message)
        self.sourceLine = nil
    }

    /// `message` with line breaks written as `\n` and `\r`: a message quotes the user's text,
    /// which can span lines (a multi-line YAML scalar), and must stay one line.
    static func oneLine(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) else { return message }
        var out = String.UnicodeScalarView()
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// The first line only: `file:line:column: message` (or `file: message`).
    public var summary: String {
        if let position { return "\(position): \(message)" }
        return "\(file): \(message)"
    }

    /// The summary, then the source line and a caret under the column.
    public var description: String {
        guard let position, let sourceLine else { return summary }
        return summary + "\n" + sourceLine + "\n" + ScenarioError.caret(under: position.column, of: sourceLine)
    }

    /// Blanks up to `column` (tabs kept, so the caret lines up in a terminal), then `^`.
    static func caret(under column: Int, of line: String) -> String {
        var prefix = ""
        var count = 1
        for scalar in line.unicodeScalars {
            if count >= column { break }
            prefix.append(scalar == "\t" ? "\t" : " ")
            count += 1
        }
        if count < column { prefix += String(repeating: " ", count: column - count) }
        return prefix + "^"
    }
}

/// Several problems found in one file (a loader keeps going after the first one so that a user
/// can fix them all in one pass).
public struct ScenarioErrors: Error, Sendable, CustomStringConvertible {
    /// The problems, in file order.
    public var errors: [ScenarioError]

    public init(_ errors: [ScenarioError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Where a fact comes from: a control file line, a rules file line, a cdb key.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file as the user named it, e.g. `control/rcpthosts` or `tcp.smtp`.
    public var file: String
    /// The 1-based line, when the fact comes from one line of a text file.
    public var line: Int?

    public init(file: String, line: Int? = nil) {
        self.file = file
        self.line = line
    }

    /// `file:line`, or just `file`.
    public var description: String {
        guard let line else { return file }
        // Written straight into one string (reports ask for it for every connection).
        return _JoinedText.joined(file, ":", String(line))
    }
}

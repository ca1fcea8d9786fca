public import CDB

/// Why a rules file could not be read, worded as ucspi-tcp words it (`file does not exist`).
public struct RulesReadFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The system error number (`ENOENT`, `EACCES`, ...), or `EPROTO` for a damaged cdb.
    public var errno: Int32
    /// The text ucspi-tcp prints for it.
    public var message: String

    public init(errno: Int32, message: String? = nil) {
        self.errno = errno
        self.message = message ?? RulesReadFailure.wording(errno)
    }

    /// The file does not exist (`ENOENT`): the one failure tcpserver's `-X` forgives.
    public static let doesNotExist = RulesReadFailure(errno: _RulesFile.enoent)
    /// Permission denied (`EACCES`).
    public static let accessDenied = RulesReadFailure(errno: _RulesFile.eacces)
    /// The file is not a usable cdb (what ucspi-tcp reports as `protocol error`).
    public static let protocolError = RulesReadFailure(errno: _RulesFile.eproto)

    /// Whether the file is missing (as opposed to present but unreadable).
    public var isMissingFile: Bool { errno == _RulesFile.enoent }

    public var description: String { message }

    /// djb's `error_str` wording for the errors a rules file can produce.
    static func wording(_ code: Int32) -> String {
        switch code {
        case _RulesFile.enoent: return "file does not exist"
        case _RulesFile.eacces: return "access denied"
        case _RulesFile.eisdir: return "is a directory"
        case _RulesFile.einval: return "invalid argument"
        case _RulesFile.eproto: return "protocol error"
        case 1: return "permission denied"
        case 5: return "input/output error"
        case 20: return "not a directory"
        case 40: return "symbolic link loop"
        default: return "error \(code)"
        }
    }
}

/// An error loading or using a rules file.
public enum RulesError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A source line tcprules refuses.
    case syntax(RulesSyntaxError)
    /// The file cannot be read at all.
    case unreadable(path: String, RulesReadFailure)
    /// The file is a damaged cdb (or a cdb operation failed).
    case cdb(CDBError)

    public var description: String {
        switch self {
        case .syntax(let error): return error.description
        case .unreadable(let path, let failure): return "unable to read \(path): \(failure.message)"
        case .cdb(let error): return error.description
        }
    }

    /// A multi-line description: for syntax errors, the offending line and a caret.
    public var diagnostic: String {
        if case .syntax(let error) = self { return error.diagnostic }
        return description
    }
}

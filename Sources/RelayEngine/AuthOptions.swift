/// The SMTP AUTH build: netqmail with Erwin Hoffmann's qmail-authentication 0.8.3 patch.
///
/// Whether AUTH is offered, and which mechanisms, comes from `SMTPAUTH` in the environment
/// qmail-smtpd receives (set in tcpserver's environment or by a rule), exactly as in the real
/// program: unset or `-` → no AUTH; `""` or any other value → `LOGIN PLAIN`; `cram…` → `CRAM-MD5`;
/// `+cram…` → all three; `!` → `LOGIN PLAIN`, required before MAIL; `!cram…`, `!+cram…` → likewise
/// required. The EHLO reply changes (8BITMIME, SIZE) as soon as the patch is present.
public struct AuthOptions: Sendable, Hashable {
    /// Whether qmail-smtpd was given a checkpassword program (`qmail-smtpd /bin/checkpassword …`).
    /// Without one, AUTH answers `503 auth not available (#5.3.3)` (but EHLO still advertises it).
    public var hasCheckpassword: Bool
    /// How the checkpassword program decides.
    public var credentials: AuthCredentials

    public init(credentials: AuthCredentials, hasCheckpassword: Bool = true) {
        self.credentials = credentials
        self.hasCheckpassword = hasCheckpassword
    }
}

/// How a simulated checkpassword program answers.
public enum AuthCredentials: Sendable, Hashable {
    /// A users file (`user:password` per line), for scenarios. CRAM-MD5 responses are checked
    /// with HMAC-MD5 of the challenge, the others by comparing the password.
    case users([String: String])
    /// For replayed captures, whose passwords are not in clear: the outcome of each successive
    /// AUTH attempt that reaches checkpassword, taken as given (`true` = success). Attempts
    /// beyond the list fail.
    case recorded([Bool])
    /// Every attempt fails (a checkpassword that knows nobody).
    case rejectAll

    /// Parses a users file: one `user:password` per line (the password is everything after the
    /// first colon); empty lines and lines starting with `#` are skipped.
    ///
    /// - Throws: ``UsersFileError`` naming the file and line of a line without a colon.
    public static func parseUsers(_ text: String, path: String = "<users>") throws -> AuthCredentials {
        var users: [String: String] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw UsersFileError(path: path, line: lineNumber, message: "expected user:password")
            }
            let user = String(line[..<colon])
            if user.isEmpty {
                throw UsersFileError(path: path, line: lineNumber, message: "empty user name")
            }
            if users[user] == nil { users[user] = String(line[line.index(after: colon)...]) }
        }
        return .users(users)
    }
}

/// A malformed users file.
public struct UsersFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var message: String

    public var description: String { "\(path):\(line): \(message)" }
}

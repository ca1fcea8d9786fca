/// Which qmail-smtpd is simulated. Where the builds differ, the difference is data (``Replies``).
///
/// The SMTP AUTH patch is orthogonal: set ``RelayConfiguration/auth`` to simulate a build with
/// Erwin Hoffmann's qmail-authentication 0.8.3 on top of the variant chosen here.
public enum QmailVariant: String, Sendable, Hashable, Codable, CaseIterable {
    /// netqmail-1.06 (the default; what most installations run).
    case netqmail = "netqmail-1.06"
    /// notqmail HEAD: identical sessions except for two reply texts.
    case notqmail

    /// The reply lines that differ between variants (without CRLF).
    public struct Replies: Sendable, Hashable {
        /// The reply to HELP.
        public var help: String
        /// The reply to a LF without CR inside DATA (the program then exits).
        public var strayNewline: String
    }

    /// This variant's reply texts.
    public var replies: Replies {
        switch self {
        case .netqmail:
            return Replies(
                help: "214 netqmail home page: http://qmail.org/netqmail",
                strayNewline: "451 See http://pobox.com/~djb/docs/smtplf.html.")
        case .notqmail:
            return Replies(
                help: "214 notqmail home page: https://notqmail.org",
                strayNewline: "451 See https://cr.yp.to/docs/smtplf.html.")
        }
    }

    /// Accepts `netqmail`, `netqmail-1.06` and `notqmail`.
    public init?(name: String) {
        switch name.lowercased() {
        case "netqmail", "netqmail-1.06", "netqmail-1.06.0": self = .netqmail
        case "notqmail": self = .notqmail
        default: return nil
        }
    }
}

/// What qmail-queue does with a message, for simulating queue failures (default: accepts).
public enum QueueBehaviour: Sendable, Hashable {
    /// qmail-queue exits 0: `250 ok <time> qp <pid>`.
    case accept
    /// qmail-queue exits with this code (mapped to qmail-smtpd's 451/554 texts).
    case exitCode(Int)
    /// qmail-queue is killed by a signal: `451 qq crashed (#4.3.0)`.
    case crash
    /// The pipe or vfork for qmail-queue fails: `451 qqt failure (#4.3.0)` instead of 354.
    case cannotStart

    /// The reply qmail-smtpd sends for qmail-queue's exit `code` (qmail.c's qmail_close table),
    /// without CRLF; nil for 0 (accepted).
    public static func reply(forExitCode code: Int) -> String? {
        switch code {
        case 0: return nil
        case 11, 115: return "554 envelope address too long for qq (#5.1.3)"
        case 31: return "554 mail server permanently rejected message (#5.3.0)"
        case 51: return "451 qq out of memory (#4.3.0)"
        case 52: return "451 qq timeout (#4.3.0)"
        case 53: return "451 qq write error or disk full (#4.3.0)"
        case 54: return "451 qq read error (#4.3.0)"
        case 55: return "451 qq unable to read configuration (#4.3.0)"
        case 56: return "451 qq trouble making network connection (#4.3.0)"
        case 61: return "451 qq trouble in home directory (#4.3.0)"
        case 62, 63, 64, 65, 66: return "451 qq trouble creating files in queue (#4.3.0)"
        case 71: return "451 mail server temporarily rejected message (#4.3.0)"
        case 72: return "451 connection to mail server timed out (#4.4.1)"
        case 73: return "451 connection to mail server rejected (#4.4.1)"
        case 74: return "451 communication with mail server failed (#4.4.2)"
        case 81, 91: return "451 qq internal bug (#4.3.0)"
        case 120: return "451 unable to exec qq (#4.3.0)"
        default:
            if (11...40).contains(code) { return "554 qq permanent problem (#5.3.0)" }
            return "451 qq temporary problem (#4.3.0)"
        }
    }
}

/// Which build of ucspi-tcp's `tcprules`/`tcprulescheck`/`tcpserver` to reproduce.
///
/// Debian ships two: `ucspi-tcp` (D. J. Bernstein's 0.88 with Debian's patches, IPv4 only) and
/// `ucspi-tcp-ipv6` (0.88 with Felix von Leitner's IPv6 patch). They compile the same rule lines to
/// the same bytes and answer IPv4 clients identically; they differ in three places:
///
/// | | `ucspi-tcp` | `ucspi-tcp-ipv6` |
/// |---|---|---|
/// | where the address ends | at the **first** `:` of the line | at the first `:` followed by `allow`/`deny` |
/// | a line with no such `:` (blank, typo) | silently ignored | `tcprules` loops forever |
/// | IP prefixes tried by the matcher | end at `.` | end at `.` or `:` |
///
/// So `2001:db8::1:allow` is a parse error for stock `tcprules` but the key `2001:db8::1` for the
/// IPv6 one, and `2001:db8::allow` compiles to the key `2001:db8:` (the colon before `allow` ends
/// the address).
public enum RulesDialect: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Debian's `ucspi-tcp` 0.88 (the default).
    case ucspiTCP = "ucspi-tcp"
    /// Debian's `ucspi-tcp-ipv6` 0.88 (Felix von Leitner's IPv6 patch).
    case ucspiTCPIPv6 = "ucspi-tcp-ipv6"

    public var description: String { rawValue }

    /// Whether the matcher's IP prefixes end at `:` as well as at `.`.
    public var colonEndsPrefixes: Bool { self == .ucspiTCPIPv6 }
}

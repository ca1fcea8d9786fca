/// How captured replies are compared with simulated ones.
public struct ReplayOptions: Sendable, Hashable {
    /// What must be equal for a reply to match.
    public enum Matching: String, Sendable, Hashable, CaseIterable {
        /// The exact bytes (variable parts normalised: `250 ok <time> qp <pid>`, CRAM-MD5
        /// challenges, and the greeting with ``ReplayOptions/ignoreGreeting``).
        case exact
        /// Only the reply codes (to replay traffic recorded in front of another MTA).
        case code
    }

    /// What must be equal for a reply to match.
    public var matching: Matching
    /// Compare only the greeting's reply code, not its text.
    public var ignoreGreeting: Bool
    /// Keep every connection's steps in detail (not only those with a difference or divergence).
    public var keepAllSteps: Bool
    /// Let the captured pauses between client steps pass in the simulation (timeouts,
    /// rblsmtpd's `-t` limit); pauses shorter than a second are ignored.
    public var replayIdleTime: Bool

    public init(
        matching: Matching = .exact, ignoreGreeting: Bool = false, keepAllSteps: Bool = false, replayIdleTime: Bool = true
    ) {
        self.matching = matching
        self.ignoreGreeting = ignoreGreeting
        self.keepAllSteps = keepAllSteps
        self.replayIdleTime = replayIdleTime
    }
}

/// rblsmtpd in the chain (ucspi-tcp 0.88 as packaged by Debian: no default block list).
///
/// When `RBLSMTPD` is set in its environment, rblsmtpd obeys it (empty: pass; `-text`: 553;
/// `text`: 451). When it is unset, it looks the client up in each `-r` zone (TXT record) and
/// `-a` zone (A record: never block) in command-line order; relaylab does no live DNS, so the
/// answers come from a ``BlocklistFixture``.
public struct RBLSMTPDOptions: Sendable, Hashable {
    /// One command-line option; they take effect in order, as rblsmtpd's getopt loop applies them.
    public enum Option: Sendable, Hashable {
        /// `-b` (true) / `-B` (false): 553 instead of 451 for listed clients (later -r only).
        case bounce(Bool)
        /// `-c` (true) / `-C` (false): a failed lookup counts as listed (later -r/-a only).
        case failClosed(Bool)
        /// `-t n`: drop the blocked session after n seconds (0: send only the refusal, then close).
        case timeout(UInt64)
        /// `-r zone`: block list (TXT).
        case rbl(String)
        /// `-a zone`: allow list (A record).
        case antiRBL(String)
    }

    /// The options in command-line order.
    public var options: [Option]
    /// The DNS answers for the zones.
    public var fixture: BlocklistFixture

    public init(options: [Option] = [], fixture: BlocklistFixture = BlocklistFixture()) {
        self.options = options
        self.fixture = fixture
    }

    /// Parses rblsmtpd's options as its getopt (`bBcCt:r:a:`) does, e.g. `["-b", "-r", "zen.example"]`
    /// or `["-t0"]`. Option letters may be grouped (`-bc`); an argument may be attached or separate.
    ///
    /// - Throws: ``RBLSMTPDOptionsError`` for an unknown option or a missing argument.
    public init(arguments: [String], fixture: BlocklistFixture = BlocklistFixture()) throws {
        var options: [Option] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            guard argument.hasPrefix("-"), argument.count > 1 else {
                throw RBLSMTPDOptionsError(message: "unexpected argument \"\(argument)\" (rblsmtpd options only)")
            }
            var letters = Substring(argument.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                switch letter {
                case "b": options.append(.bounce(true))
                case "B": options.append(.bounce(false))
                case "c": options.append(.failClosed(true))
                case "C": options.append(.failClosed(false))
                case "t", "r", "a":
                    var value = String(letters)
                    letters = ""
                    if value.isEmpty {
                        guard index < arguments.count else {
                            throw RBLSMTPDOptionsError(message: "option -\(letter) needs an argument")
                        }
                        value = arguments[index]
                        index += 1
                    }
                    switch letter {
                    case "t": options.append(.timeout(ControlReader.scanNumberOrZero(Array(value.utf8))))
                    case "r": options.append(.rbl(value))
                    default: options.append(.antiRBL(value))
                    }
                default:
                    throw RBLSMTPDOptionsError(message: "illegal option -\(letter)")
                }
            }
        }
        self.options = options
        self.fixture = fixture
    }

    /// The effective `-t` value (the last one given; 60 by default).
    public var timeout: UInt64 {
        var value: UInt64 = 60
        for case .timeout(let seconds) in options { value = seconds }
        return value
    }
}

/// A bad rblsmtpd option.
public struct RBLSMTPDOptionsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var description: String { "rblsmtpd: \(message)" }
}

/// The DNS answers rblsmtpd would get, since relaylab does no live DNS: for each zone, which
/// client addresses have a TXT record (block list) or an A record (allow list), and which zones
/// fail temporarily.
public struct BlocklistFixture: Sendable, Hashable {
    /// The answer for one name (`d.c.b.a.zone`).
    public struct Record: Sendable, Hashable {
        /// TXT strings (concatenated by rblsmtpd, as djbdns's dns_txt does); empty = no TXT record.
        public var txt: [String]
        /// Whether the name has an A record (what `-a` looks for).
        public var hasAddress: Bool

        public init(txt: [String] = [], hasAddress: Bool = false) {
            self.txt = txt
            self.hasAddress = hasAddress
        }
    }

    /// Records by lower-cased query name without a trailing dot.
    public var records: [String: Record]
    /// Zones whose every lookup fails temporarily (lower-cased).
    public var failingZones: Set<String>

    public init(records: [String: Record] = [:], failingZones: Set<String> = []) {
        self.records = records
        self.failingZones = failingZones
    }

    /// The query name rblsmtpd builds for `ip` in `zone`: the dot-separated parts of `ip`
    /// reversed, each followed by a dot, then `zone` (`1.2.3.4`, `zen.example` → `4.3.2.1.zen.example`).
    public static func queryName(ip: String, zone: String) -> String {
        let parts = ip.split(separator: ".", omittingEmptySubsequences: false)
        var name = ""
        if !ip.isEmpty {
            for part in parts.reversed() { name += part + "." }
        }
        return name + zone
    }

    /// Lists `ip` in `zone` with a TXT record.
    public mutating func list(_ ip: String, in zone: String, text: String) {
        let key = BlocklistFixture.normalize(BlocklistFixture.queryName(ip: ip, zone: zone))
        records[key, default: Record()].txt.append(text)
    }

    /// Gives `ip` an A record in `zone` (anti-RBL).
    public mutating func allow(_ ip: String, in zone: String) {
        let key = BlocklistFixture.normalize(BlocklistFixture.queryName(ip: ip, zone: zone))
        records[key, default: Record()].hasAddress = true
    }

    /// Makes every lookup in `zone` fail temporarily.
    public mutating func fail(zone: String) {
        failingZones.insert(BlocklistFixture.normalize(zone))
    }

    /// The answer for a query name: nil = no such record; throws nothing, fails via `failed`.
    func lookup(_ name: String) -> (record: Record?, failed: Bool) {
        let key = BlocklistFixture.normalize(name)
        for zone in failingZones where key == zone || key.hasSuffix("." + zone) {
            return (nil, true)
        }
        return (records[key], false)
    }

    static func normalize(_ name: String) -> String {
        var name = name.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// Parses a fixture file. One record per line, fields separated by blanks:
    ///
    ///     # zone              address        type   text
    ///     zen.example         192.0.2.9      TXT    Listed by zen; see https://zen.example/
    ///     allow.example       10.0.0.1       A
    ///     broken.example      *              FAIL
    ///
    /// `TXT` takes the rest of the line as text (a second TXT line for the same address adds a
    /// second record); `A` gives an A record; `FAIL` (address `*`) makes the zone fail.
    /// Empty lines and lines starting with `#` are skipped.
    ///
    /// - Throws: ``BlocklistFixtureError`` with the file and line of a malformed line.
    public static func parse(_ text: String, path: String = "<fixture>") throws -> BlocklistFixture {
        var fixture = BlocklistFixture()
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var rest = trimmed
            func field() -> Substring {
                let value = rest.prefix { $0 != " " && $0 != "\t" }
                rest = rest.dropFirst(value.count).drop { $0 == " " || $0 == "\t" }
                return value
            }
            let zone = String(field())
            let address = String(field())
            let type = field().uppercased()
            guard !zone.isEmpty, !address.isEmpty, !type.isEmpty else {
                throw BlocklistFixtureError(path: path, line: lineNumber, message: "expected: zone address TXT|A|FAIL [text]")
            }
            switch type {
            case "TXT": fixture.list(address, in: zone, text: String(rest))
            case "A": fixture.allow(address, in: zone)
            case "FAIL": fixture.fail(zone: zone)
            default:
                throw BlocklistFixtureError(path: path, line: lineNumber, message: "unknown record type \"\(type)\" (TXT, A or FAIL)")
            }
        }
        return fixture
    }
}

/// A malformed fixture file.
public struct BlocklistFixtureError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var message: String
    public var description: String { "\(path):\(line): \(message)" }
}

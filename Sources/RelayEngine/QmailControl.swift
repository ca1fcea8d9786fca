public import CDB

/// The contents given for one control file, replacing (or removing) what is on disk.
public enum ControlFile: Sendable, Hashable {
    /// The file exists with these bytes. `origin` names it in explanations (default: the path).
    case contents([UInt8], origin: String? = nil)
    /// The file does not exist (open() would fail with ENOENT).
    case missing
    /// The file exists but cannot be read (permissions, a directory, an I/O error).
    case unreadable(reason: String)

    /// A text file.
    public static func text(_ text: String, origin: String? = nil) -> ControlFile {
        .contents(Array(text.utf8), origin: origin)
    }
}

/// A qmail control directory as qmail-smtpd reads it, loaded once into an immutable value.
///
/// Every file is read with qmail's own rules (`control.c`):
/// - one-line files (`me`, `smtpgreeting`, `localiphost`, `databytes`, `timeoutsmtpd`) use the
///   first line with trailing spaces, tabs and LF removed; **a CR is kept**;
/// - list files (`rcpthosts`, `badmailfrom`) drop empty lines and lines *starting* with `#`,
///   strip trailing spaces/tabs, and compare entries case-insensitively (ASCII only);
/// - numbers are read with `scan_ulong`: leading digits only, anything unreadable keeps the default;
/// - a missing file and an unreadable one are different: missing means "default", unreadable
///   means `421 unable to read controls (#4.3.0)` for every connection.
///
/// Each entry keeps its file and line so decisions can say *which* line let a recipient in.
public struct QmailControl: Sendable {
    /// The control files relaylab reads (names inside the control directory).
    public static let fileNames = [
        "me", "smtpgreeting", "localiphost", "timeoutsmtpd", "rcpthosts", "morercpthosts",
        "morercpthosts.cdb", "badmailfrom", "databytes",
    ]

    /// Whether a control file is there.
    public enum FileStatus: Sendable, Hashable {
        case missing
        case present
        case unreadable(reason: String)
    }

    /// One entry of a list file (or the line of a one-line file), with where it came from.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// The entry exactly as qmail keeps it (trailing blanks removed, CR kept).
        public var bytes: [UInt8]
        /// File and 1-based line.
        public var location: SourceLocation
        /// The bytes as text (invalid UTF-8 replaced).
        public var text: String { String(decoding: bytes, as: UTF8.self) }
        public var description: String { text }
    }

    /// The state of control/morercpthosts.cdb as qmail-smtpd sees it.
    public enum MoreRcptHosts: Sendable {
        /// No cdb file: only rcpthosts counts.
        case missing
        /// A readable cdb.
        case database(CDB)
        /// open() fails for a reason other than ENOENT: 421 for every connection (if rcpthosts exists).
        case unreadable(reason: String)
        /// The file opens but is not a valid cdb: a lookup that reaches it gets 421 and a hang-up.
        case damaged(reason: String)
    }

    /// The loaded files (shared by every copy).
    let storage: Storage

    /// The folder the files were read from (or a label for in-memory controls).
    public var directory: String { storage.directory }
    /// control/me, first line.
    public var me: Entry? { storage.me }
    /// The greeting text (smtpgreeting's first line, or `me`), nil when neither exists.
    public var greeting: Entry? { storage.greeting }
    /// localiphost's first line (defaults to `me`); nil when neither exists (no literal rewriting).
    public var localIPHost: Entry? { storage.localIPHost }
    /// The read timeout in seconds (timeoutsmtpd, default 1200, at least 1).
    public var timeout: Int { storage.timeout }
    /// control/databytes as read (0 = unlimited), before `DATABYTES` from the environment applies.
    public var databytes: UInt32 { storage.databytes }
    /// rcpthosts entries; nil when control/rcpthosts is missing (open relay).
    public var rcpthosts: [Entry]? { storage.rcpthosts }
    /// badmailfrom entries; nil when the file is missing.
    public var badmailfrom: [Entry]? { storage.badmailfrom }
    /// morercpthosts.cdb.
    public var morercpthosts: MoreRcptHosts { storage.morercpthosts }
    /// Why qmail-smtpd would answer `421 unable to read controls (#4.3.0)` to every connection.
    public var setupFailure: Fact? { storage.setupFailure }
    /// Problems an administrator should know about.
    public var warnings: [ConfigurationWarning] { storage.warnings }

    var rcpthostsTable: _ByteTable? { storage.rcpthostsTable }
    var badmailfromTable: _ByteTable? { storage.badmailfromTable }

    /// The state of one control file.
    public func status(of name: String) -> FileStatus {
        storage.statuses[name] ?? .missing
    }

    /// How `name` is shown in explanations, e.g. `control/rcpthosts`.
    public func origin(of name: String) -> String {
        storage.origins[name] ?? (directory.isEmpty ? name : directory + "/" + name)
    }
}

extension QmailControl {
    /// Loads the control directory at `directory`, with some files replaced or removed.
    ///
    /// - Parameters:
    ///   - directory: the control folder (the one holding `me`, `rcpthosts`, …).
    ///   - overrides: per file name, inline contents or `.missing`, applied on top of the folder.
    /// - Throws: ``ControlError`` when `directory` is not a readable folder.
    public static func load(directory: String, overrides: [String: ControlFile] = [:]) throws -> QmailControl {
        guard _ControlFileSystem.isDirectory(directory) else {
            throw ControlError(path: directory, message: "not a directory (or does not exist)")
        }
        var files: [String: ControlFile] = [:]
        for name in fileNames {
            if let override = overrides[name] {
                files[name] = override
                continue
            }
            let path = directory + "/" + name
            if name == "morercpthosts.cdb" {
                // Opened (memory-mapped) by the cdb reader below.
                continue
            }
            switch _ControlFileSystem.read(path) {
            case .contents(let bytes): files[name] = .contents(bytes, origin: path)
            case .missing: files[name] = .missing
            case .failed(let reason): files[name] = .unreadable(reason: reason)
            }
        }
        for (name, override) in overrides where !fileNames.contains(name) {
            files[name] = override
        }
        var cdbState: MoreRcptHosts? = nil
        if overrides["morercpthosts.cdb"] == nil {
            let path = directory + "/morercpthosts.cdb"
            do {
                cdbState = .database(try CDB(contentsOf: path))
            } catch {
                cdbState = classify(error, path: path)
            }
        }
        return QmailControl(files: files, directory: directory, morercpthostsDatabase: cdbState)
    }

    /// Control files given in memory (tests, scenarios): every name not in `files` is missing.
    ///
    /// - Parameters:
    ///   - files: file name → contents. `morercpthosts.cdb` contents are parsed as a cdb.
    ///   - directory: the label used in explanations, e.g. `control`.
    public init(files: [String: ControlFile], directory: String = "control") {
        self.init(files: files, directory: directory, morercpthostsDatabase: nil)
    }

    static func classify(_ error: CDBError, path: String) -> MoreRcptHosts {
        if case .system(let operation, let code) = error.kind, operation == "open" {
            if code == 2 { return .missing }
            return .unreadable(reason: error.message)
        }
        return .damaged(reason: error.description)
    }

    init(files: [String: ControlFile], directory: String, morercpthostsDatabase: MoreRcptHosts?) {
        storage = Storage(files: files, directory: directory, morercpthostsDatabase: morercpthostsDatabase)
    }
}

extension QmailControl {
    /// Everything read from the control directory, immutable, shared by every copy of the value.
    final class Storage: Sendable {
        /// The folder the files were read from (or a label for in-memory controls).
        let directory: String

        /// File states, by name.
        let statuses: [String: FileStatus]
        /// How each file is named in explanations.
        let origins: [String: String]

        /// control/me, first line.
        let me: Entry?
        /// The greeting text (smtpgreeting's first line, or `me`), nil when neither exists.
        let greeting: Entry?
        /// localiphost's first line (defaults to `me`); nil when neither exists (no literal rewriting).
        let localIPHost: Entry?
        /// The read timeout in seconds (timeoutsmtpd, default 1200, at least 1).
        let timeout: Int
        /// control/databytes as read (0 = unlimited), before `DATABYTES` from the environment applies.
        let databytes: UInt32
        /// rcpthosts entries; nil when control/rcpthosts is missing (open relay).
        let rcpthosts: [Entry]?
        /// badmailfrom entries; nil when the file is missing.
        let badmailfrom: [Entry]?
        /// morercpthosts.cdb.
        let morercpthosts: MoreRcptHosts
        /// Why qmail-smtpd would answer `421 unable to read controls (#4.3.0)` to every connection.
        let setupFailure: Fact?
        /// Problems an administrator should know about.
        let warnings: [ConfigurationWarning]

        let rcpthostsTable: _ByteTable?
        let badmailfromTable: _ByteTable?
        let rcpthostsFacts: [Fact]
        let badmailfromFacts: [Fact]
        let rcpthostsSource: SourceLocation
        let morercpthostsSource: SourceLocation
        /// control/databytes (line 1), the source of the size limit unless `DATABYTES` is set.
        let databytesSource: SourceLocation
        /// Replies built from the greeting once: `220 … ESMTP`, `221 …`, `250 …`, netqmail's EHLO.
        let greetingReply: [UInt8]
        let quitReply: [UInt8]
        let heloReply: [UInt8]
        let ehloReply: [UInt8]

        // swiftlint:disable:next function_body_length
        init(files: [String: ControlFile], directory: String, morercpthostsDatabase: MoreRcptHosts?) {
            self.directory = directory
            var statuses: [String: FileStatus] = [:]
            var origins: [String: String] = [:]
            var texts: [String: [UInt8]] = [:]
            for (name, file) in files {
                let defaultOrigin = directory.isEmpty ? name : directory + "/" + name
                switch file {
                case .contents(let bytes, let origin):
                    statuses[name] = .present
                    origins[name] = origin ?? defaultOrigin
                    texts[name] = bytes
                case .missing:
                    statuses[name] = .missing
                    origins[name] = defaultOrigin
                case .unreadable(let reason):
                    statuses[name] = .unreadable(reason: reason)
                    origins[name] = defaultOrigin
                }
            }
            var warnings: [ConfigurationWarning] = []
            func origin(_ name: String) -> String { origins[name] ?? (directory.isEmpty ? name : directory + "/" + name) }
            func location(_ name: String, _ line: Int? = nil) -> SourceLocation {
                SourceLocation(file: origin(name), line: line)
            }

            // morercpthosts.cdb: from disk (already opened), inline bytes, or absent.
            var cdbState: MoreRcptHosts = .missing
            if let morercpthostsDatabase {
                cdbState = morercpthostsDatabase
                if case .database = morercpthostsDatabase { statuses["morercpthosts.cdb"] = .present }
            } else if let file = files["morercpthosts.cdb"] {
                switch file {
                case .contents(let bytes, _):
                    do {
                        cdbState = .database(try CDB(bytes: bytes, name: origin("morercpthosts.cdb")))
                    } catch {
                        cdbState = .damaged(reason: error.description)
                    }
                case .missing: cdbState = .missing
                case .unreadable(let reason): cdbState = .unreadable(reason: reason)
                }
            }
            switch cdbState {
            case .missing: statuses["morercpthosts.cdb"] = .missing
            case .database, .damaged: statuses["morercpthosts.cdb"] = .present
            case .unreadable(let reason): statuses["morercpthosts.cdb"] = .unreadable(reason: reason)
            }
            if origins["morercpthosts.cdb"] == nil { origins["morercpthosts.cdb"] = origin("morercpthosts.cdb") }
            self.morercpthosts = cdbState

            // Warn about CR line ends once per file.
            for name in texts.keys.sorted() where name != "morercpthosts.cdb" {
                if let line = ControlReader.firstLineEndingInCR(texts[name]!) {
                    warnings.append(
                        ConfigurationWarning(
                            .carriageReturn,
                            "line ends in a carriage return (CRLF file?); qmail keeps the CR as part of the value",
                            source: location(name, line)))
                }
            }
            for name in QmailControl.fileNames.sorted() where name != "morercpthosts.cdb" {
                if case .unreadable(let reason)? = statuses[name] {
                    warnings.append(
                        ConfigurationWarning(
                            .controlUnreadable, "cannot be read (\(reason)); qmail-smtpd answers 421 to every connection",
                            source: location(name)))
                }
            }

            // One-line files.
            func firstLine(_ name: String) -> Entry? {
                guard let bytes = texts[name] else { return nil }
                return Entry(bytes: ControlReader.firstLine(bytes), location: location(name, 1))
            }
            let me = firstLine("me")
            self.me = me
            self.greeting = firstLine("smtpgreeting") ?? me
            self.localIPHost = firstLine("localiphost") ?? me

            var timeout = 1200
            if let bytes = texts["timeoutsmtpd"] {
                if let value = ControlReader.scanNumber(ControlReader.firstLine(bytes)) {
                    let asInt = Int(Int32(truncatingIfNeeded: value))
                    timeout = asInt <= 0 ? 1 : asInt
                } else {
                    warnings.append(
                        ConfigurationWarning(
                            .notANumber, "not a number; qmail-smtpd keeps the default timeout of 1200 seconds",
                            source: location("timeoutsmtpd", 1)))
                }
            }
            self.timeout = timeout

            var databytes: UInt32 = 0
            if let bytes = texts["databytes"] {
                if let value = ControlReader.scanNumber(ControlReader.firstLine(bytes)) {
                    databytes = UInt32(truncatingIfNeeded: value)
                } else {
                    warnings.append(
                        ConfigurationWarning(
                            .notANumber, "not a number; qmail-smtpd treats the size as unlimited",
                            source: location("databytes", 1)))
                }
            }
            self.databytes = databytes

            // List files.
            func list(_ name: String) -> [Entry]? {
                guard let bytes = texts[name] else { return nil }
                return ControlReader.entries(bytes).map { Entry(bytes: $0.bytes, location: location(name, $0.line)) }
            }
            let rcpthosts = list("rcpthosts")
            self.rcpthosts = rcpthosts
            self.rcpthostsTable = rcpthosts.map { entries in
                _ByteTable(keys: entries.enumerated().map { ($0.element.bytes, $0.offset) })
            }
            let badmailfrom = list("badmailfrom")
            self.badmailfrom = badmailfrom
            self.badmailfromTable = badmailfrom.map { entries in
                _ByteTable(keys: entries.enumerated().map { ($0.element.bytes, $0.offset) })
            }

            if statuses["rcpthosts"] == .missing || statuses["rcpthosts"] == nil {
                warnings.append(
                    ConfigurationWarning(
                        .rcpthostsMissing,
                        "control/rcpthosts does not exist: qmail-smtpd accepts mail for every domain (open relay)",
                        source: location("rcpthosts")))
                if case .database = cdbState {
                    warnings.append(
                        ConfigurationWarning(
                            .morercpthostsIgnored, "ignored by qmail-smtpd because control/rcpthosts is missing",
                            source: location("morercpthosts.cdb")))
                }
            }
            for entry in rcpthosts ?? [] {
                let text = entry.bytes
                if text == [UInt8(ascii: ".")] || text.contains(UInt8(ascii: "*")) {
                    warnings.append(
                        ConfigurationWarning(
                            .wildcardEntry,
                            "\"\(entry.text)\" is not a wildcard: rcpthosts matches whole domains and `.suffix` entries only",
                            source: entry.location))
                }
            }
            for (name, entries) in [("rcpthosts", rcpthosts), ("badmailfrom", badmailfrom)] {
                for entry in entries ?? []
                where entry.bytes.contains(UInt8(ascii: " ")) || entry.bytes.contains(UInt8(ascii: "\t")) {
                    warnings.append(
                        ConfigurationWarning(
                            .whitespaceInEntry,
                            "entry \"\(entry.text)\" in \(name) contains a space or tab, which qmail-smtpd compares literally (only trailing blanks are stripped): it matches only an address with the same blank",
                            source: entry.location))
                }
            }

            // morercpthosts text vs cdb.
            if statuses["morercpthosts"] == .present {
                let domains = list("morercpthosts") ?? []
                switch cdbState {
                case .missing:
                    warnings.append(
                        ConfigurationWarning(
                            .morercpthostsWithoutCDB,
                            "control/morercpthosts exists but morercpthosts.cdb does not: qmail-smtpd reads only the cdb (run qmail-newmrh)",
                            source: location("morercpthosts")))
                case .database(let cdb):
                    var absent: [Entry] = []
                    for entry in domains {
                        let key = entry.bytes.map(_ByteTable.fold)
                        if (try? cdb.first(key)) == nil { absent.append(entry) }
                    }
                    if let first = absent.first {
                        let sample = absent.prefix(3).map { "\"\($0.text)\"" }.joined(separator: ", ")
                        warnings.append(
                            ConfigurationWarning(
                                .morercpthostsOutOfDate,
                                "\(absent.count) domain(s) listed in control/morercpthosts are not in morercpthosts.cdb (\(sample)); run qmail-newmrh",
                                source: first.location))
                    }
                case .unreadable, .damaged:
                    break
                }
            }
            switch cdbState {
            case .damaged(let reason):
                warnings.append(
                    ConfigurationWarning(
                        .morercpthostsDamaged,
                        "not a valid cdb (\(reason)); a recipient lookup that reaches it gets 421 and a hang-up",
                        source: location("morercpthosts.cdb")))
            case .unreadable(let reason) where statuses["rcpthosts"] == .present:
                warnings.append(
                    ConfigurationWarning(
                        .controlUnreadable, "cannot be read (\(reason)); qmail-smtpd answers 421 to every connection",
                        source: location("morercpthosts.cdb")))
            case .database(let cdb):
                var cursor = cdb.records()
                while let record = try? cursor.next() {
                    let hasUpper = record.key.withUnsafeBytes { raw in raw.contains { $0 &- 65 < 26 } }
                    if hasUpper {
                        warnings.append(
                            ConfigurationWarning(
                                .morercpthostsUppercaseKey,
                                "key \"\(record.key.string)\" has upper-case letters; qmail-smtpd looks up lower-case domains only, so it never matches",
                                source: location("morercpthosts.cdb")))
                        break
                    }
                }
            default:
                break
            }

            // What qmail-smtpd's setup() would die on, in its order.
            var failure: Fact? = nil
            func unreadable(_ name: String) -> Bool {
                if case .unreadable? = statuses[name] { return true }
                return false
            }
            if unreadable("me") {
                failure = Fact(.controlUnreadable(file: "me"), source: location("me"))
            } else if unreadable("smtpgreeting") {
                failure = Fact(.controlUnreadable(file: "smtpgreeting"), source: location("smtpgreeting"))
            } else if greeting == nil {
                failure = Fact(.controlsMissing, source: location("me"))
                warnings.append(
                    ConfigurationWarning(
                        .controlsMissing,
                        "neither control/me nor control/smtpgreeting exists: qmail-smtpd answers 421 to every connection",
                        source: location("me")))
            } else if unreadable("localiphost") {
                failure = Fact(.controlUnreadable(file: "localiphost"), source: location("localiphost"))
            } else if unreadable("timeoutsmtpd") {
                failure = Fact(.controlUnreadable(file: "timeoutsmtpd"), source: location("timeoutsmtpd"))
            } else if unreadable("rcpthosts") {
                failure = Fact(.controlUnreadable(file: "rcpthosts"), source: location("rcpthosts"))
            } else if statuses["rcpthosts"] == .present, case .unreadable = cdbState {
                failure = Fact(.controlUnreadable(file: "morercpthosts.cdb"), source: location("morercpthosts.cdb"))
            } else if unreadable("badmailfrom") {
                failure = Fact(.controlUnreadable(file: "badmailfrom"), source: location("badmailfrom"))
            } else if unreadable("databytes") {
                failure = Fact(.controlUnreadable(file: "databytes"), source: location("databytes"))
            }
            self.setupFailure = failure
            self.statuses = statuses
            self.origins = origins
            self.warnings = warnings
            self.rcpthostsFacts = (rcpthosts ?? []).map { Fact(.rcpthostsEntry(entry: $0.text), source: $0.location) }
            self.badmailfromFacts = (badmailfrom ?? []).map { Fact(.badmailfrom(entry: $0.text), source: $0.location) }
            self.rcpthostsSource = location("rcpthosts")
            self.morercpthostsSource = location("morercpthosts.cdb")
            self.databytesSource = location("databytes", 1)
            let text = greeting?.bytes ?? []
            self.greetingReply = Array("220 ".utf8) + text + Array(" ESMTP\r\n".utf8)
            self.quitReply = Array("221 ".utf8) + text + [13, 10]
            self.heloReply = Array("250 ".utf8) + text + [13, 10]
            self.ehloReply = Array("250-".utf8) + text + Array("\r\n250-PIPELINING\r\n250 8BITMIME\r\n".utf8)
        }

    }
}

/// A control directory that cannot be used at all.
public struct ControlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path concerned.
    public var path: String
    /// What is wrong.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// qmail's control.c reading rules, on bytes.
enum ControlReader {
    /// The first line without its LF and without trailing spaces and tabs (control_readline).
    static func firstLine(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.firstIndex(of: 10) ?? bytes.count
        while end > 0, bytes[end - 1] == 32 || bytes[end - 1] == 9 { end -= 1 }
        return Array(bytes[0..<end])
    }

    /// The entries of a list file (control_readfile + constmap): for every line, trailing
    /// blanks stripped; empty lines, lines starting with `#` or with NUL skipped; a line holding
    /// NUL bytes gives one entry per NUL-separated piece.
    static func entries(_ bytes: [UInt8]) -> [(bytes: [UInt8], line: Int)] {
        var result: [(bytes: [UInt8], line: Int)] = []
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let newline = bytes[start...].firstIndex(of: 10) ?? bytes.count
            var end = newline
            while end > start, bytes[end - 1] == 32 || bytes[end - 1] == 9 { end -= 1 }
            if end > start, bytes[start] != 0, bytes[start] != UInt8(ascii: "#") {
                for piece in bytes[start..<end].split(separator: 0, omittingEmptySubsequences: false) {
                    result.append((Array(piece), lineNumber))
                }
            }
            start = newline + 1
        }
        return result
    }

    /// scan_ulong: the value of the leading decimal digits (wrapping like C's unsigned long), or
    /// nil when there are none.
    static func scanNumber(_ bytes: [UInt8]) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        for byte in bytes {
            let digit = byte &- 48
            if digit >= 10 { break }
            value = value &* 10 &+ UInt64(digit)
            digits += 1
        }
        return digits == 0 ? nil : value
    }

    /// scan_ulong as qmail uses it for DATABYTES: no digits give 0.
    static func scanNumberOrZero(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for byte in bytes {
            let digit = byte &- 48
            if digit >= 10 { break }
            value = value &* 10 &+ UInt64(digit)
        }
        return value
    }

    /// The 1-based number of the first line that ends in CR before its LF (or at end of file).
    static func firstLineEndingInCR(_ bytes: [UInt8]) -> Int? {
        var line = 1
        for (index, byte) in bytes.enumerated() {
            if byte == 10 {
                if index > 0, bytes[index - 1] == 13 { return line }
                line += 1
            }
        }
        if bytes.last == 13 { return line }
        return nil
    }
}

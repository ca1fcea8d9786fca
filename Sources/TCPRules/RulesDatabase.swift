public import CDB

/// tcpserver's access rules, ready for lookups: a compiled cdb, or a source file compiled in memory
/// (so both answer identically), or a file that could not be read (tcpserver drops every connection
/// then, unless `-X` is given and the file is missing).
///
/// ```swift
/// let rules = try RulesDatabase.load(path: "/etc/tcp.smtp.cdb")
/// let match = try rules.match(RuleClient(ip: "192.0.2.9", host: "mail.example.com"))
/// print(match.summary)   // rule =.example.com: allow (/etc/tcp.smtp:7)
/// ```
public struct RulesDatabase: Sendable {
    /// What the database was made from.
    public enum Kind: String, Sendable, Hashable {
        /// A compiled cdb file.
        case cdb
        /// tcprules source text, compiled in memory.
        case source
        /// A file that could not be read (see ``readFailure``).
        case unreadable
    }

    /// Everything fixed when the database is made, shared by reference between copies (a
    /// configuration hands the database to every connection; a copy then costs one reference
    /// count, not one per field).
    final class Storage: Sendable {
        let path: String
        let dialect: RulesDialect
        let kind: Kind
        let cdb: CDB?
        let source: RulesSource?
        let readFailure: RulesReadFailure?
        let locations: [[UInt8]: (line: Int, data: [UInt8])]
        let index: _RulesIndex?
        let explained: [RuleMatch]?

        init(
            path: String, dialect: RulesDialect, kind: Kind, cdb: CDB?, source: RulesSource?, readFailure: RulesReadFailure?,
            locations: [[UInt8]: (line: Int, data: [UInt8])], index: _RulesIndex?, explained: [RuleMatch]?
        ) {
            self.path = path
            self.dialect = dialect
            self.kind = kind
            self.cdb = cdb
            self.source = source
            self.readFailure = readFailure
            self.locations = locations
            self.index = index
            self.explained = explained
        }

        /// The same, with the rules explained.
        func explaining(_ explained: [RuleMatch]?) -> Storage {
            Storage(
                path: path, dialect: dialect, kind: kind, cdb: cdb, source: source, readFailure: readFailure,
                locations: locations, index: index, explained: explained)
        }
    }

    private(set) var storage: Storage

    /// The file the rules come from (the cdb, or the source file).
    public var path: String { storage.path }
    /// The dialect the source was parsed with (for a cdb: the dialect its neighbouring source was
    /// parsed with, if any).
    public var dialect: RulesDialect { storage.dialect }
    /// What the database was made from.
    public var kind: Kind { storage.kind }
    /// The cdb lookups are made in (for source: the compiled bytes); nil when unreadable.
    public var cdb: CDB? { storage.cdb }
    /// The parsed source: the file itself, or for a cdb the source next to it (`tcp.smtp` for
    /// `tcp.smtp.cdb`) when it exists and parses. It is used only to attach line numbers.
    public var source: RulesSource? { storage.source }
    /// Why the file could not be read, for ``Kind/unreadable``.
    public var readFailure: RulesReadFailure? { storage.readFailure }

    /// For each key, the first source rule that produces it: its line and its data. For a cdb, the
    /// line is attached to a match only when the data is the same (the source may be newer).
    var locations: [[UInt8]: (line: Int, data: [UInt8])] { storage.locations }
    /// An in-memory index of the cdb's keys (nil when not wanted, or when the cdb is too large or
    /// damaged: lookups then probe the cdb itself, with the same answers).
    var index: _RulesIndex? { storage.index }

    /// For each entry of ``index``, the rule explained (see ``explain(key:data:)``), made once so
    /// that a lookup copies it; nil without an index or for more than ``explainedLimit`` keys.
    var explained: [RuleMatch]? { storage.explained }
    /// The most keys whose rules are explained in advance.
    static let explainedLimit = 100_000

    /// Whether lookups use the in-memory index (rather than probing the cdb).
    public var isIndexed: Bool { index != nil }

    /// A database over a compiled cdb.
    public init(cdb: CDB, path: String) {
        self.init(cdb: cdb, path: path, source: nil)
    }

    /// A database over a compiled cdb, with its source for line numbers.
    ///
    /// - Parameter indexed: build an in-memory index of the keys (about 100 bytes per key) so
    ///   lookups run at C speed; false probes the cdb itself. Answers are the same either way.
    public init(cdb: CDB, path: String, source: RulesSource?, indexed: Bool = true) {
        storage = Storage(
            path: path, dialect: source?.dialect ?? .ucspiTCP, kind: .cdb, cdb: cdb, source: source, readFailure: nil,
            locations: source.map(RulesDatabase.locations(of:)) ?? [:], index: indexed ? RulesDatabase.makeIndex(cdb) : nil,
            explained: nil)
        storage = storage.explaining(explainAll())
    }

    /// A database over tcprules source text.
    ///
    /// - Throws: ``RulesError/syntax(_:)`` for a line tcprules refuses.
    public init(source text: String, path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError) {
        try self.init(sourceBytes: Array(text.utf8), path: path, dialect: dialect)
    }

    /// A database over tcprules source bytes.
    public init(sourceBytes: [UInt8], path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError) {
        let source: RulesSource
        do {
            source = try RulesSource(parsing: sourceBytes, path: path, dialect: dialect)
        } catch {
            throw .syntax(error)
        }
        try self.init(parsed: source)
    }

    /// A database over a parsed source.
    public init(parsed source: RulesSource) throws(RulesError) {
        let cdb: CDB
        do {
            cdb = try CDB(bytes: source.compiled(), name: source.path)
        } catch {
            throw .cdb(error)
        }
        storage = Storage(
            path: source.path, dialect: source.dialect, kind: .source, cdb: cdb, source: source, readFailure: nil,
            locations: RulesDatabase.locations(of: source), index: RulesDatabase.makeIndex(cdb), explained: nil)
        storage = storage.explaining(explainAll())
    }

    private init(unreadable path: String, failure: RulesReadFailure) {
        storage = Storage(
            path: path, dialect: .ucspiTCP, kind: .unreadable, cdb: nil, source: nil, readFailure: failure, locations: [:],
            index: nil, explained: nil)
    }

    /// Every indexed rule explained, in entry order (nil: no index, or too many keys).
    private func explainAll() -> [RuleMatch]? {
        guard let index, index.entryCount <= RulesDatabase.explainedLimit else { return nil }
        return (0..<index.entryCount).map { explain(key: index.key($0), data: index.value($0).bytes) }
    }

    /// The in-memory index of `cdb`, or nil if it is too large or some lookup could fail or
    /// answer differently from `cdb_find` (see ``findableRecords(_:)``).
    static func makeIndex(_ cdb: CDB) -> _RulesIndex? {
        var slots = 0
        for table in 0..<256 { slots += Int(cdb.table(table).slots) }
        guard slots / 2 <= _RulesIndex.maximumRecords else { return nil }
        guard let entries = findableRecords(cdb) else { return nil }
        return _RulesIndex(entries: entries)
    }

    /// Every key `cdb_find` can find in `cdb`, with the data it returns for it — read from the
    /// hash tables, not from the record area, since tcpserver looks keys up only through the
    /// tables: a record no slot leads to is never found, a slot may lead into the middle of
    /// another record, and the first match in probe order wins.
    ///
    /// Nil when some lookup would fail instead of answering (a slot leading outside the record
    /// area, a table without an empty slot): only probing the cdb then answers as tcpserver does.
    static func findableRecords(_ cdb: CDB) -> [(key: CDB.Value, data: CDB.Value)]? {
        var keys: [CDB.Value] = []
        let recordsEnd = cdb.recordAreaEnd
        for table in 0..<256 {
            let (position, slotCount) = cdb.table(table)
            guard slotCount > 0 else { continue }
            var hasEmptySlot = false
            for slot in 0..<Int(slotCount) {
                let entry = cdb.withUnsafeBytes(at: CDB.Location(offset: Int(position) + slot * 8, count: 8)) {
                    UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
                }
                let recordPosition = Int(entry >> 32)
                if recordPosition == 0 {
                    hasEmptySlot = true
                    continue
                }
                guard recordPosition >= 2048, recordPosition <= recordsEnd - 8 else { return nil }
                let lengths = cdb.withUnsafeBytes(at: CDB.Location(offset: recordPosition, count: 8)) {
                    UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
                }
                let keyLength = Int(UInt32(truncatingIfNeeded: lengths))
                let dataLength = Int(lengths >> 32)
                guard recordPosition + 8 + keyLength + dataLength <= recordsEnd else { return nil }
                keys.append(cdb.value(at: CDB.Location(offset: recordPosition + 8, count: keyLength)))
            }
            guard hasEmptySlot else { return nil }
        }
        var entries: [(key: CDB.Value, data: CDB.Value)] = []
        entries.reserveCapacity(keys.count)
        for key in keys {
            // With every slot valid and an empty slot in every table, lookups cannot throw.
            guard let location = key.withUnsafeBytes({ bytes in try? cdb.firstLocation(bytes) }) else { continue }
            entries.append((key, cdb.value(at: location)))
        }
        return entries
    }

    /// A rules file that does not exist: tcpserver drops every connection, or with `-X` ignores it.
    public static func missing(path: String) -> RulesDatabase {
        RulesDatabase(unreadable: path, failure: .doesNotExist)
    }

    /// A rules file that exists but cannot be read: tcpserver drops every connection, even with `-X`.
    public static func unreadable(path: String, failure: RulesReadFailure) -> RulesDatabase {
        RulesDatabase(unreadable: path, failure: failure)
    }

    private static func locations(of source: RulesSource) -> [[UInt8]: (line: Int, data: [UInt8])] {
        var result: [[UInt8]: (line: Int, data: [UInt8])] = [:]
        for rule in source.rules {
            for key in rule.keyBytes where result[key] == nil { result[key] = (rule.line, rule.data) }
        }
        return result
    }

    // MARK: - Loading

    /// Loads a compiled cdb or a tcprules source file, telling them apart by content.
    ///
    /// A file whose 2048-byte header is a valid cdb header is a cdb (text can never be one); a file
    /// named `*.cdb` or holding NUL bytes that is not a valid cdb is a damaged cdb; anything else is
    /// source. For a cdb, the source next to it (`tcp.smtp` for `tcp.smtp.cdb`) is parsed, if it
    /// exists and is valid, only to attach line numbers to matches.
    ///
    /// - Throws: ``RulesError``: unreadable file, damaged cdb, or a source line tcprules refuses.
    public static func load(path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError) -> RulesDatabase {
        let bytes: [UInt8]
        switch _RulesFile.readAll(path) {
        case .success(let read): bytes = read
        case .failure(let failure): throw .unreadable(path: path, failure)
        }
        if let cdbError = cdbHeaderProblem(bytes, path: path) {
            if path.hasSuffix(".cdb") || bytes.contains(0) { throw .cdb(cdbError) }
            return try RulesDatabase(sourceBytes: bytes, path: path, dialect: dialect)
        }
        let cdb: CDB
        do {
            cdb = try CDB(contentsOf: path)
            // Walk every record once, so a damaged record area is reported now, not at a lookup.
            var cursor = cdb.records()
            while try cursor.next() != nil {}
        } catch {
            throw .cdb(error)
        }
        var neighbour: RulesSource?
        if let sourcePath = RulesSource.conventionalSourcePath(for: path), _RulesFile.exists(sourcePath) {
            neighbour = try? RulesSource(contentsOf: sourcePath, dialect: dialect)
        }
        return RulesDatabase(cdb: cdb, path: path, source: neighbour)
    }

    /// Loads the file as tcpserver's `-x` would use it: instead of throwing, a file that cannot be
    /// read or is damaged gives an ``Kind/unreadable`` database, on which tcpserver drops connections.
    /// A source line tcprules refuses still throws (it is a configuration error, not a server state).
    public static func loadForTCPServer(path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError)
        -> RulesDatabase
    {
        do {
            return try load(path: path, dialect: dialect)
        } catch {
            switch error {
            case .unreadable(_, let failure): return .unreadable(path: path, failure: failure)
            case .cdb: return .unreadable(path: path, failure: .protocolError)
            case .syntax: throw error
            }
        }
    }

    /// Why `bytes` is not a cdb, or nil if its header is valid (every hash table inside the file).
    static func cdbHeaderProblem(_ bytes: [UInt8], path: String) -> CDBError? {
        if bytes.count < 2048 {
            return CDBError(.truncatedHeader(size: bytes.count), path: path, offset: UInt64(bytes.count))
        }
        for table in 0..<256 {
            let position = bytes.uint32(at: table * 8)
            let slots = bytes.uint32(at: table * 8 + 4)
            if position < 2048 || Int(position) + Int(slots) * 8 > bytes.count {
                return CDBError(
                    .tableOutOfBounds(table: table, position: position, slots: slots), path: path,
                    offset: UInt64(table * 8))
            }
        }
        return nil
    }
}

extension Array where Element == UInt8 {
    /// The little-endian 32-bit integer at `offset` (the caller checks bounds).
    func uint32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16
            | UInt32(self[offset + 3]) << 24
    }
}

public import CDB

extension RulesSource {
    /// Reads and parses a source file.
    ///
    /// - Throws: ``RulesError/unreadable(path:_:)`` or ``RulesError/syntax(_:)``.
    public init(contentsOf path: String, dialect: RulesDialect = .ucspiTCP) throws(RulesError) {
        let bytes: [UInt8]
        switch _RulesFile.readAll(path) {
        case .success(let read): bytes = read
        case .failure(let failure): throw .unreadable(path: path, failure)
        }
        do {
            try self.init(parsing: bytes, path: path, dialect: dialect)
        } catch {
            throw .syntax(error)
        }
    }

    /// The cdb `tcprules` writes for this source, byte for byte: one record per key in file order
    /// (duplicates kept, so the first wins on lookup), data `D\0` for deny followed by a
    /// `+NAME=value\0` item per variable.
    public func compiled() throws(CDBError) -> [UInt8] {
        let writer = CDBWriter()
        for rule in rules {
            for key in rule.keyBytes { try writer.add(key: key, data: rule.data) }
        }
        return try writer.finishInMemory()
    }

    /// Writes the compiled cdb to `path` atomically: under `temporaryPath` first (default
    /// `path.tmp<pid>`), then renamed over `path`. On failure nothing is replaced and the temporary
    /// file is removed.
    public func compile(to path: String, temporaryPath: String? = nil) throws(CDBError) {
        let writer = try CDBWriter(path: path, temporaryPath: temporaryPath)
        for rule in rules {
            for key in rule.keyBytes { try writer.add(key: key, data: rule.data) }
        }
        try writer.finish()
    }

    /// The default output name for a source file, as tcprules users name it: `tcp.smtp` →
    /// `tcp.smtp.cdb`.
    public static func defaultCDBPath(for sourcePath: String) -> String {
        sourcePath + ".cdb"
    }

    /// The conventional source file of a cdb (`tcp.smtp.cdb` → `tcp.smtp`), or nil if the name does
    /// not end in `.cdb`.
    public static func conventionalSourcePath(for cdbPath: String) -> String? {
        guard cdbPath.hasSuffix(".cdb"), cdbPath.count > 4 else { return nil }
        return String(cdbPath.dropLast(4))
    }
}

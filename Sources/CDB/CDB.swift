/// A read-only constant database (cdb), as written by `cdbmake`, tinycdb's `cdb -c`,
/// `tcprules` and `qmail-newmrh`.
///
/// ```
///  offset 0                 2048                        records end
///  +------------------------+---------------------------+------------------------------+
///  | header: 256 x          | records, insertion order: | 256 hash tables, table 0     |
///  | (table pos, slots)     | klen dlen key data ...    | first: slots x (hash, pos)   |
///  +------------------------+---------------------------+------------------------------+
///  all integers: unsigned 32-bit little-endian; an empty slot has pos 0
/// ```
///
/// The file is memory-mapped. Lookups hash the key, go to table `hash & 255`, start at slot
/// `(hash >> 8) % slots` and probe linearly; found values are views into the mapping, not copies.
/// Every table position, slot and record length is checked against the file, so a truncated or
/// hostile file yields a ``CDBError`` (with the file name and byte offset), never a crash, an
/// out-of-bounds read or an endless probe loop.
///
/// `CDB` is a cheap-to-copy value; copies share the mapping, which is released with the last copy.
/// Like every cdb reader, it relies on the file not being truncated in place while it is open:
/// cdb writers (this one, cdbmake, tcprules) replace a database by renaming a new file over it,
/// which leaves open mappings of the old one intact.
public struct CDB: Sendable {
    let storage: _CDBStorage
    /// Where the records end and the hash tables begin (the smallest table position).
    let recordsEnd: Int
    /// The file name used in error messages (`<memory>` for in-memory databases).
    public let path: String

    /// Opens and memory-maps the cdb file at `path`, checking its header.
    ///
    /// - Throws: ``CDBError`` if the file cannot be read or its header is damaged.
    public init(contentsOf path: String) throws(CDBError) {
        let storage = try _CDBStorage(mapping: path)
        self.storage = storage
        self.path = path
        self.recordsEnd = try CDB.checkHeader(storage, path: path)
    }

    /// A database over a copy of `bytes` (for tests, fuzzing and data built in memory).
    public init(bytes: some Sequence<UInt8>, name: String = "<memory>") throws(CDBError) {
        let array = Array(bytes)
        if array.count < 2048 {
            throw CDBError(.truncatedHeader(size: array.count), path: name, offset: UInt64(array.count))
        }
        let storage = array.withUnsafeBytes { _CDBStorage(copying: $0) }
        self.storage = storage
        self.path = name
        self.recordsEnd = try CDB.checkHeader(storage, path: name)
    }

    /// The size of the file in bytes.
    public var byteCount: Int { storage.count }

    /// Checks every header entry and returns where the record area ends.
    private static func checkHeader(_ storage: _CDBStorage, path: String) throws(CDBError) -> Int {
        var recordsEnd = storage.count
        for table in 0..<256 {
            let position = storage.uint32(at: table * 8)
            let slots = storage.uint32(at: table * 8 + 4)
            let end = Int(position) + Int(slots) * 8
            if position < 2048 || end > storage.count {
                throw CDBError(
                    .tableOutOfBounds(table: table, position: position, slots: slots),
                    path: path, offset: UInt64(table * 8))
            }
            recordsEnd = min(recordsEnd, Int(position))
        }
        return recordsEnd
    }

    /// The position and slot count of hash table `table` (0...255), as stored in the header.
    public func table(_ table: Int) -> (position: UInt32, slots: UInt32) {
        precondition((0..<256).contains(table), "cdb has tables 0...255")
        return (storage.uint32(at: table * 8), storage.uint32(at: table * 8 + 4))
    }

    /// The byte offset where the record area ends and the hash tables start.
    public var recordAreaEnd: Int { recordsEnd }
}

extension CDB {
    /// A stretch of bytes inside the database (a key or a value), valid as long as it is held.
    public struct Value: Sendable, Hashable, CustomStringConvertible {
        let storage: _CDBStorage
        /// Byte offset of the first byte in the file.
        public let offset: Int
        /// Number of bytes.
        public let count: Int


        init(storage: _CDBStorage, offset: Int, count: Int) {
            self.storage = storage
            self.offset = offset
            self.count = count
        }

        /// Whether the value has no bytes.
        public var isEmpty: Bool { count == 0 }

        /// A copy of the bytes.
        public var bytes: [UInt8] {
            withUnsafeBytes { Array($0) }
        }

        /// The bytes decoded as UTF-8 (invalid sequences replaced by U+FFFD).
        public var string: String {
            withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        }

        /// Calls `body` with the bytes in place (no copy).
        
        public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
            try storage.withBytes(at: offset, count: count, body)
        }

        public static func == (lhs: Value, rhs: Value) -> Bool {
            lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
        }

        public func hash(into hasher: inout Hasher) {
            withUnsafeBytes { hasher.combine(bytes: $0) }
        }

        public var description: String { string }
    }

    /// One record: its key, its data and the position of its header in the file.
    public struct Record: Sendable, Hashable {
        public let key: Value
        public let data: Value
        /// Byte offset of the record (its key-length field).
        public let position: Int
    }
}

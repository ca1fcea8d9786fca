/// Writes a cdb file the way `cdbmake`, tinycdb's `cdb -c` and `tcprules` do, byte for byte.
///
/// Records are streamed to the output as they are added; only 8 bytes per record (its hash and
/// position) are kept in memory to build the hash tables at the end. A file is written under a
/// temporary name and renamed over the destination by ``finish()``, so readers never see a
/// half-written database; if the writer is dropped or fails, the temporary file is removed.
///
/// ```swift
/// let writer = try CDBWriter(path: "morercpthosts.cdb")
/// try writer.add(key: "example.com", data: "")
/// try writer.finish()
/// ```
public final class CDBWriter {
    private enum Output {
        case file(_CDBOutputFile)
        case memory([UInt8])
        case closed
    }

    private var output: Output
    private var hashes: [UInt32] = []
    private var positions: [UInt32] = []
    private var position: UInt64 = 2048
    private let maximumSize: UInt64
    private let name: String

    /// The largest size the format can address.
    public static let formatLimit: UInt64 = 0xFFFF_FFFF

    /// Starts writing a database that ``finish()`` will move to `path`.
    ///
    /// - Parameters:
    ///   - path: the final file name.
    ///   - temporaryPath: where to write until finished (default: `path` + `.tmp` + the process id
    ///     and a random number, in the same folder so the final rename is atomic).
    ///   - maximumSize: the size limit (the format's 4 GiB by default; lower it to test the limit).
    public init(path: String, temporaryPath: String? = nil, maximumSize: UInt64 = CDBWriter.formatLimit)
        throws(CDBError)
    {
        let temporary =
            temporaryPath ?? "\(path).tmp\(_CDBOutputFile.processID()).\(UInt32.random(in: 0...UInt32.max))"
        let file = try _CDBOutputFile(temporaryPath: temporary, finalPath: path)
        try [UInt8](repeating: 0, count: 2048).withCDBBytes { (raw) throws(CDBError) in try file.write(raw) }
        self.output = .file(file)
        self.maximumSize = min(maximumSize, CDBWriter.formatLimit)
        self.name = path
    }

    /// Starts building a database in memory; ``finishInMemory()`` returns its bytes.
    public init(maximumSize: UInt64 = CDBWriter.formatLimit) {
        self.output = .memory([UInt8](repeating: 0, count: 2048))
        self.maximumSize = min(maximumSize, CDBWriter.formatLimit)
        self.name = "<memory>"
    }

    deinit {
        if case .file(let file) = output { file.discard() }
    }

    /// The number of records added so far.
    public var count: Int { hashes.count }

    /// Appends a record. Duplicate keys and empty keys or data are allowed and kept.
    public func add(key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) throws(CDBError) {
        let newPosition = position + 8 + UInt64(key.count) + UInt64(data.count)
        // The tables need 16 bytes per record on top of the records themselves.
        let projected = newPosition + 16 * UInt64(hashes.count + 1)
        if projected > maximumSize {
            fail()
            throw CDBError(.tooLarge(size: projected), path: name, offset: position)
        }
        // The record header: key length and data length, little-endian.
        var lengths = (UInt32(key.count).littleEndian, UInt32(data.count).littleEndian)
        do {
            try Swift.withUnsafeBytes(of: &lengths) { (raw) throws(CDBError) in try emit(raw) }
            try emit(key)
            try emit(data)
        } catch {
            fail()
            throw error
        }
        hashes.append(CDBHash.hash(key))
        positions.append(UInt32(position))
        position = newPosition
    }

    /// Appends a record.
    @inlinable
    public func add(key: some Sequence<UInt8>, data: some Sequence<UInt8>) throws(CDBError) {
        let added = key.withContiguousStorageIfAvailable { k in
            data.withContiguousStorageIfAvailable { d in
                Result { () throws(CDBError) in
                    try add(key: UnsafeRawBufferPointer(k), data: UnsafeRawBufferPointer(d))
                }
            }
        }
        if let added, let result = added {
            return try result.get()
        }
        let keyBytes = Array(key)
        let dataBytes = Array(data)
        try keyBytes.withUnsafeBufferPointer { (k) throws(CDBError) in
            try dataBytes.withUnsafeBufferPointer { (d) throws(CDBError) in
                try add(key: UnsafeRawBufferPointer(k), data: UnsafeRawBufferPointer(d))
            }
        }
    }

    /// Appends a record whose key and data are the UTF-8 bytes of two strings.
    public func add(key: String, data: String) throws(CDBError) {
        try key.withCDBBytes { (k) throws(CDBError) in
            try data.withCDBBytes { (d) throws(CDBError) in try add(key: k, data: d) }
        }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws(CDBError) {
        switch output {
        case .file(let file): try file.write(bytes)
        case .memory(var buffer):
            output = .closed
            buffer.append(contentsOf: bytes)
            output = .memory(buffer)
        case .closed: throw CDBError(.writerClosed, path: name)
        }
    }

    /// Abandons the database: removes the temporary file and leaves the destination untouched.
    /// Later calls to `add(key:data:)` or ``finish()`` throw.
    public func cancel() {
        fail()
    }

    private func fail() {
        if case .file(let file) = output { file.discard() }
        output = .closed
    }

    /// Builds the 256 hash tables, passing each table's bytes to `emit` in file order, and
    /// returns the 2048-byte header. Only one table is held in memory at a time.
    private func writeTables(_ emit: (UnsafeRawBufferPointer) throws(CDBError) -> Void) throws(CDBError)
        -> [UInt8]
    {
        let total = hashes.count
        let end = position + 16 * UInt64(total)
        if end > maximumSize {
            throw CDBError(.tooLarge(size: end), path: name, offset: position)
        }
        var counts = [Int](repeating: 0, count: 256)
        for h in hashes { counts[Int(h & 255)] += 1 }
        var starts = [Int](repeating: 0, count: 256)
        var running = 0
        for table in 0..<256 {
            starts[table] = running
            running += counts[table]
        }
        // Bucket the record indexes by table, keeping insertion order within each table.
        var bucketed = [Int](repeating: 0, count: total)
        var fill = starts
        for (index, h) in hashes.enumerated() {
            let table = Int(h & 255)
            bucketed[fill[table]] = index
            fill[table] += 1
        }
        var header = [UInt8]()
        header.reserveCapacity(2048)
        var tablePosition = position
        // One table: `slots` pairs of (hash, position), little-endian, position 0 = empty.
        var slotWords: [UInt32] = []
        slotWords.reserveCapacity(2 * 2 * (counts.max() ?? 0))
        for table in 0..<256 {
            let slots = counts[table] * 2
            CDBWriter.appendUInt32(UInt32(tablePosition), to: &header)
            CDBWriter.appendUInt32(UInt32(slots), to: &header)
            if slots == 0 { continue }
            slotWords.removeAll(keepingCapacity: true)
            slotWords.append(contentsOf: repeatElement(0, count: 2 * slots))
            for entry in starts[table]..<(starts[table] + counts[table]) {
                let index = bucketed[entry]
                let h = hashes[index]
                var slot = Int(h >> 8) % slots
                while slotWords[2 * slot + 1] != 0 {
                    slot += 1
                    if slot == slots { slot = 0 }
                }
                slotWords[2 * slot] = h.littleEndian
                slotWords[2 * slot + 1] = positions[index].littleEndian
            }
            try slotWords.withUnsafeBufferPointer { (words) throws(CDBError) in
                try emit(UnsafeRawBufferPointer(words))
            }
            tablePosition += UInt64(slots) * 8
        }
        return header
    }

    /// Writes the hash tables and header, then renames the temporary file into place.
    ///
    /// - Throws: ``CDBError`` (the temporary file is removed and the destination left untouched).
    public func finish() throws(CDBError) {
        guard case .file(let file) = output else {
            throw CDBError(.writerClosed, path: name)
        }
        do {
            let header = try writeTables { (raw) throws(CDBError) in try file.write(raw) }
            try file.write(header, at: 0)
            try file.commit()
            output = .closed
        } catch {
            fail()
            throw error
        }
    }

    /// Finishes an in-memory database and returns its bytes.
    public func finishInMemory() throws(CDBError) -> [UInt8] {
        guard case .memory(var buffer) = output else {
            throw CDBError(.writerClosed, path: name)
        }
        output = .closed
        buffer.reserveCapacity(buffer.count + 16 * hashes.count)
        let header = try writeTables { (raw) throws(CDBError) in buffer.append(contentsOf: raw) }
        buffer.replaceSubrange(0..<2048, with: header)
        return buffer
    }

    /// Builds a database from `records` in memory.
    public static func build<K: Sequence<UInt8>, D: Sequence<UInt8>>(_ records: some Sequence<(K, D)>)
        throws(CDBError) -> [UInt8]
    {
        let writer = CDBWriter()
        for (key, data) in records { try writer.add(key: key, data: data) }
        return try writer.finishInMemory()
    }

    @inline(__always)
    static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    }
}

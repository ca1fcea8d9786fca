extension CDB {
    /// A cursor over every record of the file in stored order (what `cdbdump` prints).
    ///
    /// Each step moves forward by at least the 8-byte record header, so iteration always ends.
    public struct RecordCursor: Sendable {
        let cdb: CDB
        var position = 2048


        init(cdb: CDB) { self.cdb = cdb }

        /// The next record, or `nil` at the end of the record area.
        public mutating func next() throws(CDBError) -> Record? {
            let end = cdb.recordsEnd
            if position >= end { return nil }
            if position + 8 > end {
                throw CDBError(
                    .recordOutOfBounds(position: UInt64(position), keyLength: 0, dataLength: 0),
                    path: cdb.path, offset: UInt64(position))
            }
            let storage = cdb.storage
            let keyLength = storage.uint32(at: position)
            let dataLength = storage.uint32(at: position + 4)
            let keyStart = position + 8
            let recordEnd = keyStart + Int(keyLength) + Int(dataLength)
            if recordEnd > end {
                throw CDBError(
                    .recordOutOfBounds(position: UInt64(position), keyLength: keyLength, dataLength: dataLength),
                    path: cdb.path, offset: UInt64(position))
            }
            let record = Record(
                key: Value(storage: storage, offset: keyStart, count: Int(keyLength)),
                data: Value(storage: storage, offset: keyStart + Int(keyLength), count: Int(dataLength)),
                position: position)
            position = recordEnd
            return record
        }
    }

    /// A cursor over every record, in the order they are stored.
    public func records() -> RecordCursor {
        RecordCursor(cdb: self)
    }

    /// Every record, in stored order.
    public func allRecords() throws(CDBError) -> [Record] {
        var cursor = records()
        var result: [Record] = []
        while let record = try cursor.next() {
            result.append(record)
        }
        return result
    }
}

extension CDB {
    /// Where a record's data lies in the file: a plain pair of numbers that holds no reference to
    /// the database (the hot lookup paths return it so that no reference count is touched).
    ///
    /// Turn it into bytes with ``CDB/value(at:)`` or ``CDB/withUnsafeBytes(at:_:)`` on the same
    /// database.
    public struct Location: Sendable, Hashable {
        /// Byte offset of the data's first byte in the file.
        public let offset: Int
        /// Number of data bytes.
        public let count: Int

        @inlinable
        public init(offset: Int, count: Int) {
            self.offset = offset
            self.count = count
        }
    }

    /// The data of the first record whose key is `key`, or `nil` if there is none.
    ///
    /// This is the lookup `tcpserver`, `qmail-smtpd` and `tcprulescheck` perform.
    /// - Throws: ``CDBError`` if the probe meets a damaged slot or record.
    /// - Complexity: O(probes); a well-formed table is at most half full, so ~1.5 slots on average.
    @inlinable
    public func first(_ key: some Sequence<UInt8>) throws(CDBError) -> Value? {
        if let result = key.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(CDBError) -> Value? in try first(UnsafeRawBufferPointer(buffer)) }
        }) {
            return try result.get()
        }
        let bytes = Array(key)
        return try bytes.withUnsafeBytes { raw in
            Result { () throws(CDBError) -> Value? in try first(raw) }
        }.get()
    }

    /// The data of the first record whose key is the UTF-8 bytes of `key`.
    public func first(_ key: String) throws(CDBError) -> Value? {
        try key.withCDBBytes { (raw) throws(CDBError) -> Value? in try first(raw) }
    }

    /// Whether some record has key `key`.
    public func contains(_ key: String) throws(CDBError) -> Bool {
        try key.withCDBBytes { (raw) throws(CDBError) -> Bool in try firstLocation(raw) != nil }
    }

    /// Whether some record has key `key`.
    public func contains(_ key: UnsafeRawBufferPointer) throws(CDBError) -> Bool {
        try firstLocation(key) != nil
    }

    /// The data of the first record whose key is `key`, or `nil`.
    public func first(_ key: UnsafeRawBufferPointer) throws(CDBError) -> Value? {
        guard let location = try firstLocation(key) else { return nil }
        return Value(storage: storage, offset: location.offset, count: location.count)
    }

    /// Where the data of the first record whose key is `key` lies, or `nil` if there is none.
    ///
    /// The fastest single lookup: no copy, no allocation, no reference counting. It performs
    /// exactly the probes of ``first(_:)`` and throws the same errors.
    public func firstLocation(_ key: UnsafeRawBufferPointer) throws(CDBError) -> Location? {
        try _firstLocation(key, hash: CDBHash.hash(key))
    }

    /// The data at `location` (from ``firstLocation(_:)`` or ``firstLocations(_:into:)`` on this
    /// database) as a ``Value``.
    public func value(at location: Location) -> Value {
        precondition(
            location.offset >= 0 && location.count >= 0 && location.offset + location.count <= storage.count,
            "location outside the database")
        return Value(storage: storage, offset: location.offset, count: location.count)
    }

    /// Calls `body` with the bytes at `location` in place (no copy).
    public func withUnsafeBytes<R, E: Error>(
        at location: Location, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(
            location.offset >= 0 && location.count >= 0 && location.offset + location.count <= storage.count,
            "location outside the database")
        return try storage.withBytes(at: location.offset, count: location.count, body)
    }

    /// The data of every record whose key is `key`, in insertion order.
    public func all(_ key: some Sequence<UInt8>) throws(CDBError) -> [Value] {
        let keyBytes = Array(key)
        return try keyBytes.withCDBBytes { (raw) throws(CDBError) -> [Value] in
            var cursor = FindCursor(key: raw, in: self)
            var values: [Value] = []
            while let value = try cursor.next(in: self, key: raw) {
                values.append(value)
            }
            return values
        }
    }

    /// The data of every record whose key is the UTF-8 bytes of `key`, in insertion order.
    public func all(_ key: String) throws(CDBError) -> [Value] {
        try all(Array(key.utf8))
    }

    /// The single-lookup hot path. Every check of ``FindCursor/next(in:key:)`` is made, in the
    /// same order, so both report the same result and the same error for any file.
    @inline(__always)
    func _firstLocation(_ key: UnsafeRawBufferPointer, hash: UInt32) throws(CDBError) -> Location? {
        let storage = self.storage
        let tableEntry = Int(hash & 255) &<< 3
        let slots = storage.uint32(at: tableEntry + 4)
        if slots == 0 { return nil }
        // The header check in `init` guarantees position >= 2048 and position + 8 * slots <= count.
        let tablePosition = Int(storage.uint32(at: tableEntry))
        let tableEnd = tablePosition &+ Int(slots) &<< 3
        var slotOffset = tablePosition &+ Int((hash &>> 8) % slots) &<< 3
        var remaining = slots
        let recordsEnd = self.recordsEnd
        let keyCount = key.count
        while true {
            let slotWord = storage.uint64(at: slotOffset)
            let recordPosition = Int(slotWord &>> 32)
            if recordPosition == 0 { return nil }
            if UInt32(truncatingIfNeeded: slotWord) == hash {
                if recordPosition < 2048 || recordPosition > recordsEnd &- 8 {
                    throw CDBError(
                        .recordPositionOutOfBounds(position: UInt32(recordPosition)), path: path,
                        offset: UInt64(slotOffset + 4))
                }
                let lengths = storage.uint64(at: recordPosition)
                let keyLength = Int(UInt32(truncatingIfNeeded: lengths))
                let dataLength = Int(lengths &>> 32)
                let keyStart = recordPosition &+ 8
                if keyStart &+ keyLength &+ dataLength > recordsEnd {
                    throw CDBError(
                        .recordOutOfBounds(
                            position: UInt64(recordPosition), keyLength: UInt32(keyLength),
                            dataLength: UInt32(dataLength)),
                        path: path, offset: UInt64(recordPosition))
                }
                if keyLength == keyCount && storage.bytesEqual(at: keyStart, key) {
                    return Location(offset: keyStart &+ keyLength, count: dataLength)
                }
            }
            remaining &-= 1
            if remaining == 0 {
                throw CDBError(
                    .tableFull(table: Int(hash & 255), slots: slots), path: path, offset: UInt64(tablePosition))
            }
            slotOffset &+= 8
            if slotOffset == tableEnd { slotOffset = tablePosition }
        }
    }

    /// The state of a lookup that can continue to the next record with the same key ("find next").
    ///
    /// Probing stops at an empty slot or after visiting every slot of the table once, so a damaged
    /// table can never make a lookup loop forever.
    public struct FindCursor: Sendable {
        let hash: UInt32
        let tablePosition: Int
        let slots: Int
        var slot: Int
        var visited: Int = 0
        var finished = false
        /// How many slots this lookup has read so far.
        public var probes: Int { visited }

        /// Starts a lookup of `key` in `cdb`.
        public init(key: UnsafeRawBufferPointer, in cdb: CDB) {
            let hash = CDBHash.hash(key)
            self.init(hash: hash, in: cdb)
        }

        /// Starts a lookup for a key whose cdb hash is `hash`.
        public init(hash: UInt32, in cdb: CDB) {
            self.hash = hash
            let table = Int(hash & 255)
            tablePosition = Int(cdb.storage.uint32(at: table * 8))
            let slots = cdb.storage.uint32(at: table * 8 + 4)
            self.slots = Int(slots)
            slot = slots == 0 ? 0 : Int((hash >> 8) % slots)
            finished = slots == 0
        }

        /// The next record with `key` (the same key the cursor was started with), or `nil`.
        public mutating func next(in cdb: CDB, key: UnsafeRawBufferPointer) throws(CDBError) -> Value? {
            let storage = cdb.storage
            while !finished {
                if visited == slots {
                    finished = true
                    throw CDBError(
                        .tableFull(table: Int(hash & 255), slots: UInt32(slots)), path: cdb.path,
                        offset: UInt64(tablePosition))
                }
                let slotOffset = tablePosition + slot * 8
                visited += 1
                slot += 1
                if slot == slots { slot = 0 }
                let slotHash = storage.uint32(at: slotOffset)
                let recordPosition = Int(storage.uint32(at: slotOffset + 4))
                if recordPosition == 0 {
                    finished = true
                    return nil
                }
                guard slotHash == hash else { continue }
                if recordPosition < 2048 || recordPosition > cdb.recordsEnd - 8 {
                    finished = true
                    throw CDBError(
                        .recordPositionOutOfBounds(position: UInt32(recordPosition)), path: cdb.path,
                        offset: UInt64(slotOffset + 4))
                }
                let keyLength = storage.uint32(at: recordPosition)
                let dataLength = storage.uint32(at: recordPosition + 4)
                let keyStart = recordPosition + 8
                if keyStart + Int(keyLength) + Int(dataLength) > cdb.recordsEnd {
                    finished = true
                    throw CDBError(
                        .recordOutOfBounds(
                            position: UInt64(recordPosition), keyLength: keyLength, dataLength: dataLength),
                        path: cdb.path, offset: UInt64(recordPosition))
                }
                if Int(keyLength) == key.count && storage.bytesEqual(at: keyStart, key) {
                    return Value(storage: storage, offset: keyStart + Int(keyLength), count: Int(dataLength))
                }
            }
            return nil
        }
    }
}

extension CDB {
    /// The data of the first record whose key is `key`, or `nil` if there is none.
    ///
    /// This is the lookup `tcpserver`, `qmail-smtpd` and `tcprulescheck` perform.
    /// - Throws: ``CDBError`` if the probe meets a damaged slot or record.
    /// - Complexity: O(probes); a well-formed table is at most half full, so ~1.5 slots on average.
    
    public func first(_ key: some Sequence<UInt8>) throws(CDBError) -> Value? {
        if let result = key.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(CDBError) -> Value? in try first(UnsafeRawBufferPointer(buffer)) }
        }) {
            return try result.get()
        }
        return try Array(key).withCDBBytes { (raw) throws(CDBError) -> Value? in try first(raw) }
    }

    /// The data of the first record whose key is the UTF-8 bytes of `key`.
    
    public func first(_ key: String) throws(CDBError) -> Value? {
        try key.withCDBBytes { (raw) throws(CDBError) -> Value? in try first(raw) }
    }

    /// Whether some record has key `key`.
    
    public func contains(_ key: String) throws(CDBError) -> Bool {
        try first(key) != nil
    }

    /// The data of the first record whose key is `key`, or `nil`.
    
    public func first(_ key: UnsafeRawBufferPointer) throws(CDBError) -> Value? {
        var cursor = FindCursor(key: key, in: self)
        return try cursor.next(in: self, key: key)
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
            slots = Int(cdb.storage.uint32(at: table * 8 + 4))
            slot = slots == 0 ? 0 : Int(hash >> 8) % slots
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
                    throw CDBError(
                        .recordPositionOutOfBounds(position: UInt32(recordPosition)), path: cdb.path,
                        offset: UInt64(slotOffset + 4))
                }
                let keyLength = storage.uint32(at: recordPosition)
                let dataLength = storage.uint32(at: recordPosition + 4)
                let keyStart = recordPosition + 8
                if keyStart + Int(keyLength) + Int(dataLength) > cdb.recordsEnd {
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

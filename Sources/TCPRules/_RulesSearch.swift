// The only file in TCPRules that builds keys in raw memory: tcpserver's lookup order, run in
// one stack buffer with incremental hashing, and the probers that look the keys up.

import CDB

extension RulesDatabase {
    // MARK: - The lookup order

    /// Offers `prober` each key tcpserver tries, in order, with its cdb hash, until it accepts one.
    ///
    /// Everything happens in one stack buffer: the IP (with the running hash after each byte, so
    /// the prefixes cost nothing to hash), the host, and the key being built.
    @inline(__always)
    static func search<Prober: _KeyProber>(_ client: RuleClient, colonPrefixes: Bool, _ prober: inout Prober)
        throws(Prober.Failure)
    {
        let ipCount = client.ip.utf8.count
        let hostCount = client.host?.utf8.count ?? 0
        let infoCount = client.info?.utf8.count ?? 0
        let hasHost = client.host != nil
        let keyCapacity = max(infoCount + 2 + max(ipCount, hostCount), 1 + hostCount)
        let hashOffset = (ipCount + hostCount + infoCount + keyCapacity + 3) & ~3
        let size = hashOffset + 4 * (ipCount + 1)
        try withUnsafeTemporaryAllocation(byteCount: size, alignment: 4) { (buffer) throws(Prober.Failure) in
            let base = buffer.baseAddress!
            let hashes = (base + hashOffset).bindMemory(to: UInt32.self, capacity: ipCount + 1)
            // The IP, with the running hash after each byte (so the prefixes cost nothing to hash).
            copyUTF8(client.ip, to: base)
            let ipKey = UnsafeRawBufferPointer(start: base, count: ipCount)
            var running: UInt32 = 5381
            hashes[0] = running
            for offset in 0..<ipCount {
                running = ((running &<< 5) &+ running) ^ UInt32(ipKey[offset])
                hashes[offset + 1] = running
            }
            // The host and the info.
            let hostBase = base + ipCount
            if let host = client.host { copyUTF8(host, to: hostBase) }
            let hostKey = UnsafeRawBufferPointer(start: hostBase, count: hostCount)
            let infoBase = hostBase + hostCount
            if let info = client.info { copyUTF8(info, to: infoBase) }
            let infoKey = UnsafeRawBufferPointer(start: infoBase, count: infoCount)
            // The key being built.
            let keyBase = infoBase + infoCount
            var length = 0
            var hash: UInt32 = 5381
            @inline(__always) func start() {
                length = 0
                hash = 5381
            }
            @inline(__always) func put(_ byte: UInt8) {
                keyBase.storeBytes(of: byte, toByteOffset: length, as: UInt8.self)
                hash = ((hash &<< 5) &+ hash) ^ UInt32(byte)
                length += 1
            }
            @inline(__always) func put(_ bytes: UnsafeRawBufferPointer) {
                for byte in bytes { put(byte) }
            }
            @inline(__always) func key() -> UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(start: keyBase, count: length)
            }

            // 1. info@ip, info@=host
            if client.info != nil {
                start()
                put(infoKey)
                put(Byte.at)
                put(ipKey)
                if try prober.probe(key(), hash: hash) { return }
                if hasHost {
                    start()
                    put(infoKey)
                    put(Byte.at)
                    put(Byte.equals)
                    put(hostKey)
                    if try prober.probe(key(), hash: hash) { return }
                }
            }
            // 2. ip
            if try prober.probe(ipKey, hash: running) { return }
            // 3. =host
            if hasHost {
                start()
                put(Byte.equals)
                put(hostKey)
                if try prober.probe(key(), hash: hash) { return }
            }
            // 4. prefixes ending in '.' (and ':'), longest first.
            var prefix = ipCount
            while prefix > 0 {
                let last = ipKey[prefix - 1]
                if last == Byte.dot || (colonPrefixes && last == Byte.colon) {
                    if try prober.probe(UnsafeRawBufferPointer(start: base, count: prefix), hash: hashes[prefix]) {
                        return
                    }
                }
                prefix -= 1
            }
            // 5. =.suffixes, longest first, then =
            if hasHost {
                for dot in 0..<hostCount where hostKey[dot] == Byte.dot {
                    start()
                    put(Byte.equals)
                    put(UnsafeRawBufferPointer(rebasing: hostKey[dot...]))
                    if try prober.probe(key(), hash: hash) { return }
                }
                start()
                put(Byte.equals)
                if try prober.probe(key(), hash: hash) { return }
            }
            // 6. the empty key
            start()
            _ = try prober.probe(key(), hash: hash)
        }
    }
}

/// Copies the UTF-8 bytes of `string` to `destination` (which has room for them).
@inline(__always)
private func copyUTF8(_ string: String, to destination: UnsafeMutableRawPointer) {
    let copied: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
        if let source = bytes.baseAddress { destination.copyMemory(from: source, byteCount: bytes.count) }
    }
    if copied == nil {
        var offset = 0
        for byte in string.utf8 {
            destination.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }
}

/// Receives the keys tcpserver tries, with their cdb hashes; returns true to stop at a key.
protocol _KeyProber {
    associatedtype Failure: Error
    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) throws(Failure) -> Bool
}

/// Looks keys up in the in-memory index.
struct _IndexProber: _KeyProber {
    let index: _RulesIndex
    var found: Int?

    init(index: _RulesIndex) { self.index = index }

    @inline(__always)
    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Bool {
        found = index.find(key, hash: hash)
        return found != nil
    }
}

/// Looks keys up in the cdb itself.
struct _CDBProber: _KeyProber {
    let cdb: CDB
    var found: CDB.Value?

    init(cdb: CDB) { self.cdb = cdb }

    @inline(__always)
    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) throws(CDBError) -> Bool {
        var cursor = CDB.FindCursor(hash: hash, in: cdb)
        found = try cursor.next(in: cdb, key: key)
        return found != nil
    }
}

/// Looks keys up (index or cdb), counting the keys tried, and keeps the hit. Every lookup is
/// counted (and, when it samples, timed) in `recorder`.
struct _RecordingProber: _KeyProber {
    let index: _RulesIndex?
    let cdb: CDB
    /// Keys looked up so far.
    var count = 0
    var hitKey: [UInt8]?
    var hitData: CDB.Value?
    /// The index entry of the hit, when the index was searched.
    var hitEntry: Int?
    var recorder = CDBLookupRecorder()

    /// Whether an index hit keeps its key and data too (a miss in the index keeps nothing).
    let keepsIndexHit: Bool

    init(index: _RulesIndex?, cdb: CDB, keepsIndexHit: Bool = true) {
        self.index = index
        self.cdb = cdb
        self.keepsIndexHit = keepsIndexHit
    }

    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) throws(CDBError) -> Bool {
        count += 1
        let value: CDB.Value?
        if let index {
            let start = recorder.begin()
            var probes = 0
            let found = index.find(key, hash: hash, probes: &probes)
            recorder.end(start, found: found != nil, probes: probes)
            if let found {
                hitEntry = found
                if !keepsIndexHit { return true }
            }
            value = found.map { index.value($0) }
        } else {
            value = try cdb.first(key, hash: hash, recording: &recorder)
        }
        guard let value else { return false }
        hitKey = Array(key)
        hitData = value
        return true
    }
}

/// Lists the first `limit` keys tcpserver tries (``RuleMatch/keysTried``, put into words late).
struct _KeyLister: _KeyProber {
    let limit: Int
    var keys: [String] = []

    init(limit: Int) { self.limit = limit }

    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Bool {
        keys.append(String(decoding: key, as: UTF8.self))
        return keys.count >= limit
    }
}

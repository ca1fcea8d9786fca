public import CDB

extension RulesDatabase {
    /// Looks the client up exactly as tcpserver does and explains the result.
    ///
    /// Keys are tried in this order, and the first one present wins (at most one rule applies):
    /// 1. `info@ip`, then `info@=host` (only when `info` is set; an empty info still builds `@ip`);
    /// 2. `ip`;
    /// 3. `=host` (when host is set);
    /// 4. the IP's prefixes ending in `.` (and `:` for IPv6 addresses), longest first: `1.2.3.`,
    ///    `1.2.`, `1.`;
    /// 5. the host's suffixes starting at each `.`, longest first: `=.mail.example.com`,
    ///    `=.example.com`, `=.com`; then `=` (all only when host is set);
    /// 6. the empty key.
    ///
    /// - Parameters:
    ///   - client: the client (its `ip` is used byte for byte).
    ///   - dialect: `nil` (the default) makes IP prefixes end at `.` and `:` — what ucspi-tcp-ipv6's
    ///     tcpserver does, and the same as stock for every IPv4 address. `.ucspiTCP` reproduces stock
    ///     `tcprulescheck` exactly, which ends prefixes only at `.` even for an IPv6 `TCPREMOTEIP`.
    /// - Throws: ``RulesError/unreadable(path:_:)`` for an unreadable database,
    ///   ``RulesError/cdb(_:)`` for a damaged one.
    public func match(_ client: RuleClient, dialect: RulesDialect? = nil) throws(RulesError) -> RuleMatch {
        var prober = _RecordingProber(index: index, cdb: try usableCDB(), recordKeys: true)
        do {
            try RulesDatabase.search(client, colonPrefixes: dialect?.colonEndsPrefixes ?? true, &prober)
        } catch {
            throw .cdb(error)
        }
        guard let hitKey = prober.hitKey, let hitData = prober.hitData else {
            return RuleMatch(key: nil, action: .allow, variables: [], line: nil, path: nil, keysTried: prober.tried)
        }
        var match = RulesDatabase.interpret(key: hitKey, data: hitData.bytes)
        match.keysTried = prober.tried
        match.path = path
        if let location = locations[hitKey], kind == .source || location.data == hitData.bytes {
            match.line = location.line
            match.path = source?.path ?? path
        }
        return match
    }

    /// The data of the rule tcpserver would apply (nil: no key matched), without building an
    /// explanation: the fast path for high-volume replay and benchmarks.
    public func lookup(_ client: RuleClient, dialect: RulesDialect? = nil) throws(RulesError) -> CDB.Value? {
        let colonPrefixes = dialect?.colonEndsPrefixes ?? true
        if let index {
            var prober = _IndexProber(index: index)
            RulesDatabase.search(client, colonPrefixes: colonPrefixes, &prober)
            return prober.found.map { index.value($0) }
        }
        let cdb = try usableCDB()
        do {
            var prober = _CDBProber(cdb: cdb)
            try RulesDatabase.search(client, colonPrefixes: colonPrefixes, &prober)
            return prober.found
        } catch {
            throw .cdb(error)
        }
    }

    /// Exactly what `tcprulescheck` prints on standard output for this client (with `TCPREMOTEIP`,
    /// `TCPREMOTEHOST` and `TCPREMOTEINFO` set to the client's ip, host and info).
    public func tcprulescheckOutput(for client: RuleClient, dialect: RulesDialect? = nil) throws(RulesError)
        -> [UInt8]
    {
        var prober = _RecordingProber(index: index, cdb: try usableCDB(), recordKeys: false)
        do {
            try RulesDatabase.search(client, colonPrefixes: dialect?.colonEndsPrefixes ?? true, &prober)
        } catch {
            throw .cdb(error)
        }
        return RulesDatabase.tcprulescheckOutput(key: prober.hitKey, data: prober.hitData?.bytes ?? [])
    }

    private func usableCDB() throws(RulesError) -> CDB {
        guard let cdb else { throw .unreadable(path: path, readFailure ?? .protocolError) }
        return cdb
    }

    // MARK: - Interpreting rule data

    /// tcprulescheck's report for a key (nil: `default:`) and its data: `rule KEY:`, then a
    /// `set environment variable NAME=value` line per `+` item, then `allow connection` — or
    /// `deny connection` as soon as an item starting with `D` comes. Items must end in NUL; a last
    /// item without one is ignored, as are items starting with anything else.
    public static func tcprulescheckOutput(key: [UInt8]?, data: [UInt8]) -> [UInt8] {
        guard let key else { return Array("default:\nallow connection\n".utf8) }
        var output = Array("rule ".utf8) + key + Array(":\n".utf8)
        for item in items(of: data) {
            switch item.first {
            case UInt8(ascii: "D"):
                output += Array("deny connection\n".utf8)
                return output
            case UInt8(ascii: "+"):
                output += Array("set environment variable ".utf8) + item.dropFirst() + [0x0A]
            default:
                break
            }
        }
        output += Array("allow connection\n".utf8)
        return output
    }

    /// The rule as tcpserver applies it: deny if any item starts with `D`; each `+NAME=value` item
    /// (split at the first `=`; items without `=` are ignored) is a variable.
    public static func interpret(key: [UInt8]?, data: [UInt8]) -> RuleMatch {
        var action = RuleAction.allow
        var variables: [RuleVariable] = []
        for item in items(of: data) {
            switch item.first {
            case UInt8(ascii: "D"):
                action = .deny
            case UInt8(ascii: "+"):
                let body = item.dropFirst()
                if let equals = body.firstIndex(of: Byte.equals) {
                    variables.append(
                        RuleVariable(
                            name: String(decoding: body[..<equals], as: UTF8.self),
                            value: String(decoding: body[(equals + 1)...], as: UTF8.self)))
                }
            default:
                break
            }
        }
        return RuleMatch(
            key: key.map { String(decoding: $0, as: UTF8.self) }, action: action, variables: variables)
    }

    /// The NUL-terminated items of rule data (a trailing item without NUL is dropped, as
    /// tcpserver and tcprulescheck drop it).
    static func items(of data: [UInt8]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        while let end = data[start...].firstIndex(of: 0) {
            result.append(data[start..<end])
            start = end + 1
        }
        return result
    }

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

/// Looks keys up (index or cdb), optionally recording each key tried, and keeps the hit.
struct _RecordingProber: _KeyProber {
    let index: _RulesIndex?
    let cdb: CDB
    let recordKeys: Bool
    var tried: [String] = []
    var hitKey: [UInt8]?
    var hitData: CDB.Value?

    init(index: _RulesIndex?, cdb: CDB, recordKeys: Bool) {
        self.index = index
        self.cdb = cdb
        self.recordKeys = recordKeys
    }

    mutating func probe(_ key: UnsafeRawBufferPointer, hash: UInt32) throws(CDBError) -> Bool {
        if recordKeys { tried.append(String(decoding: key, as: UTF8.self)) }
        let value: CDB.Value?
        if let index {
            value = index.find(key, hash: hash).map { index.value($0) }
        } else {
            var cursor = CDB.FindCursor(hash: hash, in: cdb)
            value = try cursor.next(in: cdb, key: key)
        }
        guard let value else { return false }
        hitKey = Array(key)
        hitData = value
        return true
    }
}

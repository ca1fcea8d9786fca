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
        let cdb = try usableCDB()
        var tried: [String] = []
        var hit: (key: [UInt8], data: [UInt8])?
        do {
            try RulesDatabase.search(client, colonPrefixes: dialect?.colonEndsPrefixes ?? true) {
                (key) throws(CDBError) -> Bool in
                tried.append(String(decoding: key, as: UTF8.self))
                guard let value = try cdb.first(key) else { return false }
                hit = (Array(key), value.bytes)
                return true
            }
        } catch {
            throw .cdb(error)
        }
        guard let hit else {
            return RuleMatch(key: nil, action: .allow, variables: [], line: nil, path: nil, keysTried: tried)
        }
        var match = RulesDatabase.interpret(key: hit.key, data: hit.data)
        match.keysTried = tried
        match.path = path
        if let location = locations[hit.key], kind == .source || location.data == hit.data {
            match.line = location.line
            match.path = source?.path ?? path
        }
        return match
    }

    /// The data of the rule tcpserver would apply (nil: no key matched), without building an
    /// explanation: the fast path for high-volume replay and benchmarks.
    public func lookup(_ client: RuleClient, dialect: RulesDialect? = nil) throws(RulesError) -> CDB.Value? {
        let cdb = try usableCDB()
        var found: CDB.Value?
        do {
            try RulesDatabase.search(client, colonPrefixes: dialect?.colonEndsPrefixes ?? true) {
                (key) throws(CDBError) -> Bool in
                found = try cdb.first(key)
                return found != nil
            }
        } catch {
            throw .cdb(error)
        }
        return found
    }

    /// Exactly what `tcprulescheck` prints on standard output for this client (with `TCPREMOTEIP`,
    /// `TCPREMOTEHOST` and `TCPREMOTEINFO` set to the client's ip, host and info).
    public func tcprulescheckOutput(for client: RuleClient, dialect: RulesDialect? = nil) throws(RulesError)
        -> [UInt8]
    {
        let cdb = try usableCDB()
        var hit: (key: [UInt8], data: [UInt8])?
        do {
            try RulesDatabase.search(client, colonPrefixes: dialect?.colonEndsPrefixes ?? true) {
                (key) throws(CDBError) -> Bool in
                guard let value = try cdb.first(key) else { return false }
                hit = (Array(key), value.bytes)
                return true
            }
        } catch {
            throw .cdb(error)
        }
        return RulesDatabase.tcprulescheckOutput(key: hit?.key, data: hit?.data ?? [])
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

    /// Calls `probe` with each key tcpserver tries, in order, until it returns true.
    static func search(
        _ client: RuleClient, colonPrefixes: Bool,
        _ probe: (UnsafeRawBufferPointer) throws(CDBError) -> Bool
    ) throws(CDBError) {
        var ip = client.ip
        var host = client.host
        var info = client.info
        let result: Result<Void, CDBError> = ip.withUTF8 { ipBytes in
            withOptionalUTF8(&host) { hostBytes in
                withOptionalUTF8(&info) { infoBytes in
                    Result { () throws(CDBError) in
                        try search(
                            ip: ipBytes, host: hostBytes, info: infoBytes, colonPrefixes: colonPrefixes, probe)
                    }
                }
            }
        }
        try result.get()
    }

    static func search(
        ip: UnsafeBufferPointer<UInt8>, host: UnsafeBufferPointer<UInt8>?, info: UnsafeBufferPointer<UInt8>?,
        colonPrefixes: Bool, _ probe: (UnsafeRawBufferPointer) throws(CDBError) -> Bool
    ) throws(CDBError) {
        let infoCount = info?.count ?? 0
        let hostCount = host?.count ?? 0
        let capacity = max(infoCount + 2 + max(ip.count, hostCount), 1 + hostCount, 1)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { scratch.deallocate() }
        var length = 0
        func put(_ bytes: UnsafeBufferPointer<UInt8>) {
            if bytes.count > 0 { (scratch.baseAddress! + length).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            length += bytes.count
        }
        func put(_ byte: UInt8) {
            scratch[length] = byte
            length += 1
        }
        func key() -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: scratch[0..<length]) }

        if let info {
            length = 0
            put(info)
            put(Byte.at)
            put(ip)
            if try probe(key()) { return }
            if let host {
                length = 0
                put(info)
                put(Byte.at)
                put(Byte.equals)
                put(host)
                if try probe(key()) { return }
            }
        }
        if try probe(UnsafeRawBufferPointer(ip)) { return }
        if let host {
            length = 0
            put(Byte.equals)
            put(host)
            if try probe(key()) { return }
        }
        var prefix = ip.count
        while prefix > 0 {
            let last = ip[prefix - 1]
            if last == Byte.dot || (colonPrefixes && last == Byte.colon) {
                if try probe(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: ip[0..<prefix]))) { return }
            }
            prefix -= 1
        }
        if let host {
            for index in 0..<host.count where host[index] == Byte.dot {
                length = 0
                put(Byte.equals)
                put(UnsafeBufferPointer(rebasing: host[index...]))
                if try probe(key()) { return }
            }
            length = 0
            put(Byte.equals)
            if try probe(key()) { return }
        }
        length = 0
        _ = try probe(key())
    }
}

/// Calls `body` with the UTF-8 bytes of `string`, or with nil.
private func withOptionalUTF8<R>(_ string: inout String?, _ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
    guard var value = string else { return body(nil) }
    let result = value.withUTF8 { body($0) }
    string = value
    return result
}

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
        var recorder = CDBLookupRecorder()
        return try match(client, dialect: dialect, recording: &recorder)
    }

    /// ``match(_:dialect:)``, recording every key lookup in `recorder`: one lookup per key tried,
    /// with the slots it read (in the in-memory index when ``isIndexed``, else in the cdb), timed
    /// when the recorder samples it.
    public func match(_ client: RuleClient, dialect: RulesDialect? = nil, recording recorder: inout CDBLookupRecorder)
        throws(RulesError) -> RuleMatch
    {
        var prober = _RecordingProber(index: index, cdb: try usableCDB(), keepsIndexHit: explained == nil)
        swap(&prober.recorder, &recorder)
        defer { swap(&prober.recorder, &recorder) }
        let colonPrefixes = dialect?.colonEndsPrefixes ?? true
        do {
            try RulesDatabase.search(client, colonPrefixes: colonPrefixes, &prober)
        } catch {
            throw .cdb(error)
        }
        // The keys tried are listed again only if someone asks.
        let tried = RuleMatch.Tried.search(client, colonPrefixes: colonPrefixes, count: prober.count)
        if let entry = prober.hitEntry, let explained {
            var match = explained[entry]
            match.tried = tried
            return match
        }
        guard let hitKey = prober.hitKey, let hitData = prober.hitData else {
            var match = RuleMatch(key: nil, action: .allow, variables: [], line: nil, path: nil)
            match.tried = tried
            return match
        }
        var match = explain(key: hitKey, data: hitData.bytes)
        match.tried = tried
        return match
    }

    /// The rule stored under `key` with `data`: interpreted, with its file and line.
    func explain(key: [UInt8], data: [UInt8]) -> RuleMatch {
        var match = RulesDatabase.interpret(key: key, data: data)
        match.path = path
        if let location = locations[key], kind == .source || location.data == data {
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
        var prober = _RecordingProber(index: index, cdb: try usableCDB())
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
}

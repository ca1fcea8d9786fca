import RelayEngine

/// Looks for a concrete open-relay demonstration by running the engine: clients are tried in a
/// fixed, seeded order until tcpserver lets one in the way the finding says (through a given rule,
/// or at all), then a short session asks qmail-smtpd to take a recipient in a domain the server
/// does not host. A proof is kept only when the engine's RCPT decision is `relay`.
struct AuditRelayProber {
    let configuration: RelayConfiguration
    /// The address and port clients connect to, and the server address's DNS name.
    let serverIP: String
    let serverPort: Int
    let serverName: String?

    /// Clients tried per finding (tcpserver's decision is cheap; only a matching client gets a session).
    static let attempts = 400
    /// Recipient domains tried, in order, until one is not hosted.
    static let domains = ["relay-probe.example", "elsewhere.example", "example.org", "relaylab-audit.invalid"]
    /// Senders tried, in order, until one is not in badmailfrom (the null sender never is).
    static let senders = ["probe@relay-probe.example", ""]

    /// The result of a search.
    enum Outcome {
        case proof(RelayProof)
        /// The engine relays, but through another grant than the one the finding is about (which
        /// masks it): the session, and that grant in words.
        case other(RelayProof, String)
        /// No proof: why, in words.
        case none(String)
    }

    // MARK: - Client candidates

    /// A client to try.
    struct Candidate {
        var ip: String
        var ptr: String?
        var info: String?
    }

    /// Addresses of the internet at large: documentation and well-known public ranges first, then
    /// seeded pseudo-random ones (the same on every run).
    static func internetAddresses() -> [String] {
        var list = [
            "198.51.100.77", "203.0.113.77", "192.0.2.77", "8.8.8.8", "1.1.1.1", "93.184.216.34", "45.33.32.156",
            "185.220.101.7", "100.64.7.7", "172.16.7.7", "10.99.7.7", "192.168.77.7",
        ]
        var state: UInt64 = 0x5EED_A0D1_7EE1
        while list.count < attempts {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let value = UInt32(truncatingIfNeeded: state >> 32)
            let first = Int(value >> 24)
            guard first != 0, first != 127, first < 224 else { continue }
            list.append("\(first).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)")
        }
        return list
    }

    static let probeNames = ["mail.relay-probe.example", "host.example.org", "smtp.elsewhere.example"]

    /// Clients likely to reach the rule with `key` (tcpserver's key syntax), most likely first.
    static func candidates(forRuleKey key: String) -> [Candidate] {
        let internet = internetAddresses()
        if key.isEmpty {
            return internet.map { Candidate(ip: $0) } + internet.prefix(20).flatMap { ip in probeNames.map { Candidate(ip: ip, ptr: $0) } }
        }
        if key == "=" {
            return internet.flatMap { ip in probeNames.map { Candidate(ip: ip, ptr: $0) } }
        }
        if key.hasPrefix("=") {
            let name = String(key.dropFirst())
            let ptr = name.hasPrefix(".") ? "relay-probe" + name : name
            return internet.map { Candidate(ip: $0, ptr: ptr) }
        }
        if let at = key.lastIndex(of: "@") {
            let info = String(key[..<at])
            let rest = String(key[key.index(after: at)...])
            if rest.hasPrefix("=") {
                return internet.map { Candidate(ip: $0, ptr: String(rest.dropFirst()), info: info) }
            }
            return addresses(matching: rest).map { Candidate(ip: $0, info: info) }
        }
        let ips = addresses(matching: key)
        return ips.map { Candidate(ip: $0) } + ips.prefix(20).flatMap { ip in probeNames.map { Candidate(ip: ip, ptr: $0) } }
    }

    /// Addresses an IP key (exact or prefix, IPv4 or IPv6) covers, a spread of them for a prefix.
    static func addresses(matching key: String) -> [String] {
        if key.contains(":") {
            guard key.hasSuffix(":") else { return [key] }
            return [key + ":77", key + "1::1", key + "77", key + "0:0:0:77", key + "a:b:c:d"]
        }
        guard key.hasSuffix(".") else { return [key] }
        let given = key.split(separator: ".").count
        let missing = 4 - given
        guard missing > 0 else { return [] }
        var result: [String] = []
        var seen: Set<String> = []
        var state: UInt64 = 0xA0D1_7000 &+ UInt64(key.utf8.count)
        let fixed: [[Int]] = [[77, 77, 77], [1, 1, 1], [254, 254, 254], [0, 0, 1], [10, 20, 30], [200, 100, 50]]
        for values in fixed {
            let text = key + values.suffix(missing).map(String.init).joined(separator: ".")
            if seen.insert(text).inserted { result.append(text) }
        }
        var tries = 0
        while result.count < attempts / 2, tries < attempts * 4 {
            tries += 1
            var octets: [Int] = []
            for _ in 0..<missing {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                octets.append(Int((state >> 33) & 255))
            }
            let text = key + octets.map(String.init).joined(separator: ".")
            if seen.insert(text).inserted { result.append(text) }
        }
        return result
    }

    /// Clients of every kind, for a proof that needs only "some client tcpserver lets in".
    static func anyClients() -> [Candidate] {
        let internet = internetAddresses()
        var list: [Candidate] = []
        for (index, ip) in internet.enumerated() {
            list.append(Candidate(ip: ip))
            if index < 40 { list.append(Candidate(ip: ip, ptr: probeNames[index % probeNames.count])) }
        }
        return list
    }

    // MARK: - Searching

    /// A client whose connection passes `accepts` and for which qmail-smtpd relays, with the
    /// session; or why there is none.
    ///
    /// - Parameters:
    ///   - candidates: clients to try, in order.
    ///   - accepts: whether tcpserver's handling of the connection is the one the finding is about.
    ///   - relayFact: whether the relay decision is the kind the finding is about (e.g. it names
    ///     RELAYCLIENT, or the missing rcpthosts).
    func search(
        _ candidates: [Candidate], accepts: (ConnectionDecision) -> Bool, relayFact: (Decision) -> Bool
    ) -> Outcome {
        var reached = 0
        var lastRefusal: String? = nil
        var masked: RelayProof? = nil
        for candidate in candidates.prefix(AuditRelayProber.attempts) {
            let connection = ClientConnection(
                clientIP: candidate.ip, clientPort: 40000, serverIP: serverIP, serverPort: serverPort, ptrName: candidate.ptr,
                identInfo: candidate.info, serverName: serverName)
            let probe = RelaySession(configuration: configuration, connection: connection)
            guard probe.connectionDecision.tcpserver.outcome != .deny, accepts(probe.connectionDecision) else { continue }
            reached += 1
            switch attempt(connection) {
            case .proof(let proof) where relayFact(proof.decision):
                return .proof(proof)
            case .proof(let proof):
                if masked == nil { masked = proof }
            case .other:
                break
            case .none(let why):
                lastRefusal = why
            }
            if reached >= 24 { break }
        }
        if let masked {
            let grant = masked.decision.reasons.filter {
                switch $0.kind {
                case .relayClient, .authenticated, .rcpthostsMissing: true
                default: false
                }
            }
            return .other(masked, grant.map(\.description).joined(separator: "; "))
        }
        if reached == 0 {
            return .none("no client tried reaches it (\(min(candidates.count, AuditRelayProber.attempts)) clients tried)")
        }
        return .none("no client the engine tried could relay: " + (lastRefusal ?? "every recipient was refused"))
    }

    /// Runs the demonstration session for one client: HELO, MAIL, RCPT to a domain not hosted,
    /// QUIT, trying other senders and domains when one is refused for an unrelated reason.
    func attempt(_ connection: ClientConnection) -> Outcome {
        var why = "every recipient was refused"
        senders: for sender in AuditRelayProber.senders {
            for domain in AuditRelayProber.domains {
                var session = RelaySession(configuration: configuration, connection: connection)
                var transcript: [RelayProof.Line] = []
                let greeting = session.start()
                transcript.append(RelayProof.Line(client: nil, reply: ByteText.replyLines(greeting)))
                let recipient = "relay-test@" + domain
                var decision: Decision? = nil
                for line in ["HELO relay-probe.example", "MAIL FROM:<\(sender)>", "RCPT TO:<\(recipient)>", "QUIT"] {
                    if session.isClosed { break }
                    let before = session.exchanges.count
                    let reply = session.receive(Array((line + "\r\n").utf8))
                    transcript.append(RelayProof.Line(client: line, reply: ByteText.replyLines(reply)))
                    if line.hasPrefix("RCPT") {
                        decision = session.exchanges[before...].last(where: { $0.decision != nil })?.decision
                    }
                }
                if !session.isClosed { session.clientClosed() }
                guard let decision else {
                    why = "the connection closed before RCPT (" + (transcript.last?.reply.first ?? "no reply") + ")"
                    return .none(why)
                }
                switch decision.outcome {
                case .relay:
                    let connectionDecision = session.connectionDecision
                    let reasons =
                        connectionDecision.tcpserver.reasons + (connectionDecision.blocklist?.reasons ?? [])
                    return .proof(
                        RelayProof(
                            clientIP: connection.clientIP, clientName: connection.ptrName, identInfo: connection.identInfo,
                            serverIP: connection.serverIP, serverPort: connection.serverPort, sender: sender, recipient: recipient,
                            transcript: transcript, decision: decision, connectionReasons: reasons))
                case .accept:
                    // The domain is hosted here: try the next one.
                    why = "\(domain) is hosted"
                    continue
                default:
                    why = "RCPT TO:<\(recipient)> gets \(decision.outcome.rawValue): "
                        + decision.reasons.map(\.text).joined(separator: "; ")
                    if decision.reasons.contains(where: { if case .badmailfrom = $0.kind { true } else { false } }) {
                        continue senders
                    }
                    return .none(why)
                }
            }
        }
        return .none(why)
    }
}

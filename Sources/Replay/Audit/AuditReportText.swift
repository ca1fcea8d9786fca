import RelayEngine

/// The reports of `relaylab audit`: human text and JSON.
extension AuditReport {
    /// The human report: a heading, every finding (most severe first) with its consequence, fix
    /// and proof, then the counts.
    ///
    ///     error: tcp.smtp:14: RELAYCLIENT is set for the empty key: … [relay-any-client]
    ///       consequence  the empty key is tried last for every connection …
    ///       fix          grant RELAYCLIENT only to your own networks …
    ///       proof        client 198.51.100.77 (no PTR) → 192.0.2.25:25, recipient <relay-test@relay-probe.example>: relayed
    ///                      S: 220 mx.example.net ESMTP
    ///                      C: HELO relay-probe.example
    ///                      …
    ///                    because rule "" matched: allow (tcp.smtp:14)
    ///
    ///     3 findings: 1 error, 1 warning, 1 info
    public func humanText(colour: Bool = false) -> String {
        func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        var out = paint("relaylab audit:", "1") + " \(subject)\n"
        for finding in findings {
            let label: String
            switch finding.severity {
            case .error: label = paint("error:", "31")
            case .warning: label = paint("warning:", "33")
            case .info: label = paint("info:", "36")
            }
            out += "\n\(label) \(finding.location): \(finding.message) [\(finding.code)]\n"
            if !finding.listeners.isEmpty { out += "  listeners    \(finding.listeners.joined(separator: ", "))\n" }
            out += "  consequence  \(finding.consequence)\n"
            out += "  fix          \(finding.fix)\n"
            if let proof = finding.proof {
                out += "  proof        client \(proof.clientDescription) → \(proof.serverIP):\(proof.serverPort), "
                out += "recipient <\(proof.recipient)>: " + paint("relayed", "31") + "\n"
                for line in proof.transcript {
                    if let client = line.client { out += "                 C: \(client)\n" }
                    if line.reply.isEmpty { out += "                 S: (no reply)\n" }
                    for reply in line.reply { out += "                 S: \(reply)\n" }
                }
                let facts = proof.connectionReasons.map(\.description)
                    + proof.decision.reasons.map(\.description).filter { !proof.connectionReasons.map(\.description).contains($0) }
                for (index, fact) in facts.enumerated() {
                    out += "               " + (index == 0 ? "because " : "        ") + paint(fact, "2") + "\n"
                }
            } else if let note = finding.proofNote {
                out += "  proof        none: \(note)\n"
            }
        }
        out += "\n" + countsLine + "\n"
        return out
    }

    /// `3 findings: 1 error, 1 warning, 1 info`, or `no findings`.
    public var countsLine: String {
        if findings.isEmpty { return "no findings" }
        let parts = AuditFinding.Severity.allCases.compactMap { severity -> String? in
            let count = count(severity)
            guard count > 0 else { return nil }
            let word = severity == .info ? "info" : severity.rawValue + (count == 1 ? "" : "s")
            return "\(count) \(word)"
        }
        return "\(findings.count) finding\(findings.count == 1 ? "" : "s"): " + parts.joined(separator: ", ")
    }

    /// The JSON report, one object (field names are a contract):
    ///
    ///     {"subject":"…","findings":[{"code":"relay-any-client","severity":"error","file":"tcp.smtp",
    ///       "line":14,"record":null,"message":"…","consequence":"…","fix":"…","listeners":[],
    ///       "proof":{"client":{"ip":"198.51.100.77","ptr":null,"ident":null},
    ///                "server":{"ip":"192.0.2.25","port":25},"sender":"…","recipient":"…",
    ///                "decision":"relay","reasons":[…],"connection_reasons":[…],
    ///                "transcript":[{"client":null,"reply":["220 …"]},{"client":"HELO …","reply":[…]},…]},
    ///       "proof_note":null}, …],
    ///      "counts":{"error":1,"warning":0,"info":0},"exit_status":1}
    public var jsonText: String {
        var out = "{\"subject\":" + ByteText.json(subject) + ",\"findings\":["
        for (offset, finding) in findings.enumerated() {
            if offset > 0 { out += "," }
            out += "{\"code\":" + ByteText.json(finding.code)
            out += ",\"severity\":" + ByteText.json(finding.severity.rawValue)
            out += ",\"file\":" + ByteText.json(finding.file)
            out += ",\"line\":" + (finding.line.map(String.init) ?? "null")
            out += ",\"record\":" + (finding.record.map(String.init) ?? "null")
            out += ",\"message\":" + ByteText.json(finding.message)
            out += ",\"consequence\":" + ByteText.json(finding.consequence)
            out += ",\"fix\":" + ByteText.json(finding.fix)
            out += ",\"listeners\":" + ByteText.json(finding.listeners)
            out += ",\"proof\":" + (finding.proof.map(AuditReport.json) ?? "null")
            out += ",\"proof_note\":" + ByteText.json(finding.proofNote) + "}"
        }
        out += "],\"counts\":{"
        out += AuditFinding.Severity.allCases.map { "\"\($0.rawValue)\":\(count($0))" }.joined(separator: ",")
        out += "},\"exit_status\":\(exitStatus)}\n"
        return out
    }

    static func json(_ proof: RelayProof) -> String {
        var out = "{\"client\":{\"ip\":" + ByteText.json(proof.clientIP)
        out += ",\"ptr\":" + ByteText.json(proof.clientName) + ",\"ident\":" + ByteText.json(proof.identInfo) + "}"
        out += ",\"server\":{\"ip\":" + ByteText.json(proof.serverIP) + ",\"port\":\(proof.serverPort)}"
        out += ",\"sender\":" + ByteText.json(proof.sender)
        out += ",\"recipient\":" + ByteText.json(proof.recipient)
        out += ",\"decision\":" + ByteText.json(proof.decision.outcome.rawValue)
        out += ",\"reasons\":" + ByteText.json(proof.decision.reasons.map(\.description))
        out += ",\"connection_reasons\":" + ByteText.json(proof.connectionReasons.map(\.description))
        out += ",\"transcript\":["
        out += proof.transcript.map { line in
            "{\"client\":" + ByteText.json(line.client) + ",\"reply\":" + ByteText.json(line.reply) + "}"
        }.joined(separator: ",")
        out += "]}"
        return out
    }
}

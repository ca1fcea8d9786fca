import CDB
import RelayEngine
import TCPRules
import TestSupport
import Testing

/// Builds configurations and runs sessions in several chunkings, checking they all agree.
enum Harness {
    /// The spec's setup: control/me = mx.example.net, rcpthosts = example.com + .sub.example.org.
    static let standardFiles: [String: String] = [
        "me": "mx.example.net\n",
        "rcpthosts": "example.com\n.sub.example.org\n",
    ]

    static func control(_ files: [String: String], cdb domains: [String]? = nil) -> QmailControl {
        var map: [String: ControlFile] = [:]
        for (name, text) in files { map[name] = .text(text) }
        if let domains { map["morercpthosts.cdb"] = .contents(makeCDB(domains.map { ($0, "") })) }
        return QmailControl(files: map)
    }

    static func control(bytes files: [String: [UInt8]]) -> QmailControl {
        QmailControl(files: files.mapValues { .contents($0) })
    }

    static func makeCDB(_ records: [(String, String)]) -> [UInt8] {
        let writer = CDBWriter()
        for (key, value) in records {
            try! Array(key.utf8).withUnsafeBytes { k in
                try Array(value.utf8).withUnsafeBytes { v in try writer.add(key: k, data: v) }
            }
        }
        return try! writer.finishInMemory()
    }

    static func configuration(
        _ files: [String: String] = standardFiles, cdb: [String]? = nil, variant: QmailVariant = .netqmail,
        auth: AuthOptions? = nil, ipme: [String] = [], environment: [String: String] = [:]
    ) -> RelayConfiguration {
        RelayConfiguration(
            control: control(files, cdb: cdb), variant: variant, auth: auth, ipme: ipme, environment: environment)
    }

    /// The environment tcpserver gives qmail-smtpd for the spec's client 192.0.2.9.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "PROTO": "TCP", "TCPLOCALIP": "192.0.2.25", "TCPLOCALPORT": "25", "TCPLOCALHOST": "mx.example.net",
            "TCPREMOTEIP": "192.0.2.9", "TCPREMOTEPORT": "40000",
        ]
        for (name, value) in extra { env[name] = value }
        return env
    }

    struct Run {
        var output: [UInt8]
        var session: RelaySession
        var text: String { String(decoding: output, as: UTF8.self) }
        /// The output without the greeting.
        var afterGreeting: String {
            let first = session.exchanges.first?.reply.count ?? 0
            return String(decoding: output[first...], as: UTF8.self)
        }
        var decisions: [Decision] { session.exchanges.compactMap(\.decision) }
    }

    /// Runs `input` through a fresh session whole, one byte at a time, line by line and in
    /// seeded random chunks; every run must give the same output, exchanges and envelopes.
    static func run(
        _ configuration: RelayConfiguration, environment: [String: String]? = nil,
        connection: ClientConnection? = nil, input: [UInt8], eof: Bool = true,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> Run {
        func fresh() -> RelaySession {
            if let connection { return RelaySession(configuration: configuration, connection: connection) }
            return RelaySession(configuration: configuration, childEnvironment: environment ?? Harness.environment())
        }
        func drive(_ chunks: [ArraySlice<UInt8>]) -> Run {
            var session = fresh()
            var output = session.start()
            for chunk in chunks { output += session.receive(chunk) }
            if eof { session.clientClosed() }
            return Run(output: output, session: session)
        }
        let whole = drive([input[...]])
        var chunkings: [[ArraySlice<UInt8>]] = []
        chunkings.append(input.indices.map { input[$0...$0] })
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (index, byte) in input.enumerated() where byte == 10 {
            lines.append(input[start...index])
            start = index + 1
        }
        if start < input.count { lines.append(input[start...]) }
        chunkings.append(lines)
        var random = SplitMix64(seed: UInt64(input.count) &* 0x9E37)
        for _ in 0..<3 {
            var chunks: [ArraySlice<UInt8>] = []
            var position = 0
            while position < input.count {
                let size = Int(random.next() % 7) + 1
                let end = min(input.count, position + size)
                chunks.append(input[position..<end])
                position = end
            }
            chunkings.append(chunks)
        }
        for chunks in chunkings {
            let other = drive(chunks)
            #expect(other.output == whole.output, "chunking changed the output", sourceLocation: sourceLocation)
            #expect(
                other.session.exchanges == whole.session.exchanges, "chunking changed the exchanges",
                sourceLocation: sourceLocation)
            #expect(other.session.envelopes == whole.session.envelopes, sourceLocation: sourceLocation)
            #expect(other.session.isClosed == whole.session.isClosed, sourceLocation: sourceLocation)
        }
        return whole
    }

    static func run(
        _ configuration: RelayConfiguration, environment: [String: String]? = nil,
        connection: ClientConnection? = nil, _ input: String, eof: Bool = true,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> Run {
        run(
            configuration, environment: environment, connection: connection, input: Array(input.utf8), eof: eof,
            sourceLocation: sourceLocation)
    }

    /// The reply to each command (greeting excluded), for `lines` each sent with CRLF.
    static func replies(
        _ configuration: RelayConfiguration, environment: [String: String]? = nil, _ lines: [String],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> [String] {
        let input = lines.map { $0 + "\r\n" }.joined()
        let run = run(configuration, environment: environment, input, sourceLocation: sourceLocation)
        return run.session.exchanges.dropFirst().map { String(decoding: $0.reply, as: UTF8.self) }
    }

    /// The reply (one line, without CRLF) to `line` after `setup` lines.
    static func reply(
        _ configuration: RelayConfiguration, environment: [String: String]? = nil, after setup: [String] = [],
        _ line: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> String {
        let all = replies(configuration, environment: environment, setup + [line], sourceLocation: sourceLocation)
        var last = all.last ?? ""
        if last.hasSuffix("\r\n") { last.removeLast() }  // "\r\n" is one Character
        return last
    }

    /// The stored recipients of the one queued message after MAIL, `rcpts` and DATA.
    static func stored(
        _ configuration: RelayConfiguration, environment: [String: String]? = nil, sender: String = "<a@b.example>",
        _ rcpts: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> (sender: String, recipients: [String])? {
        let lines = ["MAIL FROM:" + sender] + rcpts.map { "RCPT TO:" + $0 } + ["DATA", "Subject: t", "", "x", "."]
        let input = lines.map { $0 + "\r\n" }.joined()
        let run = run(configuration, environment: environment, input, sourceLocation: sourceLocation)
        guard let message = run.session.envelopes.first else { return nil }
        return (message.senderText, message.recipientTexts)
    }
}

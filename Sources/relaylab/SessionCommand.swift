import ArgumentParser
import Foundation
import RelayEngine
import TCPRules

extension RelayLab {
    /// `relaylab session`: a fake SMTP session from any client, like `exim -bh`.
    struct Session: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "session",
            abstract: "Answer a client's SMTP bytes (standard input) exactly as tcpserver → rblsmtpd → qmail-smtpd would.",
            discussion: """
                Reads what the client sends from standard input (typed interactively or piped in one go) and writes to standard output exactly the bytes the real chain would send back, stopping where the real chain would close the connection. With --explain, the chain of facts behind every decision goes to standard error. Nothing is sent anywhere: no DNS, no queue, no sleeping.

                Example:
                  printf 'HELO x\\r\\nMAIL FROM:<a@b>\\r\\nRCPT TO:<c@elsewhere.example>\\r\\nQUIT\\r\\n' | relaylab session --control /var/qmail/control --rules /etc/tcp.smtp.cdb --client-ip 203.0.113.9 --explain
                """)

        @Option(name: .long, help: ArgumentHelp("qmail's control directory (me, rcpthosts, morercpthosts.cdb, …).", valueName: "DIR"))
        var control: String

        @Option(name: .long, help: ArgumentHelp("tcpserver's -x rules: a cdb or tcprules source (default: no -x, everyone allowed).", valueName: "FILE"))
        var rules: String?

        @Option(name: .customLong("client-ip"), help: ArgumentHelp("The client's address (TCPREMOTEIP).", valueName: "IP"))
        var clientIP: String = "192.0.2.9"

        @Option(name: .customLong("client-port"), help: ArgumentHelp("The client's port.", valueName: "N"))
        var clientPort: Int = 40000

        @Option(name: .customLong("client-host"), help: ArgumentHelp("The client's reverse-DNS name as DNS gave it (tcpserver lower-cases and escapes it).", valueName: "NAME"))
        var clientHost: String?

        @Option(name: .customLong("client-info"), help: ArgumentHelp("The ident user name (TCPREMOTEINFO, with tcpserver's -r).", valueName: "USER"))
        var clientInfo: String?

        @Option(name: .customLong("server-ip"), help: ArgumentHelp("The address the client connected to (TCPLOCALIP).", valueName: "IP"))
        var serverIP: String = "192.0.2.25"

        @Option(name: .customLong("server-port"), help: ArgumentHelp("The port the client connected to.", valueName: "N"))
        var serverPort: Int = 25

        @Option(name: .customLong("env"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A variable in tcpserver's own environment (repeatable), e.g. RELAYCLIENT= or DATABYTES=1000.", valueName: "NAME=VALUE"))
        var environment: [String] = []

        @Flag(name: .long, help: "Run rblsmtpd between tcpserver and qmail-smtpd.")
        var rblsmtpd = false

        @Option(name: .customLong("rbl-fixture"), help: ArgumentHelp("DNS answers for rblsmtpd's -r/-a zones (lines: zone address TXT text | A | FAIL).", valueName: "FILE"))
        var rblFixture: String?

        @Option(name: .customLong("rblsmtpd-options"), parsing: .unconditional, help: ArgumentHelp("rblsmtpd's options, e.g. \"-b -r zen.example -t 30\".", valueName: "OPTIONS"))
        var rblsmtpdOptions: String?

        @Option(name: .customLong("tcpserver-options"), parsing: .unconditional, help: ArgumentHelp("tcpserver's options that matter: -h/-H, -p/-P, -r/-R, -l NAME, -X (default: -h -P -r).", valueName: "OPTIONS"))
        var tcpserverOptions: String?

        @Option(name: .long, help: ArgumentHelp("netqmail (netqmail-1.06), notqmail, or auth (netqmail with qmail-authentication 0.8.3).", valueName: "NAME"))
        var variant: String = "netqmail"

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("SMTPAUTH in tcpserver's environment (with --variant auth), e.g. '' or '!' or '+cram'.", valueName: "VALUE"))
        var smtpauth: String?

        @Option(name: .customLong("auth-users"), help: ArgumentHelp("The checkpassword's users, one user:password per line (with --variant auth; without it qmail-smtpd has no checkpassword program).", valueName: "FILE"))
        var authUsers: String?

        @Option(name: .long, help: ArgumentHelp("The server's own addresses, for domain literals (default: --server-ip and 127.0.0.1; 0.0.0.0 always counts).", valueName: "IP,..."))
        var ipme: String?

        @Option(name: .long, help: ArgumentHelp("The unix time at connect, for `250 ok <time> qp <n>` and Received lines.", valueName: "UNIXTIME"))
        var clock: Int64?

        @Flag(name: .long, help: "Write each decision's chain of facts to standard error.")
        var explain = false

        func validate() throws {
            do {
                try check()
            } catch let error as ValidationError {
                // Usage errors exit with 2, relaylab's status for usage/config/input errors.
                SessionIO.error("relaylab session: \(error.message)")
                throw ExitCode(2)
            }
        }

        func check() throws {
            if QmailVariant(name: variant) == nil && variant != "auth" {
                throw ValidationError("--variant must be netqmail, notqmail or auth (got \"\(variant)\")")
            }
            if variant != "auth" {
                if smtpauth != nil { throw ValidationError("--smtpauth needs --variant auth") }
                if authUsers != nil { throw ValidationError("--auth-users needs --variant auth") }
            }
            if !rblsmtpd && (rblFixture != nil || rblsmtpdOptions != nil) {
                throw ValidationError("--rbl-fixture and --rblsmtpd-options need --rblsmtpd")
            }
            for item in environment where !item.contains("=") || item.hasPrefix("=") {
                throw ValidationError("--env takes NAME=VALUE (got \"\(item)\")")
            }
            for address in [clientIP, serverIP] where TCPServer.formatIP(address) == nil {
                throw ValidationError("\"\(address)\" is not an IP address")
            }
            for address in ipmeList where RelayConfiguration.parseIPv4(address) == nil {
                throw ValidationError("--ipme: \"\(address)\" is not an IPv4 address")
            }
            for port in [clientPort, serverPort] where !(0...65535).contains(port) {
                throw ValidationError("port \(port) is out of range")
            }
        }

        var ipmeList: [String] {
            guard let ipme else { return [serverIP, "127.0.0.1"].filter { RelayConfiguration.parseIPv4($0) != nil } }
            return ipme.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func run() throws {
            let configuration: RelayConfiguration
            do {
                configuration = try makeConfiguration()
            } catch let error as CleanExit {
                throw error
            } catch {
                SessionIO.error("relaylab session: \(error)")
                throw ExitCode(2)
            }
            let connection = ClientConnection(
                clientIP: clientIP, clientPort: clientPort, serverIP: serverIP, serverPort: serverPort,
                ptrName: clientHost, identInfo: clientInfo)
            var session = RelaySession(configuration: configuration, connection: connection)
            for warning in session.warnings { SessionIO.error("relaylab: \(warning)") }
            var explained = 0
            if explain {
                SessionIO.explain(session.connectionDecision.tcpserver, stage: .tcpserver)
                if let blocklist = session.connectionDecision.blocklist { SessionIO.explain(blocklist, stage: .rblsmtpd) }
            }
            func emit(_ bytes: [UInt8]) {
                SessionIO.write(bytes)
                if explain {
                    while explained < session.exchanges.count {
                        SessionIO.explain(session.exchanges[explained])
                        explained += 1
                    }
                }
            }
            emit(session.start())
            while !session.isClosed {
                let chunk = SessionIO.read()
                if chunk.isEmpty {
                    session.clientClosed()
                    break
                }
                emit(session.receive(chunk))
            }
            if explain {
                SessionIO.error("[explain] connection closed: \(session.ending?.rawValue ?? "?")" + (session.exitStatus.map { " (exit status \($0))" } ?? ""))
            }
        }

        func makeConfiguration() throws -> RelayConfiguration {
            let control = try QmailControl.load(directory: self.control)
            var tcpserver = TCPServerOptions()
            if let tcpserverOptions { tcpserver = try Self.parseTCPServerOptions(tcpserverOptions) }
            var inherited: [String: String] = [:]
            for item in environment {
                let name = String(item[..<item.firstIndex(of: "=")!])
                inherited[name] = String(item[item.index(after: item.firstIndex(of: "=")!)...])
            }
            var auth: AuthOptions? = nil
            var qmailVariant = QmailVariant.netqmail
            if variant == "auth" {
                if let smtpauth { inherited["SMTPAUTH"] = smtpauth }
                if let authUsers {
                    let text = try String(contentsOfFile: authUsers, encoding: .utf8)
                    auth = AuthOptions(credentials: try AuthCredentials.parseUsers(text, path: authUsers))
                } else {
                    auth = AuthOptions(credentials: .rejectAll, hasCheckpassword: false)
                }
            } else {
                qmailVariant = QmailVariant(name: variant) ?? .netqmail
            }
            var rbl: RBLSMTPDOptions? = nil
            if rblsmtpd {
                var fixture = BlocklistFixture()
                if let rblFixture {
                    fixture = try BlocklistFixture.parse(try String(contentsOfFile: rblFixture, encoding: .utf8), path: rblFixture)
                }
                let arguments = (rblsmtpdOptions ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                rbl = try RBLSMTPDOptions(arguments: arguments, fixture: fixture)
            }
            var configuration = RelayConfiguration(
                control: control, variant: qmailVariant, auth: auth, rblsmtpd: rbl, ipme: ipmeList, environment: inherited,
                rules: try rules.map { try RulesDatabase.loadForTCPServer(path: $0) }, tcpserver: tcpserver)
            if let clock { configuration.clock = clock }
            return configuration
        }

        static func parseTCPServerOptions(_ text: String) throws -> TCPServerOptions {
            var options = TCPServerOptions()
            let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            var index = 0
            while index < words.count {
                let word = words[index]
                guard word.hasPrefix("-"), word.count > 1 else {
                    throw ValidationError("--tcpserver-options: unexpected \"\(word)\"")
                }
                var letters = Substring(word.dropFirst())
                while let letter = letters.first {
                    letters = letters.dropFirst()
                    switch letter {
                    case "h": options.lookupRemoteHost = true
                    case "H": options.lookupRemoteHost = false
                    case "p": options.paranoid = true
                    case "P": options.paranoid = false
                    case "r": options.lookupRemoteInfo = true
                    case "R": options.lookupRemoteInfo = false
                    case "X": options.allowMissingRules = true
                    case "l":
                        var name = String(letters)
                        letters = ""
                        if name.isEmpty {
                            index += 1
                            guard index < words.count else { throw ValidationError("--tcpserver-options: -l needs a name") }
                            name = words[index]
                        }
                        options.localHostName = name
                    case "v", "q", "Q", "d", "D", "o", "O", "U", "1":
                        break  // options without effect on what a client sees
                    default:
                        throw ValidationError("--tcpserver-options: -\(letter) is not a tcpserver option relaylab simulates")
                    }
                }
                index += 1
            }
            return options
        }
    }
}

/// Standard input/output for `relaylab session`.
enum SessionIO {
    static func read() -> [UInt8] {
        [UInt8](FileHandle.standardInput.availableData)
    }

    static func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        FileHandle.standardOutput.write(Data(bytes))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// One exchange's decision as lines on standard error (never the client's AUTH responses).
    static func explain(_ exchange: Exchange) {
        guard let decision = exchange.decision else { return }
        if exchange.stage == .tcpserver || (exchange.kind == .greeting && exchange.stage == .rblsmtpd) {
            // Already explained as the connection decision.
            if exchange.closedAfter { error("[explain] connection closed without a byte") }
            return
        }
        var suffix = ""
        if exchange.delay > 0 { suffix += " (after a \(Int(exchange.delay)) s pause)" }
        if exchange.closedAfter { suffix += ", connection closed" }
        explain(decision, stage: exchange.stage, suffix: suffix)
    }

    /// A decision and its facts.
    static func explain(_ decision: Decision, stage: Stage, suffix: String = "") {
        var head = "[explain] \(stage.rawValue): \(decision.subject.rawValue)"
        if let address = decision.address { head += " <\(address)>" }
        head += ": \(decision.outcome.rawValue)" + suffix
        error(head)
        for fact in decision.reasons { error("[explain]   \(fact)") }
    }
}

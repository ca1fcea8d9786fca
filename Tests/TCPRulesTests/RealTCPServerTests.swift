// The environment builder against the real tcpserver: a tcpserver on the loopback runs `env` for
// each connection, tcpclient connects and reads what the child printed, and relaylab's
// TCPServer.accept must predict exactly that environment (or the silent close of a deny).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TCPRules
import TestSupport
import Testing

@Suite("tcpserver environment against the real tcpserver", .serialized)
struct RealTCPServerTests {
    struct Server {
        var folder: String
        var tcpserver: String
        var tcpclient: String

        /// Starts tcpserver with `options` on `address` (a free random port), runs `body`, stops it.
        func with(
            _ options: [String], address: String, environment: [String: String],
            _ body: (_ port: Int) throws -> Void
        ) throws {
            var generator = SystemRandomNumberGenerator()
            for attempt in 0..<8 {
                let port = Int.random(in: 20000...60000, using: &generator)
                let server = try RealPrograms.start(
                    tcpserver, options + [address, String(port), "env"], log: "\(folder)/server\(attempt).log",
                    environment: environment)
                defer {
                    // SIGKILL: Foundation starts children with most signals blocked, SIGTERM included.
                    if server.isRunning { kill(server.processIdentifier, SIGKILL) }
                    server.waitUntilExit()
                }
                // Wait until it listens (or has exited because the port is taken).
                var ready = false
                for _ in 0..<50 {
                    if !server.isRunning { break }
                    if FileManager.default.contents(atPath: "\(folder)/server\(attempt).log")?.isEmpty == false {
                        ready = true
                        break
                    }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                // tcpserver -v prints "tcpserver: status: 0/40" once it listens.
                if ready && server.isRunning {
                    try body(port)
                    return
                }
            }
            Issue.record("could not start \(tcpserver)")
        }

        /// Connects and returns what the server's child printed (its environment), or nil for a
        /// connection closed without a byte.
        func connect(_ address: String, _ port: Int) throws -> [String: String]? {
            let log = "\(folder)/client-\(UUID().uuidString).out"
            let status = try RealPrograms.runLogged(
                tcpclient, ["-H", "-R", "-l0", address, String(port), "sh", "-c", "cat <&6"], log: log)
            #expect(status == 0, "tcpclient exited \(status)")
            let text = String(decoding: try TestSupport.read(log), as: UTF8.self)
            if text.isEmpty { return nil }
            var environment: [String: String] = [:]
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            return environment
        }
    }

    static let inherited = ["RELAYCLIENT": "inherited", "TCPREMOTEHOST": "stale", "TCPREMOTEINFO": "stale", "FOO": "bar"]

    func run(dialect: RulesDialect, tcpserver: String, tcpclient: String, address: String) throws {
        let folder = try TestSupport.temporaryDirectory("rules-tcpserver")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let loopback = IPAddress(address)!.tcpserverString
        let rules = """
            \(loopback):allow,TCPREMOTEIP="6.6.6.6",RELAYCLIENT="",X="1",X="2",="empty"
            9.9.9.9:deny

            """
        let rulesPath = folder + "/rules.cdb"
        try RulesSource(parsing: rules, path: "rules", dialect: dialect).compile(to: rulesPath)
        let server = Server(folder: folder, tcpserver: tcpserver, tcpclient: tcpclient)
        let options = TCPServerOptions(
            lookupRemoteHost: false, lookupRemoteInfo: false, localHostName: "lname", dialect: dialect)

        func predicted(_ port: Int, _ remotePort: String?, rules: RulesDatabase?, options: TCPServerOptions = options)
            throws -> TCPServerOutcome
        {
            let connection = TCPServerConnection(
                localIP: address, localPort: port, remoteIP: address, remotePort: Int(remotePort ?? "0") ?? 0)
            return try TCPServer.accept(
                connection, options: options, rules: rules, inheritedEnvironment: Self.inherited.merging(["PATH": "/usr/bin:/bin"]) { $1 })
        }

        // Allowed, with variables overriding TCPREMOTEIP, duplicates, an empty name.
        try server.with(["-v", "-H", "-R", "-l", "lname", "-x", rulesPath], address: address, environment: Self.inherited) { (port: Int) throws in
            let real = try #require(try server.connect(address, port))
            let ours = try predicted(port, real["TCPREMOTEPORT"], rules: try RulesDatabase.load(path: rulesPath))
            #expect(ours.allowed)
            #expect(ours.environment == real)
        }
        // Denied: closed without a byte.
        let denyPath = folder + "/deny.cdb"
        try RulesSource(parsing: "\(loopback):deny,X=\"y\"\n", path: "deny", dialect: dialect).compile(to: denyPath)
        try server.with(["-v", "-H", "-R", "-x", denyPath], address: address, environment: [:]) { (port: Int) throws in
            #expect(try server.connect(address, port) == nil)
            #expect(try predicted(port, nil, rules: try RulesDatabase.load(path: denyPath)).allowed == false)
        }
        // A missing rules file: dropped, or allowed with -X.
        let missing = folder + "/missing.cdb"
        try server.with(["-v", "-H", "-R", "-x", missing], address: address, environment: [:]) { (port: Int) throws in
            #expect(try server.connect(address, port) == nil)
            #expect(try predicted(port, nil, rules: try RulesDatabase.loadForTCPServer(path: missing)).allowed == false)
        }
        try server.with(["-v", "-H", "-R", "-l", "lname", "-X", "-x", missing], address: address, environment: Self.inherited) { (port: Int) throws in
            let real = try #require(try server.connect(address, port))
            var withX = options
            withX.allowMissingRules = true
            let ours = try predicted(port, real["TCPREMOTEPORT"], rules: .missing(path: missing), options: withX)
            #expect(ours.allowed)
            #expect(ours.environment == real)
        }
    }

    @Test(.enabled(if: TestSupport.has("tcpserver", "tcpclient"), "tcpserver/tcpclient (Debian ucspi-tcp) are not installed"))
    func stockTcpserverOverIPv4() throws {
        try run(
            dialect: .ucspiTCP, tcpserver: TestSupport.which("tcpserver")!, tcpclient: TestSupport.which("tcpclient")!,
            address: "127.0.0.1")
    }

    @Test(.enabled(
        if: TestSupport.which(RealPrograms.ipv6Folder + "/tcpserver") != nil,
        "ucspi-tcp-ipv6 is not unpacked at .tools/ucspi-tcp-ipv6 (scripts/test unpacks it)"))
    func ipv6TcpserverOverIPv4AndIPv6() throws {
        let server = RealPrograms.ipv6Folder + "/tcpserver"
        let client = RealPrograms.ipv6Folder + "/tcpclient"
        try run(dialect: .ucspiTCPIPv6, tcpserver: server, tcpclient: client, address: "127.0.0.1")
        try run(dialect: .ucspiTCPIPv6, tcpserver: server, tcpclient: client, address: "::1")
    }
}

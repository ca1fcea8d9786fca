import Capture
import RelayEngine
import TCPRules

/// tcpserver's decision for the clients a replaying thread has seen, so that a client's next
/// connections start right after tcpserver (``RelaySession/init(configuration:childEnvironment:)``)
/// instead of looking its rules up again: the environment tcpserver gives its child depends on
/// the client's address and PTR name and on the server's address, port and configuration — not
/// on the client's port, which is put in.
///
/// Only allowed connections take the shortcut (a deny needs tcpserver's own session). The replies
/// are the same either way; the explanations are shorter (they do not name the rule), so a
/// connection that turns out to differ is replayed again in full. One cache per thread.
final class _ReplayAcceptCache {
    private struct Key: Hashable {
        var server: Capture.Endpoint
        var clientIP: String
        var clientName: String?
    }

    private struct Entry {
        /// Nil when tcpserver denies the client (its connections take the full path).
        var environment: [String: String]?
        /// The client port tcpserver put in TCPREMOTEPORT (and TCP6REMOTEPORT), as text.
        var port: String
    }

    private var entries: [Key: Entry] = [:]
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The environment tcpserver gives `connection`'s child, or nil when it denies it (or cannot
    /// take it).
    func environment(for connection: ClientConnection, configuration: RelayConfiguration, server: Capture.Endpoint)
        -> [String: String]?
    {
        guard connection.ptrAddresses == nil, connection.identInfo == nil, connection.extraEnvironment.isEmpty else { return nil }
        let key = Key(server: server, clientIP: connection.clientIP, clientName: connection.ptrName)
        let port = String(connection.clientPort)
        if let entry = entries[key] {
            guard var environment = entry.environment else { return nil }
            guard entry.port != port else { return environment }
            for name in ["TCPREMOTEPORT", "TCP6REMOTEPORT"] where environment[name] == entry.port {
                environment[name] = port
            }
            return environment
        }
        let tcp = TCPServerConnection(
            localIP: connection.serverIP, localPort: connection.serverPort, remoteIP: connection.clientIP,
            remotePort: connection.clientPort, remotePTR: connection.ptrName, remotePTRAddresses: nil, remoteInfo: nil,
            localDNSName: connection.serverName)
        let outcome = try? TCPServer.accept(
            tcp, options: configuration.tcpserver, rules: configuration.rules, inheritedEnvironment: configuration.environment)
        let environment = outcome.flatMap { $0.allowed ? $0.environment : nil }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = Entry(environment: environment, port: port)
        return environment
    }
}

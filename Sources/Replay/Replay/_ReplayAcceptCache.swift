import CDB
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
/// and outcomes are the same either way; the explanations are not (they do not name the rule,
/// and the sessions do not explain their decisions: ``RelaySession/explainsDecisions``), so a
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
        /// A session set up with `environment` and not started, renewed for each connection
        /// (nil until asked for, and for configurations that differ per connection).
        var prototype: Prototype?
    }

    /// Boxed, so that looking an entry up does not copy the whole session.
    final class Prototype {
        let session: RelaySession
        init(_ session: RelaySession) { self.session = session }

        /// The session renewed for a connection, read in place (not copied out of the box first).
        func renewed(clientPort: String, clock: Int64, lookupTiming: CDBLookupRecorder.Sampling?) -> RelaySession {
            var renewed = session
            renewed.renew(clientPort: clientPort, clock: clock, lookupTiming: lookupTiming)
            return renewed
        }
    }

    private var entries: [Key: Entry] = [:]
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The environment tcpserver gives `connection`'s child, or nil when it denies it (or cannot
    /// take it). Rules lookups are recorded in `recorder`; `reused` tells whether a decision made
    /// before was reused.
    func environment(
        for connection: ClientConnection, configuration: RelayConfiguration, server: Capture.Endpoint,
        recording recorder: inout CDBLookupRecorder, reused: inout Bool
    ) -> [String: String]? {
        guard let (_, entry) = entry(for: connection, configuration: configuration, server: server, recording: &recorder, reused: &reused),
            var environment = entry.environment
        else { return nil }
        let port = String(connection.clientPort)
        guard entry.port != port else { return environment }
        for name in ["TCPREMOTEPORT", "TCP6REMOTEPORT"] where environment[name] == entry.port {
            environment[name] = port
        }
        return environment
    }

    /// A session for `connection` that starts right after tcpserver, at unix time `clock`, or nil
    /// when tcpserver denies the client (or cannot take it). The programs are set up once per
    /// client and the session is renewed for each connection (``RelaySession/renewed(clientPort:clock:lookupTiming:)``):
    /// only for a configuration that is the same for every connection (`configuration.auth` is
    /// nil: with AUTH the recorded outcomes are each connection's own).
    func session(
        for connection: ClientConnection, configuration: RelayConfiguration, server: Capture.Endpoint, clock: Int64,
        lookupTiming: CDBLookupRecorder.Sampling?, recording recorder: inout CDBLookupRecorder, reused: inout Bool
    ) -> RelaySession? {
        precondition(configuration.auth == nil, "with AUTH each connection has its own configuration")
        guard let (key, entry) = entry(for: connection, configuration: configuration, server: server, recording: &recorder, reused: &reused),
            let environment = entry.environment
        else { return nil }
        let prototype: Prototype
        if let existing = entry.prototype {
            prototype = existing
        } else {
            var session = RelaySession(configuration: configuration, childEnvironment: environment)
            session.explainsDecisions = false
            prototype = Prototype(session)
            entries[key]?.prototype = prototype
        }
        return prototype.renewed(clientPort: String(connection.clientPort), clock: clock, lookupTiming: lookupTiming)
    }

    /// The client's entry: tcpserver's decision, made now or reused.
    private func entry(
        for connection: ClientConnection, configuration: RelayConfiguration, server: Capture.Endpoint,
        recording recorder: inout CDBLookupRecorder, reused: inout Bool
    ) -> (Key, Entry)? {
        guard connection.ptrAddresses == nil, connection.identInfo == nil, connection.extraEnvironment.isEmpty else { return nil }
        let key = Key(server: server, clientIP: connection.clientIP, clientName: connection.ptrName)
        if let entry = entries[key] {
            if entry.environment != nil { reused = true }
            return (key, entry)
        }
        let tcp = TCPServerConnection(
            localIP: connection.serverIP, localPort: connection.serverPort, remoteIP: connection.clientIP,
            remotePort: connection.clientPort, remotePTR: connection.ptrName, remotePTRAddresses: nil, remoteInfo: nil,
            localDNSName: connection.serverName)
        let outcome = try? TCPServer.accept(
            tcp, options: configuration.tcpserver, rules: configuration.rules, inheritedEnvironment: configuration.environment,
            recording: &recorder)
        let environment = outcome.flatMap { $0.allowed ? $0.environment : nil }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        let entry = Entry(environment: environment, port: String(connection.clientPort))
        entries[key] = entry
        return (key, entry)
    }
}

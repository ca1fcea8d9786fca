import Foundation
import RelayEngine
import TCPRules
import TestSupport

/// The real captures in captures/ (qmail-relay, qmail-auth): their configurations and records.
enum CaptureFixtures {
    struct Service {
        var port: Int
        var rblsmtpd: Bool
        var environment: [String: String]
        var options: TCPServerOptions
        var auth: Bool
    }

    struct Folder {
        var path: String
        var control: QmailControl
        var rules: RulesDatabase
        var services: [Service]

        func service(port: Int) -> Service { services.first { $0.port == port }! }

        /// The configuration of the listener on `port`, with AUTH outcomes as given.
        func configuration(port: Int, credentials: AuthCredentials) -> RelayConfiguration {
            let service = service(port: port)
            return RelayConfiguration(
                control: control,
                auth: service.auth ? AuthOptions(credentials: credentials) : nil,
                rblsmtpd: service.rblsmtpd ? RBLSMTPDOptions() : nil,
                environment: service.environment,
                rules: rules,
                tcpserver: service.options)
        }
    }

    static func folder(_ name: String) throws -> Folder {
        let path = TestSupport.fixture("captures/" + name)
        let control = try QmailControl.load(directory: path + "/control")
        let rules = try RulesDatabase.load(path: path + "/tcp.smtp.cdb")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/services.json")))
        var services: [Service] = []
        for case let entry as [String: Any] in json as? [Any] ?? [] {
            let arguments = entry["tcpserver_options"] as? [String] ?? []
            var options = TCPServerOptions()
            var index = 0
            while index < arguments.count {
                switch arguments[index] {
                case "-R": options.lookupRemoteInfo = false
                case "-r": options.lookupRemoteInfo = true
                case "-H": options.lookupRemoteHost = false
                case "-h": options.lookupRemoteHost = true
                case "-p": options.paranoid = true
                case "-X": options.allowMissingRules = true
                case "-l":
                    index += 1
                    options.localHostName = arguments[index]
                case "-c", "-b", "-t", "-T", "-u", "-g", "-B":
                    index += 1
                default: break
                }
                index += 1
            }
            services.append(
                Service(
                    port: entry["port"] as? Int ?? 25, rblsmtpd: entry["rblsmtpd"] as? Bool ?? false,
                    environment: entry["env"] as? [String: String] ?? [:], options: options,
                    auth: (entry["smtpd"] as? String ?? "").contains("qmail-authentication")))
        }
        return Folder(path: path, control: control, rules: rules, services: services)
    }

    /// One recorded connection.
    struct Record {
        var id: Int
        var label: String
        var clientIP: String
        var clientPort: Int
        var serverIP: String
        var serverPort: Int
        var ptr: String?
        var steps: [[String: Any]]
        var server: [String: Any]

        var connection: ClientConnection {
            ClientConnection(clientIP: clientIP, clientPort: clientPort, serverIP: serverIP, serverPort: serverPort, ptrName: ptr)
        }

        /// The AUTH outcomes the records show (235 success, 535 failure), in order.
        var authOutcomes: [Bool] {
            steps.compactMap { step in
                let reply = (step["reply"] as? [String])?.first ?? ""
                if reply.hasPrefix("235") { return true }
                if reply.hasPrefix("535") { return false }
                return nil
            }
        }
    }

    static func records(_ relativePath: String) throws -> [Record] {
        let text = try String(contentsOfFile: TestSupport.fixture("captures/" + relativePath), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return Record(
                id: object["id"] as! Int, label: object["label"] as! String, clientIP: object["client_ip"] as! String,
                clientPort: object["client_port"] as! Int, serverIP: object["server_ip"] as! String,
                serverPort: object["server_port"] as! Int, ptr: object["ptr"] as? String,
                steps: object["steps"] as! [[String: Any]], server: object["server"] as! [String: Any])
        }
    }

    /// A message body with `lines` lines and `bytes` bytes on the wire (line ends included),
    /// CRLF or bare LF: a header, an empty line, then filler lines.
    static func body(lines: Int, bytes: Int, lineEnd: [UInt8]) -> [UInt8] {
        let content = bytes - lines * lineEnd.count
        var lengths = [15, 0]
        let rest = content - 15
        let fillers = lines - 2
        for index in 0..<fillers { lengths.append(rest / fillers + (index < rest % fillers ? 1 : 0)) }
        var out: [UInt8] = []
        for (index, length) in lengths.enumerated() {
            if index == 0 {
                out += Array("Subject: replay".utf8)
            } else {
                out += [UInt8](repeating: UInt8(ascii: "x"), count: length)
            }
            out += lineEnd
        }
        return out
    }

    /// Replaces the numbers of `250 ok <time> qp <n>` and the date of a Received line.
    static func normalize(_ text: String) -> String {
        text.replacingOccurrences(of: #"250 ok [0-9]+ qp [0-9]+"#, with: "250 ok TIME qp QP", options: .regularExpression)
            .replacingOccurrences(
                of: #"; [0-9]+ [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} -0000"#, with: "; DATE", options: .regularExpression)
    }
}

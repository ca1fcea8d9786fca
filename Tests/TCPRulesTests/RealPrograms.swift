// Runs the real tcprules / tcprulescheck in batches: one shell process compiles hundreds of files
// or answers thousands of queries, so the differential tests stay fast.

import Foundation
import TCPRules
import TestSupport

enum RealPrograms {
    /// Where scripts/lib.sh's `unpack_ucspi_ipv6` puts Debian's ucspi-tcp-ipv6 programs.
    static let ipv6Folder = TestSupport.packageRoot + "/.tools/ucspi-tcp-ipv6/usr/bin"

    static var stockRules: String? { TestSupport.which("tcprules") }
    static var stockCheck: String? { TestSupport.which("tcprulescheck") }
    static var ipv6Rules: String? { TestSupport.which(ipv6Folder + "/tcprules") }
    static var ipv6Check: String? { TestSupport.which(ipv6Folder + "/tcprulescheck") }

    static var hasStock: Bool { stockRules != nil && stockCheck != nil && TestSupport.has("sh") }
    static var hasIPv6: Bool { ipv6Rules != nil && ipv6Check != nil && TestSupport.has("sh", "timeout") }

    /// The exit status of a run `timeout -s KILL` stopped.
    static let timedOut: Int32 = 137

    static func tcprules(_ dialect: RulesDialect) -> String? {
        dialect == .ucspiTCP ? stockRules : ipv6Rules
    }

    static func tcprulescheck(_ dialect: RulesDialect) -> String? {
        dialect == .ucspiTCP ? stockCheck : ipv6Check
    }

    /// What the real tcprules did with one file.
    struct Compiled {
        var status: Int32
        var stderr: [UInt8]
        /// The cdb, when it succeeded.
        var cdb: [UInt8]?
        /// Where the cdb was written (for tcprulescheck).
        var cdbPath: String
    }

    /// Runs `sh script` with its output going to files, not pipes (reading pipes while many
    /// children come and go can fail with EINTR inside Foundation).
    static func runScript(_ script: String) throws {
        let status = try runLogged(TestSupport.which("sh") ?? "/bin/sh", [script], log: script + ".log")
        if status != 0 {
            let text = (try? String(contentsOfFile: script + ".log", encoding: .utf8)) ?? ""
            throw ScriptFailure(description: "\(script) exited \(status): \(text)")
        }
    }

    /// Starts a program with only PATH (plus `environment`) set, both output streams going to `log`.
    static func start(_ program: String, _ arguments: [String], log: String, environment: [String: String] = [:])
        throws -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Runs a program like ``start(_:_:log:environment:)`` and waits; returns its exit status.
    @discardableResult
    static func runLogged(_ program: String, _ arguments: [String], log: String) throws -> Int32 {
        let process = try start(program, arguments, log: log)
        process.waitUntilExit()
        return process.terminationStatus
    }

    struct ScriptFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Compiles each file with `tcprules` in one shell process (each run limited to `timeout`
    /// seconds; a run that times out is killed and has status 137, as ucspi-tcp-ipv6's tcprules
    /// loops forever on some lines).
    static func compile(_ files: [[UInt8]], with tcprules: String, in folder: String, timeout: Double? = nil)
        throws -> [Compiled]
    {
        var script = "cd \(shellQuote(folder))\n"
        // SIGKILL: children of Foundation's Process start with SIGTERM blocked.
        let limit = timeout.map { "timeout -s KILL \($0) " } ?? ""
        for index in files.indices {
            try TestSupport.write(files[index], to: "\(folder)/f\(index).rules")
            script +=
                "\(limit)\(shellQuote(tcprules)) f\(index).cdb f\(index).tmp < f\(index).rules 2> f\(index).err; echo $? > f\(index).rc\n"
        }
        try TestSupport.write(script, to: "\(folder)/compile.sh")
        try runScript("\(folder)/compile.sh")
        return try files.indices.map { index in
            let status = Int32(String(decoding: try TestSupport.read("\(folder)/f\(index).rc"), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            let cdbPath = "\(folder)/f\(index).cdb"
            let cdb = FileManager.default.fileExists(atPath: cdbPath) ? try TestSupport.read(cdbPath) : nil
            return Compiled(
                status: status, stderr: try TestSupport.read("\(folder)/f\(index).err"), cdb: cdb, cdbPath: cdbPath)
        }
    }

    /// What tcprulescheck printed (stdout and stderr together) and its exit status.
    struct Checked {
        var status: Int32
        var output: [UInt8]
    }

    /// Runs `tcprulescheck cdb` for each query in one shell process, with exactly the environment
    /// tcprulescheck reads: TCPREMOTEIP, and TCPREMOTEHOST / TCPREMOTEINFO only when set.
    static func check(_ queries: [(cdbPath: String, client: RuleClient?)], with tcprulescheck: String, in folder: String)
        throws -> [Checked]
    {
        var script = "cd \(shellQuote(folder))\n"
        for (index, query) in queries.enumerated() {
            // The script runs with only PATH set, so these are the only TCP variables tcprulescheck sees.
            var environment = ""
            if let client = query.client {
                environment += "TCPREMOTEIP=" + shellQuote(client.ip)
                if let host = client.host { environment += " TCPREMOTEHOST=" + shellQuote(host) }
                if let info = client.info { environment += " TCPREMOTEINFO=" + shellQuote(info) }
            }
            script +=
                "\(environment) \(shellQuote(tcprulescheck)) \(shellQuote(query.cdbPath)) > q\(index).out 2>&1; echo $? > q\(index).rc\n"
        }
        try TestSupport.write(script, to: "\(folder)/check.sh")
        try runScript("\(folder)/check.sh")
        return try queries.indices.map { index in
            let status = Int32(String(decoding: try TestSupport.read("\(folder)/q\(index).rc"), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            return Checked(status: status, output: try TestSupport.read("\(folder)/q\(index).out"))
        }
    }
}

extension Array where Element == UInt8 {
    /// The bytes as text with control characters visible, for failure messages.
    var visible: String {
        String(decoding: self, as: UTF8.self).replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\0", with: "\\0")
    }
}

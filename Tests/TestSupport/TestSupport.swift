// Helpers shared by every test target: fixture paths, external programs, temporary folders and
// a seeded random number generator. Differential tests use `ExternalTool` and skip (visibly, with
// the reason) when the real program is not installed.

import Foundation

public enum TestSupport {
    /// The package's root folder (the one holding Package.swift).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// A path below the package root, e.g. `fixture("captures/qmail-relay/relay.pcap")`.
    public static func fixture(_ relativePath: String) -> String {
        packageRoot + "/" + relativePath
    }

    /// The full path of `program` on PATH (or in the usual system folders), or nil.
    public static func which(_ program: String) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? program : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
        for folder in folders {
            let candidate = folder + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether every one of `programs` can be found.
    public static func has(_ programs: String...) -> Bool {
        programs.allSatisfy { which($0) != nil }
    }

    /// The outcome of running a program.
    public struct ProcessResult: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `program` with `arguments`, feeding `input` on stdin, and waits for it.
    ///
    /// Standard input, output and error go through temporary files rather than pipes: no reader
    /// threads, no deadlock on large outputs, and no EINTR trouble while other tests spawn processes.
    @discardableResult
    public static func run(
        _ program: String, _ arguments: [String] = [], input: [UInt8] = [],
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> ProcessResult {
        let folder = try temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let inPath = folder + "/stdin", outPath = folder + "/stdout", errPath = folder + "/stderr"
        try write(input, to: inPath)
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let stdinHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? stdinHandle.close()
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which(program) ?? program)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardInput = stdinHandle
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        try process.run()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, stdout: try read(outPath), stderr: try read(errPath))
    }

    /// A new empty temporary folder, unique to this call.
    public static func temporaryDirectory(_ label: String = "test") throws -> String {
        let path = NSTemporaryDirectory() + "relaylab-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes a whole file.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Writes a whole text file.
    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// The built `relaylab` executable (from `swift build`), for end-to-end tests.
    public static var relaylabBinary: String? {
        let candidates = [".build/debug/relaylab", ".build/release/relaylab"].map { packageRoot + "/" + $0 }
        let env = ProcessInfo.processInfo.environment["RELAYLAB_BINARY"]
        return ([env].compactMap { $0 } + candidates).first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A small, fast, seedable random number generator (SplitMix64) so random tests are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

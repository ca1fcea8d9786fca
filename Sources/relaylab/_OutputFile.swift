// Every file relaylab writes besides cdb files (which CDBWriter writes the same way): JUnit
// reports, extracted scenario files, key lists. Written under a temporary name in the target's
// folder and renamed over the target when complete, so a reader sees the old file or the new
// one, never a part; never over or into a file or folder the run reads (a control directory, a
// rules file, a capture), and never over an existing file of another kind.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an output file was not written (one line).
struct OutputFileError: Error, CustomStringConvertible {
    let path: String
    let message: String

    var description: String { "\(path): \(message)" }
}

/// A file being written: bytes go to a temporary file; ``commit()`` renames it into place.
final class OutputFile {
    /// What the file is, which decides what existing file it may replace.
    enum Kind {
        /// A JUnit XML report: may replace another XML file only.
        case junitReport
        /// A scenario written by `relaylab extract`: may replace only an earlier one.
        case extractedScenario
        /// A list written on request (`--write-keys`): may replace any file that is not an input.
        case list
        /// The HTML report (`--html`): may replace another HTML page only.
        case htmlReport

        var name: String {
            switch self {
            case .junitReport: "the JUnit report"
            case .extractedScenario: "the scenario file"
            case .list: "the file"
            case .htmlReport: "the HTML report"
            }
        }

        /// Whether an existing file starting with `prefix` may be replaced.
        func mayReplace(_ prefix: [UInt8]) -> Bool {
            switch self {
            case .junitReport: prefix.starts(with: Array("<?xml".utf8))
            case .extractedScenario: prefix.starts(with: Array("# Extracted by relaylab extract".utf8))
            case .list: true
            case .htmlReport: prefix.starts(with: Array("<!DOCTYPE html".utf8))
            }
        }
    }

    let path: String
    private let temporary: String
    private var descriptor: Int32
    private var done = false

    /// Checks `path` and opens a temporary file next to it.
    ///
    /// - Parameter inputs: files and folders this run reads; `path` must be none of them and in
    ///   none of the folders.
    init(path: String, kind: Kind, inputs: [String]) throws(OutputFileError) {
        try OutputFile.check(path, kind: kind, inputs: inputs)
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        temporary = (folder.isEmpty ? "" : folder + "/") + ".\(base).tmp\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            throw OutputFileError(path: path, message: "cannot create a temporary file next to it: \(String(cString: strerror(errno)))")
        }
    }

    deinit { discard() }

    /// Appends bytes.
    func write(_ bytes: [UInt8]) throws(OutputFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc_write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                discard()
                throw OutputFileError(path: path, message: "cannot write: \(message)")
            }
            offset += written
        }
    }

    /// Renames the complete file over the target.
    func commit() throws(OutputFileError) {
        guard !done else { return }
        done = true
        if fsync(descriptor) != 0 || close(descriptor) != 0 {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw OutputFileError(path: path, message: "cannot write: \(message)")
        }
        if rename(temporary, path) != 0 {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw OutputFileError(path: path, message: "cannot rename the temporary file into place: \(message)")
        }
    }

    /// Drops the temporary file (the target is left as it was).
    func discard() {
        guard !done else { return }
        done = true
        close(descriptor)
        unlink(temporary)
    }

    /// Writes `bytes` to `path` (see ``init(path:kind:inputs:)``).
    static func write(_ bytes: [UInt8], to path: String, kind: Kind, inputs: [String]) throws(OutputFileError) {
        let file = try OutputFile(path: path, kind: kind, inputs: inputs)
        try file.write(bytes)
        try file.commit()
    }

    /// Refuses a target that is an input, lies in an input folder, or is an existing file of
    /// another kind.
    static func check(_ path: String, kind: Kind, inputs: [String]) throws(OutputFileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw OutputFileError(path: path, message: "is a directory") }
        }
        try checkNotInput(path, what: kind.name, inputs: inputs)
        if let handle = FileHandle(forReadingAtPath: path) {
            let prefix = [UInt8]((try? handle.read(upToCount: 64)) ?? Data())
            try? handle.close()
            if !kind.mayReplace(prefix) {
                throw OutputFileError(path: path, message: "refusing to replace an existing file that is not \(kind.name) relaylab writes")
            }
        }
    }

    /// Refuses a target (`what`: "the cdb", …) that is one of `inputs` or lies in an input folder.
    static func checkNotInput(_ path: String, what: String, inputs: [String]) throws(OutputFileError) {
        let target = canonical(path)
        for input in inputs where input != "-" {
            let source = canonical(input)
            var inputIsDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: input, isDirectory: &inputIsDirectory)
            if target == source || sameFile(path, input) {
                throw OutputFileError(path: path, message: "refusing to write \(what) over \(input), which this run reads")
            }
            if exists, inputIsDirectory.boolValue, target.hasPrefix(source == "/" ? "/" : source + "/") {
                throw OutputFileError(path: path, message: "refusing to write \(what) into \(input), a folder this run reads")
            }
        }
    }

    /// The absolute path with `.`, `..` and symbolic links of its folder resolved.
    static func canonical(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL
        let folder = absolute.deletingLastPathComponent().resolvingSymlinksInPath()
        return folder.appendingPathComponent(absolute.lastPathComponent).standardizedFileURL.path
    }

    /// Whether two existing paths are the same file (hard links included).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat()
        var second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    @inline(__always)
    private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Darwin)
        return Darwin.write(fd, buffer, count)
        #elseif canImport(Musl)
        return Musl.write(fd, buffer, count)
        #else
        return Glibc.write(fd, buffer, count)
        #endif
    }
}

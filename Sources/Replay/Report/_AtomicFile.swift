// Writing a report file atomically: a temporary file next to it, written in full and synced,
// then renamed over it. Readers see the old file or the new one, never a part of one; on any
// failure the temporary file is removed and the old file is left as it was. The only file of
// the report writers that makes system calls.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A report file that could not be written.
public struct ReportFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var path: String
    /// What failed, e.g. `cannot create a temporary file in /reports: Permission denied`.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `report.html: cannot …`.
    public var description: String { "\(path): \(message)" }
}

enum _AtomicFile {
    /// Replaces `path` with `bytes` atomically (temporary file in the same folder + rename).
    static func write(_ bytes: [UInt8], to path: String) throws(ReportFileError) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw ReportFileError(path: path, message: "not a file name") }
        var random = SystemRandomNumberGenerator()
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            let suffix = String(random.next() & 0xFFFF_FFFF, radix: 36)
            temporary = (folder.isEmpty ? "" : folder + "/") + ".\(name).tmp-\(getpid())-\(suffix)"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw ReportFileError(path: path, message: "cannot create a temporary file in \(folder): \(errorText(errno))")
        }
        var written = 0
        var failure: String? = nil
        bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = _atomicSystemWrite(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write: \(errorText(errno))"
                    return
                }
                written += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "cannot sync: \(errorText(errno))" }
        if close(fd) != 0, failure == nil { failure = "cannot close: \(errorText(errno))" }
        if failure == nil, rename(temporary, path) != 0 { failure = "cannot rename \(temporary) to it: \(errorText(errno))" }
        if let failure {
            unlink(temporary)
            throw ReportFileError(path: path, message: failure)
        }
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// `write(2)`.
private func _atomicSystemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}

// System calls for writing a cdb: a buffered output file created under a temporary name and
// renamed into place only when complete.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A write-only file with a 64 KiB buffer. `path` is where it is written; `finalPath` is where
/// ``commit()`` renames it.
final class _CDBOutputFile {
    let path: String
    let finalPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(temporaryPath: String, finalPath: String) throws(CDBError) {
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw CDBError(.system(operation: "create", errno: errno), path: temporaryPath) }
        self.fd = fd
        self.path = temporaryPath
        self.finalPath = finalPath
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(path)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(CDBError) {
        if buffer.count + bytes.count > (1 << 16) { try flush() }
        if bytes.count >= (1 << 16) {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func flush() throws(CDBError) {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBufferPointer { (pending) throws(CDBError) in
            try writeAll(UnsafeRawBufferPointer(pending))
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(CDBError) {
        var done = 0
        while done < bytes.count {
            let n = _cdbSystemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw CDBError(.system(operation: "write", errno: errno), path: path)
            }
            done += n
        }
    }

    /// Overwrites bytes at `offset` (used for the header, which is known only at the end).
    func write(_ bytes: [UInt8], at offset: Int) throws(CDBError) {
        try flush()
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CDBError(.system(operation: "write", errno: errno), path: path)
            }
            done += n
        }
    }

    /// Flushes, syncs and closes the file, then renames it to `finalPath`.
    func commit() throws(CDBError) {
        try flush()
        if fsync(fd) != 0 { throw CDBError(.system(operation: "fsync", errno: errno), path: path) }
        let closed = close(fd)
        fd = -1
        if closed != 0 {
            unlink(path)
            throw CDBError(.system(operation: "close", errno: errno), path: path)
        }
        if rename(path, finalPath) != 0 {
            let code = errno
            unlink(path)
            throw CDBError(.system(operation: "rename \(path) to", errno: code), path: finalPath)
        }
    }

    /// Closes and removes the temporary file.
    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(path)
        }
    }

    static func processID() -> Int32 { getpid() }
}

/// `write(2)`, named apart from the class's own `write` methods.
private func _cdbSystemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}

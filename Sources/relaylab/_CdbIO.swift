// Raw byte input and output for the cdb commands: stdin/stdout/stderr and files through read(2)
// and write(2), so binary keys and data pass through unchanged and large dumps stay fast.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered writer to a file descriptor (stdout by default).
final class CdbOutput {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private static let capacity = 1 << 16

    init(fd: Int32 = 1) {
        self.fd = fd
        buffer.reserveCapacity(Self.capacity)
    }

    deinit { flush() }

    func write(_ bytes: UnsafeRawBufferPointer) {
        if buffer.count + bytes.count > Self.capacity { flush() }
        if bytes.count >= Self.capacity {
            writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ text: String) {
        write(Array(text.utf8))
    }

    func flush() {
        if buffer.isEmpty { return }
        buffer.withUnsafeBytes { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var done = 0
        while done < bytes.count {
            let n = _cdbWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return  // stdout closed (EPIPE): nothing sensible left to do with the output
            }
            done += n
        }
    }
}

/// Writes one line to stderr at once.
func cdbPrintError(_ line: String) {
    let output = CdbOutput(fd: 2)
    output.write(line + "\n")
    output.flush()
}

/// Reads a file (or stdin for `nil`) in chunks through read(2).
struct CdbInput {
    let path: String?

    /// The name used in error messages.
    var name: String { path ?? "<stdin>" }

    /// Calls `body` with each chunk until the end of input. Returns an errno on failure.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int32? {
        let fd: Int32
        if let path {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { return errno }
        } else {
            fd = 0
        }
        defer { if path != nil { close(fd) } }
        let size = 1 << 16
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk.baseAddress!, size)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return nil }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }
}

/// `strerror` as a Swift string.
func cdbErrnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// `write(2)`, named apart from `CdbOutput`'s own `write` methods.
private func _cdbWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}

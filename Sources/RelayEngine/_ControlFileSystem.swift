// The only file in RelayEngine that makes system calls: reading a control file the way
// qmail's open_read()/read() see it, keeping "does not exist" apart from every other error.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum _ControlFileSystem {
    /// The outcome of reading one file.
    enum ReadResult {
        case contents([UInt8])
        /// open() failed with ENOENT: qmail treats the file as absent.
        case missing
        /// Any other failure (permissions, a directory, an I/O error): qmail-smtpd says 421.
        case failed(String)
    }

    /// Reads the whole file at `path`.
    static func read(_ path: String) -> ReadResult {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return .missing }
            return .failed(describe(code))
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                Glibc_read(fd, buffer.baseAddress, buffer.count)
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                return .failed(describe(code))
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return .contents(result)
    }

    /// Whether `path` exists and is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// A short human description of an errno value.
    static func describe(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "file does not exist"
        case EACCES: return "access denied"
        case EISDIR: return "is a directory"
        case ENOTDIR: return "a path component is not a directory"
        case ELOOP: return "too many symbolic links"
        default:
            if let text = strerror(code) { return String(cString: text) }
            return "errno \(code)"
        }
    }

    @inline(__always)
    private static func Glibc_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Darwin)
        return Darwin.read(fd, buffer, count)
        #elseif canImport(Musl)
        return Musl.read(fd, buffer, count)
        #else
        return Glibc.read(fd, buffer, count)
        #endif
    }
}

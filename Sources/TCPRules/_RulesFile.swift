// The only file in TCPRules that makes system calls: reading a whole file, and a file's
// modification time, reporting failures as errno values (worded as ucspi-tcp words them).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum _RulesFile {
    /// The whole file, or the errno of the failing call.
    static func readAll(_ path: String) -> Result<[UInt8], RulesReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(RulesReadFailure(errno: errno)) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { return .failure(RulesReadFailure(errno: errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { return .failure(RulesReadFailure(errno: EISDIR)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(info.st_size)))
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(RulesReadFailure(errno: errno))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return .success(bytes)
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The modification time in nanoseconds since the epoch, or nil.
    static func modificationTime(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        return Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
        #else
        return Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        #endif
    }

    static let enoent = ENOENT
    static let eacces = EACCES
    static let eisdir = EISDIR
    static let einval = EINVAL
    static let eproto = EPROTO
}

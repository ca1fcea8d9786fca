// The only file in CDB that touches raw memory and system calls: a read-only byte region,
// either a memory-mapped file or a private copy of an in-memory buffer.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes of a cdb file. Reads are bounds-checked by the callers in `CDB+Lookup.swift`.

final class _CDBStorage: @unchecked Sendable {
    // Sendable: the region is never written after init and is freed only in deinit.
    let base: UnsafeRawPointer
    let count: Int
    private let mapped: Bool

    /// Maps the file at `path` read-only.
    init(mapping path: String) throws(CDBError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CDBError(.system(operation: "open", errno: errno), path: path) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw CDBError(.system(operation: "stat", errno: errno), path: path) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw CDBError(.system(operation: "read", errno: EISDIR), path: path)
        }
        let size = Int(info.st_size)
        if size < 2048 { throw CDBError(.truncatedHeader(size: size), path: path, offset: UInt64(size)) }
        guard let region = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), region != MAP_FAILED else {
            throw CDBError(.system(operation: "mmap", errno: errno), path: path)
        }
        self.base = UnsafeRawPointer(region)
        self.count = size
        self.mapped = true
    }

    /// Copies `bytes` into private memory.
    init(copying bytes: UnsafeRawBufferPointer) {
        let region = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if let source = bytes.baseAddress, bytes.count > 0 {
            region.copyMemory(from: source, byteCount: bytes.count)
        }
        self.base = UnsafeRawPointer(region)
        self.count = bytes.count
        self.mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// The little-endian 32-bit integer at `offset`; the caller guarantees `offset + 4 <= count`.
    @inline(__always)
    func uint32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The little-endian 64-bit integer at `offset` (a slot: hash, then position; or a record's
    /// key and data lengths); the caller guarantees `offset + 8 <= count`.
    @inline(__always)
    func uint64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Whether `key.count` bytes at `offset` equal `key`; the caller guarantees the range is inside.
    ///
    /// Short keys (domain names, IP addresses) are compared in place with 8- or 4-byte loads that
    /// stay inside both ranges (the last load overlaps the previous one); long keys use memcmp.
    @inline(__always)
    func bytesEqual(at offset: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let count = key.count
        guard let keyBase = key.baseAddress else { return true }
        let stored = base + offset
        if count > 32 {
            return memcmp(stored, keyBase, count) == 0
        }
        if count >= 8 {
            var index = 0
            while index + 8 <= count {
                if stored.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    != keyBase.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                {
                    return false
                }
                index += 8
            }
            return index == count
                || stored.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
                    == keyBase.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4 {
            return stored.loadUnaligned(as: UInt32.self) == keyBase.loadUnaligned(as: UInt32.self)
                && stored.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
                    == keyBase.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        for index in 0..<count
        where stored.load(fromByteOffset: index, as: UInt8.self) != keyBase.load(fromByteOffset: index, as: UInt8.self) {
            return false
        }
        return true
    }

    /// A view of `count` bytes at `offset`; the caller guarantees the range is inside.
    
    func withBytes<R, E: Error>(
        at offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base + offset, count: count))
    }
}

/// An error reading or writing a cdb file: what went wrong, in which file, at which byte offset.
///
/// Every position and length read from a file is checked; a damaged file produces one of these
/// instead of a crash, an out-of-bounds read or an endless loop.
public struct CDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Hashable, Sendable {
        /// A system call failed (`operation` names it, `errno` is its error number).
        case system(operation: String, errno: Int32)
        /// The file is shorter than the 2048-byte header.
        case truncatedHeader(size: Int)
        /// Hash table `table` (0...255) lies partly or wholly outside the file.
        case tableOutOfBounds(table: Int, position: UInt32, slots: UInt32)
        /// A hash slot points at a record position outside the record area.
        case recordPositionOutOfBounds(position: UInt32)
        /// A record's key and data lengths run past the record area (or the file).
        case recordOutOfBounds(position: UInt64, keyLength: UInt32, dataLength: UInt32)
        /// A lookup visited every slot of a table without finding an empty one.
        case tableFull(table: Int, slots: UInt32)
        /// Writing more would make the file 4 GiB or larger, which the format cannot address.
        case tooLarge(size: UInt64)
        /// The cdbmake text input is malformed (`line` is 1-based; the offset is the byte offset).
        case badFormat(line: Int, message: String)
        /// The writer was used after it finished or failed.
        case writerClosed
    }

    /// What went wrong.
    public var kind: Kind
    /// The file concerned, when there is one.
    public var path: String?
    /// The byte offset in the file (or text input) where the problem is.
    public var offset: UInt64?

    public init(_ kind: Kind, path: String? = nil, offset: UInt64? = nil) {
        self.kind = kind
        self.path = path
        self.offset = offset
    }

    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if case .badFormat(let line, _) = kind { parts.append("line \(line)") }
        if let offset { parts.append("offset \(offset)") }
        let prefix = parts.isEmpty ? "" : parts.joined(separator: ": ") + ": "
        return prefix + message
    }

    /// The problem without the file name and offset.
    public var message: String {
        switch kind {
        case .system(let operation, let errno):
            return "unable to \(operation): \(CDBError.errnoDescription(errno))"
        case .truncatedHeader(let size):
            return "truncated cdb header: the file has \(size) bytes, a cdb needs at least 2048"
        case .tableOutOfBounds(let table, let position, let slots):
            return "hash table \(table) (position \(position), \(slots) slots) lies outside the file"
        case .recordPositionOutOfBounds(let position):
            return "hash slot points at position \(position), outside the record area"
        case .recordOutOfBounds(let position, let keyLength, let dataLength):
            return
                "record at position \(position) (key length \(keyLength), data length \(dataLength)) runs past the record area"
        case .tableFull(let table, let slots):
            return "hash table \(table) has no empty slot among its \(slots) slots (corrupt file)"
        case .tooLarge(let size):
            return "cdb would reach \(size) bytes; the format is limited to 4 GiB (4294967295 bytes)"
        case .badFormat(_, let message):
            return "bad cdbmake input: \(message)"
        case .writerClosed:
            return "the cdb writer is already finished"
        }
    }

    static func errnoDescription(_ code: Int32) -> String {
        switch code {
        case 2: return "file does not exist"
        case 13: return "access denied"
        case 21: return "is a directory"
        case 28: return "no space left on device"
        default: return "errno \(code)"
        }
    }
}

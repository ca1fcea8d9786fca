// Reading the files a scenario or configuration names, at most a limit of bytes: a scenario
// file comes from anyone, and a path in it may name a device or a pipe (`/dev/zero`) as well as a
// 10 GB log. Nothing beyond the limit is read.

import Foundation

/// What reading a file gave.
public enum BoundedRead: Sendable, Hashable {
    case contents([UInt8])
    /// It does not exist (or cannot be opened).
    case missing
    /// It is a directory.
    case directory
    /// It holds more than the limit: `size` when known (a regular file), nil for a stream.
    case tooLarge(size: Int?, limit: Int)
    /// Reading failed.
    case unreadable(String)

    /// Reads `path`, at most `limit` bytes.
    public static func read(_ path: String, limit: Int) -> BoundedRead {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        if isDirectory.boolValue { return .directory }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let size = (attributes[.size] as? NSNumber)?.intValue, size > limit
        {
            return .tooLarge(size: size, limit: limit)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { return .missing }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            if data.count > limit { return .tooLarge(size: nil, limit: limit) }
            return .contents([UInt8](data))
        } catch {
            return .unreadable("\(error.localizedDescription)")
        }
    }

    /// The problem in words (`file is 80000000 bytes, more than …`), nil for contents.
    public func problem(what: String) -> String? {
        switch self {
        case .contents: return nil
        case .missing: return "no such file"
        case .directory: return "is a directory, not \(what)"
        case .tooLarge(let size, let limit):
            let measured = size.map { "is \($0) bytes, more than" } ?? "holds more than"
            return "\(measured) the \(limit)-byte limit for files relaylab reads with scenarios (--max-scenario-bytes)"
        case .unreadable(let reason): return "cannot be read (\(reason))"
        }
    }
}

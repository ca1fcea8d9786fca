import Foundation

/// How many bytes of the capture files have been read, for the progress line, without asking the
/// capture layer: the files' sizes, and the read position of the one open now, which Linux
/// shows in `/proc/self/fdinfo`. Elsewhere (or for standard input) the position is unknown.
final class _ReplayFileProgress {
    private let files: [(path: String, size: Int?)]
    private var current = 0
    private var descriptor: String?

    init(files: [String]) {
        self.files = files.map { path in
            guard path != "-", let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let size = attributes[.size] as? NSNumber
            else { return (path, nil) }
            return (URL(fileURLWithPath: path).standardizedFileURL.path, size.intValue)
        }
    }

    /// Bytes read over all files, and their total (nil when unknown).
    func position() -> (read: Int?, total: Int?) {
        var total = 0
        for file in files {
            guard let size = file.size else { return (nil, nil) }
            total += size
        }
        guard let (index, offset) = openFile() else { return (nil, total) }
        var read = offset
        for file in files[..<index] { read += file.size ?? 0 }
        return (min(read, total), total)
    }

    /// The capture file open now and its read offset, from /proc.
    private func openFile() -> (Int, Int)? {
        if let descriptor, let found = offset(of: descriptor, expecting: files[current].path) {
            return (current, found)
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        for entry in entries {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry) else {
                continue
            }
            // The first file of the list that is open and not finished is the current one.
            for index in current..<files.count where files[index].path == target {
                if let found = offset(of: entry, expecting: target) {
                    current = index
                    descriptor = entry
                    return (index, found)
                }
            }
        }
        return nil
    }

    private func offset(of descriptor: String, expecting path: String) -> Int? {
        guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + descriptor)) == path,
            let text = try? String(contentsOfFile: "/proc/self/fdinfo/" + descriptor, encoding: .utf8)
        else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("pos:") {
            return Int(line.dropFirst(4).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

import Foundation

/// A git revision of the current repository written out to a temporary folder, so that a side of
/// `relaylab compare` can read its configuration files as they were at that revision.
final class CompareRevision {
    /// The revision as given (`HEAD`, `main~3`, a hash).
    let revision: String
    /// The repository's top folder.
    let root: String
    /// The temporary folder holding the revision's files.
    let folder: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Writes out `revision` of the repository holding the current directory.
    init(_ revision: String) throws {
        self.revision = revision
        let top = try CompareRevision.git(["rev-parse", "--show-toplevel"], in: FileManager.default.currentDirectoryPath)
        guard top.status == 0 else {
            throw Failure(description: "a git revision (--baseline-rev, --candidate-rev) needs a git repository: \(top.error.isEmpty ? "not a git repository" : top.error)")
        }
        root = URL(fileURLWithPath: top.output.trimmingCharacters(in: .whitespacesAndNewlines)).standardizedFileURL.path
        let verify = try CompareRevision.git(["rev-parse", "--verify", "--quiet", revision + "^{commit}"], in: root)
        guard verify.status == 0 else { throw Failure(description: "\(revision): not a revision of the repository \(root)") }
        folder = NSTemporaryDirectory() + "relaylab-rev-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // git archive REV | tar -x -C FOLDER, with every argument passed as an argument.
        let extract = try CompareRevision.run(
            "/bin/sh", ["-c", "git -C \"$1\" archive --format=tar \"$2\" | tar -x -C \"$3\"", "sh", root, revision, folder], in: root)
        guard extract.status == 0 else {
            try? FileManager.default.removeItem(atPath: folder)
            throw Failure(description: "\(revision): cannot read the revision's files: \(extract.error)")
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Where the revision's copy of `path` (a path in the working tree) is.
    func map(_ path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        let resolvedRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path
        for base in [root, resolvedRoot] {
            for candidate in [absolute, resolved] where candidate == base || candidate.hasPrefix(base + "/") {
                return folder + String(candidate.dropFirst(base.count))
            }
        }
        throw Failure(description: "\(path) is outside the git repository \(root), so it has no version at \(revision)")
    }

    /// Output text with the temporary folder shown as `REV:`.
    func label(_ text: String) -> String {
        text.replacingOccurrences(of: folder + "/", with: "\(revision):")
    }

    static func git(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String, error: String) {
        try run("/usr/bin/env", ["git"] + arguments, in: directory)
    }

    static func run(_ program: String, _ arguments: [String], in directory: String) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        // Output goes to files (no pipes to drain while the child runs).
        let base = NSTemporaryDirectory() + "relaylab-git-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        guard let output = FileHandle(forWritingAtPath: base + ".out"), let error = FileHandle(forWritingAtPath: base + ".err") else {
            throw Failure(description: "cannot create temporary files in \(NSTemporaryDirectory())")
        }
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try? output.close()
        try? error.close()
        let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}

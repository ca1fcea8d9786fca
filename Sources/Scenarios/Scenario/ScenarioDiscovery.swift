import Foundation

/// Finds the scenario files named on a command line.
public enum ScenarioDiscovery {
    /// The scenario files for `paths`, in a stable order: each file as given, and for each folder
    /// every `*.yaml`/`*.yml` below it (recursively, sorted by path). Hidden files and folders and
    /// names starting with `_` (shared fixtures, configuration files) are skipped in folders.
    ///
    /// - Throws: ``ScenarioError`` for a path that does not exist or a folder without scenarios.
    public static func files(for paths: [String]) throws(ScenarioError) -> [String] {
        var result: [String] = []
        var seen: Set<String> = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ScenarioError(file: path, "no such file or directory")
            }
            if !isDirectory.boolValue {
                if seen.insert(path).inserted { result.append(path) }
                continue
            }
            let found = scan(folder: path)
            if found.isEmpty { throw ScenarioError(file: path, "no scenario files (*.yaml, *.yml) in this folder") }
            for file in found where seen.insert(file).inserted { result.append(file) }
        }
        return result
    }

    private static func scan(folder: String) -> [String] {
        let base = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [] }
        var files: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") && !name.hasPrefix("_") {
            let path = base == "." ? name : base + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                files += scan(folder: path)
            } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                files.append(path)
            }
        }
        return files
    }
}

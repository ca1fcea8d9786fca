import ArgumentParser
import Foundation
import Replay

/// `--lookup-sample N`: how `relaylab replay`, `check` and `compare` time their cdb lookups.
struct LookupTimingFlags: ParsableArguments {
    @Option(
        name: .customLong("lookup-sample"),
        help: ArgumentHelp(
            "Time one cdb lookup in N (1: every lookup; 0: count lookups without timing them). Lookups are always counted, per database.",
            valueName: "N"))
    var lookupSample: Int = LookupTimingFlags.defaultSample

    /// One lookup in 16: the clock readings of timing every lookup cost ~1.6% of a large
    /// replay and ~3.6% of a check made of little but recipients; 1 in 16 costs a sixteenth of
    /// that (scripts/bench-lookup-timing; README, "Lookup timing and the HTML report").
    static let defaultSample = 16

    func check() throws {
        if lookupSample < 0 { throw ValidationError("--lookup-sample must be 0 or more (got \(lookupSample))") }
    }
}

/// `--html FILE`: the self-contained HTML report of `relaylab replay`, `check` and `compare`.
struct HTMLReportFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Also write a self-contained HTML report (summary, charts, lookup latency, filterable differences) to this file.",
            valueName: "FILE"))
    var html: String?

    /// Fails early (before a long run) when the report's folder cannot take it.
    func check() throws {
        guard let html else { return }
        if html.isEmpty || html.hasSuffix("/") { throw ValidationError("--html needs a file name (got \"\(html)\")") }
        let folder = (html as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--html \(html): the folder \(directory) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ValidationError("--html \(html): the folder \(directory) is not writable")
        }
    }

    /// Writes the page (through ``OutputFile``: atomically, never over an input or a file that is
    /// not an HTML page); a failure is a one-line error naming the file.
    func write(_ page: @autoclosure () -> String, tool: String, inputs: [String]) throws {
        guard let html else { return }
        do {
            try OutputFile.write(Array(page().utf8), to: html, kind: .htmlReport, inputs: inputs)
        } catch {
            FileHandle.standardError.write(Data("\(tool): \(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }
}

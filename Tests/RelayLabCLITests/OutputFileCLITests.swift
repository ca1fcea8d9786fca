// relaylab never writes to a control directory or rules file it reads, and every file it writes
// is written under a temporary name and renamed into place.

import Foundation
import TestSupport
import Testing

@Suite(.enabled(if: TestSupport.relaylabBinary != nil, "the relaylab binary is not built (run swift build first)"))
struct OutputFileCLITests {
    func relaylab(_ arguments: [String], in directory: String? = nil) throws -> TestSupport.ProcessResult {
        try TestSupport.run(TestSupport.relaylabBinary!, arguments, currentDirectory: directory ?? TestSupport.packageRoot)
    }

    /// A copy of captures/qmail-relay (control files, rules, run script, capture, configuration).
    func relayCopy() throws -> String {
        let folder = try TestSupport.temporaryDirectory("output-files")
        try FileManager.default.removeItem(atPath: folder)
        try FileManager.default.copyItem(atPath: TestSupport.fixture("captures/qmail-relay"), toPath: folder)
        return folder
    }

    /// Every file under `folder` with its bytes.
    func snapshot(_ folder: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for case let name as String in FileManager.default.enumerator(atPath: folder)! {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[name] = try TestSupport.read(folder + "/" + name)
            }
        }
        return files
    }

    func inode(_ path: String) throws -> UInt64 {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    @Test func reportsAreNeverWrittenIntoWhatTheRunReads() throws {
        let relay = try relayCopy()
        defer { try? FileManager.default.removeItem(atPath: relay) }
        let before = try snapshot(relay)
        let replay = ["replay", relay + "/relay.pcap", "--config", relay + "/relaylab.yaml", "--ptr", relay + "/ptr.txt"]
        for (target, message) in [
            (relay + "/control/rcpthosts", "refusing to write the JUnit report into \(relay)/control, a folder this run reads"),
            (relay + "/control/report.xml", "refusing to write the JUnit report into \(relay)/control, a folder this run reads"),
            (relay + "/tcp.smtp.cdb", "refusing to write the JUnit report over \(relay)/tcp.smtp.cdb, which this run reads"),
            (relay + "/relay.pcap", "refusing to write the JUnit report over \(relay)/relay.pcap, which this run reads"),
            (relay + "/ptr.txt", "refusing to write the JUnit report over \(relay)/ptr.txt, which this run reads"),
            (relay + "/README", "refusing to replace an existing file that is not the JUnit report relaylab writes"),
        ] {
            if target.hasSuffix("README") { try TestSupport.write("notes\n", to: target) }
            let result = try relaylab(replay + ["--junit", target])
            #expect(result.status == 2, "\(target)")
            #expect(result.stderrText == "relaylab replay: \(target): \(message)\n")
            #expect(result.stdoutText.isEmpty, "refused before anything ran")
        }
        try FileManager.default.removeItem(atPath: relay + "/README")
        // relaylab check: the scenario's own control files and rules are protected too.
        try TestSupport.write(
            "config: {control: control, rules: tcp.smtp}\nconnections:\n  - client: 127.0.0.1\n", to: relay + "/s.yaml")
        let check = try relaylab(["check", relay + "/s.yaml", "--junit", relay + "/control/rcpthosts"])
        #expect(check.status == 2)
        #expect(check.stderrText.hasSuffix("refusing to replace an existing file that is not the JUnit report relaylab writes\n"))
        try FileManager.default.removeItem(atPath: relay + "/s.yaml")
        // extract -o over its own configuration or a rules file.
        for target in [relay + "/relaylab.yaml", relay + "/tcp.smtp", relay + "/control/new.yaml"] {
            let extract = try relaylab(replay.map { $0 == "replay" ? "extract" : $0 } + ["-o", target])
            #expect(extract.status == 2, "\(target): \(extract.stderrText)")
            #expect(extract.stderrText.hasPrefix("relaylab extract: \(target): refusing to"), "\(extract.stderrText)")
        }
        #expect(try snapshot(relay) == before, "nothing in the inputs changed")
    }

    @Test func compilersNeverOverwriteTheirInput() throws {
        let folder = try TestSupport.temporaryDirectory("output-compile")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try TestSupport.write("127.:allow,RELAYCLIENT=\"\"\n:allow\n", to: folder + "/tcp.smtp")
        try TestSupport.write("+1,1:a->b\n\n", to: folder + "/records.txt")
        let before = try snapshot(folder)
        let refusals: [([String], String)] = [
            (["rules", "compile", folder + "/tcp.smtp", "-o", folder + "/tcp.smtp"],
             "refusing to write the cdb over \(folder)/tcp.smtp, which this run reads"),
            (["rules", "compile", folder + "/tcp.smtp", "--temporary", folder + "/tcp.smtp"],
             "refusing to write the temporary file over \(folder)/tcp.smtp, which this run reads"),
            (["cdb", "make", folder + "/records.txt", folder + "/records.txt"],
             "refusing to write the cdb over \(folder)/records.txt, which this run reads"),
            (["cdb", "make", folder + "/out.cdb", folder + "/records.txt", "--temporary", folder + "/records.txt"],
             "refusing to write the temporary file over \(folder)/records.txt, which this run reads"),
        ]
        for (arguments, message) in refusals {
            let result = try relaylab(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderrText.contains(message), "\(result.stderrText)")
        }
        #expect(try snapshot(folder) == before)
        // And the normal case still works, through a temporary name.
        #expect(try relaylab(["rules", "compile", folder + "/tcp.smtp", "-q"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: folder + "/tcp.smtp.cdb"))
    }

    @Test func reportsReplaceTheirTargetByRename() throws {
        let folder = try TestSupport.temporaryDirectory("output-rename")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let report = folder + "/report.xml"
        let arguments = ["check", "scenarios/classic.yaml", "--junit", report]
        #expect(try relaylab(arguments).status == 0)
        let first = try inode(report)
        let reader = try #require(FileHandle(forReadingAtPath: report))
        defer { try? reader.close() }
        #expect(try relaylab(arguments).status == 0)
        // A new file took the name; a reader of the old one still reads a complete report.
        #expect(try inode(report) != first)
        let old = String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self)
        #expect(old.hasPrefix("<?xml") && old.hasSuffix("</testsuites>\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["report.xml"], "no temporary file left")
    }

    /// Every write in the code base goes through the two writers that rename into place.
    @Test func noOtherCodeWritesFiles() throws {
        let allowed: Set<String> = [
            "Sources/relaylab/_OutputFile.swift",  // reports, extracted scenarios, key lists
            "Sources/CDB/_CDBOutputFile.swift",  // cdb files (CDBWriter)
            "Sources/relaylab/CompareRevision.swift",  // git's output, in private temporary files
        ]
        let patterns = [
            "createFile(", ".write(to:", "write(toFile:", "FileHandle(forWriting", "FileHandle(forUpdating", "fopen(",
            "O_WRONLY", "O_RDWR", "moveItem(", "copyItem(", "removeItem(", "rename(",
        ]
        var offenders: [String] = []
        let root = TestSupport.packageRoot
        for case let name as String in FileManager.default.enumerator(atPath: root + "/Sources")! where name.hasSuffix(".swift") {
            let path = "Sources/" + name
            guard !allowed.contains(path) else { continue }
            let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                for pattern in patterns where code.contains(pattern) {
                    if pattern == "fopen(" && code.contains("\"r\"") { continue }
                    offenders.append("\(path):\(number + 1): \(code)")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }
}

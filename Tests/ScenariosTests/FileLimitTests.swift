// The scenario file size limit: scenario and configuration files, and every file they name, are
// read at most `maxFileBytes` far, so a huge file or a device (`/dev/zero`) gives a clear error
// instead of exhausting memory or hanging.

import Foundation
import Scenarios
import TestSupport
import Testing

@Suite("Scenario file size limit")
struct FileLimitTests {
    @Test func aScenarioFileLargerThanTheLimitIsRefusedUnread() throws {
        let folder = try TestSupport.temporaryDirectory("scenario-limit")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/big.yaml"
        let text = minimalConfig + String(repeating: "  - client: 192.0.2.9\n", count: 100)
        try TestSupport.write(text, to: path)
        do {
            _ = try ScenarioFile.load(path: path, maxFileBytes: 1_000)
            Issue.record("expected an error")
        } catch {
            #expect(error.errors.map(\.summary) == [
                "\(path): is \(text.utf8.count) bytes, more than the 1000-byte limit for files relaylab reads with scenarios (--max-scenario-bytes)"
            ])
        }
        // Within the limit it loads.
        #expect(try ScenarioFile.load(path: path, maxFileBytes: text.utf8.count).connections.count == 100)
    }

    @Test func aDeviceNamedAsAControlFileIsReadOnlyUpToTheLimit() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/zero"))
        let text = """
            config:
              control_files: {me: mx.example.net, rcpthosts: {file: /dev/zero}}
            connections:
              - client: 192.0.2.9

            """
        let source = YAMLSource(text: text, path: "zero.yaml", maxFileBytes: 4_096)
        let root = try source.root()
        do {
            _ = try ScenarioFile(yaml: root)
            Issue.record("expected an error")
        } catch {
            #expect(error.errors.map(\.summary) == [
                "zero.yaml:2:57: cannot read control file /dev/zero: holds more than the 4096-byte limit for files relaylab reads with scenarios (--max-scenario-bytes)"
            ])
        }
    }

    @Test func includedConfigurationsAndRunScriptsInheritTheLimit() throws {
        let folder = try TestSupport.temporaryDirectory("scenario-include-limit")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let padding = "# " + String(repeating: "x", count: 2_000) + "\n"
        try TestSupport.write(padding + "control_files: {me: mx.example.net}\n", to: folder + "/big-setup.yaml")
        try TestSupport.write(padding + "exec tcpserver 0 25 qmail-smtpd\n", to: folder + "/run")
        let scenario = "config: {include: big-setup.yaml}\nconnections:\n  - client: 192.0.2.9\n"
        try TestSupport.write(scenario, to: folder + "/s.yaml")
        #expect(throws: ScenarioErrors.self) { try ScenarioFile.load(path: folder + "/s.yaml", maxFileBytes: 1_000) }
        #expect(try ScenarioFile.load(path: folder + "/s.yaml", maxFileBytes: 10_000).connections.count == 1)
        do {
            _ = try RunScript.load(path: folder + "/run", maxFileBytes: 1_000)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary.hasPrefix("\(folder)/run: run script is 2035 bytes, more than the 1000-byte limit"))
        }
        do {
            _ = try YAMLSource.read(path: folder)
            Issue.record("expected an error")
        } catch {
            #expect(error.summary == "\(folder): is a directory, not a YAML file")
        }
    }

    @Test func theDefaultLimitHoldsA100kConnectionFile() {
        // A generated 100,000-connection file is about 17 MB (CheckThroughputTests).
        #expect(YAMLSource.defaultMaxFileBytes == 64 << 20)
        #expect(BoundedRead.read("/nonexistent/x", limit: 10) == .missing)
    }
}

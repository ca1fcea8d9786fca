import CDB
import Foundation
import TestSupport
import Testing

@Suite("cdb writer: size limit and atomic replacement")
struct CDBWriterTests {
    static let records: [([UInt8], [UInt8])] = (0..<40).map { (Array("key\($0)".utf8), Array("data\($0)".utf8)) }
    static let finalSize = 2048 + records.reduce(0) { $0 + 8 + $1.0.count + $1.1.count } + 16 * records.count

    /// Files in `dir`, sorted.
    static func listing(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    @Test("a database exactly at the size limit is written; one byte less is refused")
    func sizeLimitBoundary() throws {
        #expect(try CDBWriter.build(Self.records).count == Self.finalSize)
        let atLimit = CDBWriter(maximumSize: UInt64(Self.finalSize))
        for (key, data) in Self.records { try atLimit.add(key: key, data: data) }
        #expect(try atLimit.finishInMemory().count == Self.finalSize)

        let belowLimit = CDBWriter(maximumSize: UInt64(Self.finalSize - 1))
        var refused: CDBError?
        for (index, (key, data)) in Self.records.enumerated() {
            do {
                try belowLimit.add(key: key, data: data)
            } catch {
                refused = error
                #expect(index == Self.records.count - 1, "only the last record crosses the limit")
                break
            }
        }
        #expect(refused?.kind == .tooLarge(size: UInt64(Self.finalSize)))
        #expect(refused?.description.contains("limited to 4 GiB") == true)
        // The writer is closed after a failure.
        #expect(throws: CDBError.self) { try belowLimit.add(key: "x", data: "y") }
    }

    @Test("the 4 GiB format limit is checked before anything is written")
    func formatLimit() throws {
        #expect(CDBWriter.formatLimit == 0xFFFF_FFFF)
        let writer = CDBWriter(maximumSize: .max)  // clamped to the format's limit
        try writer.add(key: "a", data: "b")
        // A key that would end past 4 GiB: the writer must refuse it from its length alone.
        // (The buffer claims 4 GiB over a 16-byte allocation; reading it would crash.)
        let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { small.deallocate() }
        let huge = UnsafeRawBufferPointer(start: small.baseAddress, count: 0x1_0000_0000)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(throws: CDBError(.tooLarge(size: 2048 + 10 + 8 + 0x1_0000_0000 + 32), path: "<memory>", offset: 2058)) {
            try writer.add(key: huge, data: empty)
        }
    }

    @Test("refusing the size limit leaves the destination untouched and removes the temporary file")
    func atomicOnSizeError() throws {
        let dir = try TestSupport.temporaryDirectory("cdb-atomic")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let destination = "\(dir)/morercpthosts.cdb"
        try TestSupport.write("the old database", to: destination)
        let writer = try CDBWriter(path: destination, maximumSize: 3000)
        #expect(try Self.listing(dir).count == 2, "the temporary file exists while writing")
        #expect(throws: CDBError.self) {
            for (key, data) in Self.records { try writer.add(key: key, data: data) }
        }
        #expect(try Self.listing(dir) == ["morercpthosts.cdb"])
        #expect(try TestSupport.read(destination) == Array("the old database".utf8))
        #expect(throws: CDBError(.writerClosed, path: destination)) { try writer.finish() }
        #expect(try TestSupport.read(destination) == Array("the old database".utf8))
    }

    @Test("cancel and an abandoned writer remove the temporary file")
    func cancelAndAbandon() throws {
        let dir = try TestSupport.temporaryDirectory("cdb-cancel")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let destination = "\(dir)/x.cdb"
        try TestSupport.write("old", to: destination)
        let writer = try CDBWriter(path: destination, temporaryPath: "\(dir)/x.tmp")
        try writer.add(key: "k", data: "v")
        #expect(try Self.listing(dir) == ["x.cdb", "x.tmp"])
        writer.cancel()
        #expect(try Self.listing(dir) == ["x.cdb"])
        #expect(throws: CDBError.self) { try writer.finish() }
        do {
            let abandoned = try CDBWriter(path: destination)
            try abandoned.add(key: "k", data: "v")
            #expect(try Self.listing(dir).count == 2)
        }
        #expect(try Self.listing(dir) == ["x.cdb"])
        #expect(try TestSupport.read(destination) == Array("old".utf8))
    }

    @Test("finish replaces the destination in one rename and leaves no temporary file")
    func finishReplaces() throws {
        let dir = try TestSupport.temporaryDirectory("cdb-finish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let destination = "\(dir)/x.cdb"
        try TestSupport.write("old", to: destination)
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: destination))
        let writer = try CDBWriter(path: destination, temporaryPath: "\(dir)/x.tmp")
        for (key, data) in Self.records { try writer.add(key: key, data: data) }
        try writer.finish()
        #expect(try Self.listing(dir) == ["x.cdb"])
        #expect(try TestSupport.read(destination) == CDBWriter.build(Self.records))
        // A reader that had the old file open still sees the old file (it was replaced, not rewritten).
        #expect(try reader.readToEnd() == Data("old".utf8))
        #expect(throws: CDBError(.writerClosed, path: destination)) { try writer.finish() }
    }

    @Test("a failed rename (destination is a folder) reports it and removes the temporary file")
    func renameFailure() throws {
        let dir = try TestSupport.temporaryDirectory("cdb-rename")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/x.cdb/inside", withIntermediateDirectories: true)
        let writer = try CDBWriter(path: "\(dir)/x.cdb", temporaryPath: "\(dir)/x.tmp")
        try writer.add(key: "k", data: "v")
        #expect {
            try writer.finish()
        } throws: { error in
            guard let error = error as? CDBError, case .system(let operation, _) = error.kind else { return false }
            return operation.hasPrefix("rename") && error.path == "\(dir)/x.cdb"
        }
        #expect(try Self.listing(dir) == ["x.cdb"])
    }

    @Test("an output folder that does not exist is reported")
    func missingFolder() {
        #expect {
            _ = try CDBWriter(path: "/nonexistent-relaylab-folder/x.cdb", temporaryPath: "/nonexistent-relaylab-folder/x.tmp")
        } throws: { error in
            (error as? CDBError)?.kind == .system(operation: "create", errno: ENOENT)
                && (error as? CDBError)?.path == "/nonexistent-relaylab-folder/x.tmp"
        }
    }
}

import ArgumentParser
import CDB

/// `relaylab cdb make OUT.cdb [INPUT]`: cdbmake.
struct CdbMake: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make",
        abstract: "Build a cdb from records in cdbmake format (+klen,dlen:key->data).",
        discussion: """
            Reads records from INPUT (or standard input), one per line as \
            `+klen,dlen:key->data`, followed by an empty line — the format cdbmake reads and \
            `relaylab cdb dump` prints. The database is written to a temporary file next to \
            OUT.cdb and renamed over it only when complete, so readers never see a partial \
            file; on any error OUT.cdb is left untouched and the temporary file removed. The \
            result is byte-identical to `cdbmake OUT.cdb OUT.tmp < INPUT`.

            Example: printf '+11,0:example.com->\\n\\n' | relaylab cdb make morercpthosts.cdb
            """
    )

    @Argument(help: ArgumentHelp("The database to write.", valueName: "out.cdb"))
    var output: String

    @Argument(help: ArgumentHelp("The records in cdbmake format (default: standard input; - also means standard input).", valueName: "input"))
    var input: String?

    @Option(name: .customLong("temporary"), help: ArgumentHelp("Write to this temporary file before the rename (default: out.cdb.tmp<pid>.<random>). It must be on the same file system as out.cdb.", valueName: "file"))
    var temporary: String?

    func run() throws {
        let source = CdbInput(path: input == nil || input == "-" ? nil : input)
        do {
            // The input is read while the cdb is written: neither file may be it.
            let inputs = [input].compactMap { $0 }
            try OutputFile.checkNotInput(output, what: "the cdb", inputs: inputs)
            if let temporary { try OutputFile.checkNotInput(temporary, what: "the temporary file", inputs: inputs + [output]) }
        } catch {
            throw cdbFailure("\(error)")
        }
        var parser = CDBMakeParser(name: source.name)
        let writer: CDBWriter
        do {
            writer = try CDBWriter(path: output, temporaryPath: temporary)
        } catch {
            throw cdbFailure(error)
        }
        do {
            let failure = try source.forEachChunk { chunk in
                try parser.feed(chunk) { (key, data) throws(CDBError) in
                    try writer.add(key: key, data: data)
                }
            }
            if let failure {
                writer.cancel()
                throw cdbFailure("\(source.name): unable to read: \(cdbErrnoText(failure))")
            }
            try parser.finish()
            try writer.finish()
        } catch let error as CDBError {
            writer.cancel()
            throw cdbFailure(error)
        }
    }
}

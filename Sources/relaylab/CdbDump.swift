import ArgumentParser
import CDB

/// `relaylab cdb dump FILE`: cdbdump.
struct CdbDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print every record in cdbmake format, exactly as cdbdump does.",
        discussion: """
            Prints each record, in file order, as `+klen,dlen:key->data` and a newline, then an \
            empty line: byte-identical to `cdbdump < FILE`, and accepted by `relaylab cdb make` \
            and cdbmake, so `relaylab cdb dump a.cdb | relaylab cdb make b.cdb` rebuilds a \
            byte-identical copy.
            """
    )

    @Argument(help: ArgumentHelp("The cdb file.", valueName: "file"))
    var file: String

    func run() throws {
        let output = CdbOutput()
        do {
            let cdb = try CDB(contentsOf: file)
            var cursor = cdb.records()
            var line: [UInt8] = []
            while let record = try cursor.next() {
                line.removeAll(keepingCapacity: true)
                record.key.withUnsafeBytes { key in
                    record.data.withUnsafeBytes { data in CDBMakeFormat.append(key: key, data: data, to: &line) }
                }
                output.write(line)
            }
            output.write([0x0a])
            output.flush()
        } catch {
            output.flush()
            throw cdbFailure(error)
        }
    }
}

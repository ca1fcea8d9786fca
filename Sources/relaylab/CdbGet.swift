import ArgumentParser
import CDB

/// `relaylab cdb get FILE KEY [--all]`: cdbget.
struct CdbGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the data of the record with a key (exit 1 if there is none).",
        discussion: """
            Prints the data of the first record whose key is KEY, as raw bytes with nothing \
            added — exactly what `cdbget KEY < FILE` prints. With --skip N, skips the first N \
            records with that key (cdbget's second argument). With --all, prints the data of \
            every record with that key in file order, each followed by a newline, like tinycdb's \
            `cdb -q -m FILE KEY`. Exits 1, printing nothing, when there is no such record.

            Example: relaylab cdb get tcp.smtp.cdb 127.0.0.1
            """
    )

    @Argument(help: ArgumentHelp("The cdb file.", valueName: "file"))
    var file: String

    @Argument(help: ArgumentHelp("The key (its UTF-8 bytes).", valueName: "key"))
    var key: String

    @Flag(help: "Print the data of every record with the key, each followed by a newline.")
    var all = false

    @Option(help: ArgumentHelp("Skip this many records with the key first (as cdbget's skip).", valueName: "n"))
    var skip: Int = 0

    func validate() throws {
        if skip < 0 { throw ValidationError("--skip must be 0 or more") }
        if all && skip > 0 { throw ValidationError("--all and --skip cannot be combined") }
    }

    func run() throws {
        let output = CdbOutput()
        do {
            let cdb = try CDB(contentsOf: file)
            let values: [CDB.Value]
            if all || skip > 0 {
                values = try cdb.all(key)
            } else {
                values = try cdb.first(key).map { [$0] } ?? []
            }
            if all {
                if values.isEmpty { throw ExitCode(1) }
                for value in values {
                    value.withUnsafeBytes { output.write($0) }
                    output.write([0x0a])
                }
            } else {
                guard skip < values.count else { throw ExitCode(1) }
                values[skip].withUnsafeBytes { output.write($0) }
            }
            output.flush()
        } catch let error as CDBError {
            throw cdbFailure(error)
        }
    }
}

import ArgumentParser
import CDB

/// `relaylab cdb …`: make, read, dump and measure cdb files (qmail's `morercpthosts.cdb`,
/// tcpserver's `tcp.smtp.cdb`).
struct Cdb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdb",
        abstract: "Make, query, dump and measure constant databases (cdb files).",
        discussion: """
            Files written are byte-identical to cdbmake's and tinycdb's for the same records in \
            the same order. Exit status: 0 ok, 1 key not found (get), 2 usage or input error.
            """,
        subcommands: [CdbMake.self, CdbGet.self, CdbDump.self, CdbStats.self]
    )
}

/// Prints `relaylab: FILE: offset N: problem` and returns the input-error exit code (2).
func cdbFailure(_ error: CDBError) -> ExitCode {
    cdbPrintError("relaylab: \(error)")
    return ExitCode(2)
}

/// Prints `relaylab: message` and returns the input-error exit code (2).
func cdbFailure(_ message: String) -> ExitCode {
    cdbPrintError("relaylab: \(message)")
    return ExitCode(2)
}

/// Output formats of commands that offer `--format`.
enum CdbOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

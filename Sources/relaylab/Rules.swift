import ArgumentParser
import Foundation
import TCPRules

/// `relaylab rules`: tcpserver's access rules (tcp.smtp / tcp.smtp.cdb).
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile, check and lint tcpserver access rules (tcp.smtp), exactly as tcprules and tcpserver read them.",
        discussion: """
            RULES arguments may be tcprules source files or compiled cdb files; they are told apart by content.
            Exit status: 0 success, 1 findings (lint), 2 usage, input or configuration error.
            """,
        subcommands: [Compile.self, Check.self, Lint.self]
    )
}

/// The `--dialect` option shared by the rules subcommands.
struct RulesDialectOptions: ParsableArguments {
    enum Dialect: String, ExpressibleByArgument, CaseIterable {
        case ucspiTCP = "ucspi-tcp"
        case ucspiTCPIPv6 = "ucspi-tcp-ipv6"

        var value: RulesDialect { self == .ucspiTCP ? .ucspiTCP : .ucspiTCPIPv6 }
    }

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Which Debian build to reproduce: ucspi-tcp (stock, the default for parsing) or ucspi-tcp-ipv6.",
            discussion: "Without it, source is parsed like stock tcprules and IP prefixes end at '.' and ':' (ucspi-tcp-ipv6's tcpserver, identical to stock for IPv4)."
        ))
    var dialect: Dialect?

    /// The dialect used to parse source.
    var parsing: RulesDialect { dialect?.value ?? .ucspiTCP }
    /// The dialect used to match (nil: the default matcher).
    var matching: RulesDialect? { dialect?.value }
}

/// Output formats of the rules subcommands.
enum RulesOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Small I/O helpers for the rules subcommands.
enum RulesCLI {
    /// Writes bytes to standard output.
    static func write(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    /// Writes text to standard output.
    static func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Prints `relaylab rules COMMAND: message` on standard error and returns exit code 2.
    static func fail(_ command: String, _ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("relaylab rules \(command): \(message)\n".utf8))
        return ExitCode(2)
    }

    /// Encodes a value as pretty JSON with sorted keys and a final newline.
    static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [0x0A]
    }
}

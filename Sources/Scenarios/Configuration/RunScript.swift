import Foundation
import RelayEngine
import TCPRules

/// A daemontools/runit `run` script that starts tcpserver, read without running it:
///
///     exec env - PATH=/usr/bin:/bin SMTPAUTH='!' \
///       tcpserver -v -R -h -l mx.example.net -c 40 -x tcp.smtp.cdb 0 587 \
///       rblsmtpd -r zen.example /var/qmail/bin/qmail-smtpd /bin/checkpassword /bin/true
///
/// The script is split into words as `sh` would (quotes, backslashes, line continuations,
/// comments, `$VAR` from earlier `VAR=value` lines); the command running `tcpserver` gives the
/// environment (`env - VAR=…`, leading `VAR=…` words, `envdir DIR`), tcpserver's options, its
/// `-x` rules file, host and port, whether `rblsmtpd` (and its options) sits before `qmail-smtpd`,
/// and qmail-smtpd's arguments (a checkpassword program means the SMTP AUTH build).
public struct RunScript: Sendable, Hashable {
    /// The script's path, as given.
    public var path: String
    /// The line the tcpserver command starts on.
    public var line: Int
    /// The variables the command sets for tcpserver (and so for every child).
    public var environment: [String: String] = [:]
    /// Whether the command clears the inherited environment first (`env -`, `env -i`).
    public var clearsEnvironment = false
    /// tcpserver's options as parsed.
    public var tcpserver = TCPServerCommandLine.Parsed()
    /// `-x FILE`, resolved against the script's folder.
    public var rulesFile: String?
    /// The host tcpserver listens on (`0` for every address).
    public var host = "0"
    /// The port.
    public var port = 25
    /// rblsmtpd's arguments, or nil when rblsmtpd is not in the chain.
    public var rblsmtpdArguments: [String]?
    /// The qmail-smtpd program.
    public var smtpdProgram = "qmail-smtpd"
    /// qmail-smtpd's arguments (the checkpassword program and its arguments, for the AUTH build).
    public var checkpasswordArguments: [String] = []
    /// Things relaylab could not evaluate and ignored (unknown `$VARIABLE`s in unimportant
    /// options, unknown programs in the chain).
    public var warnings: [ScenarioError] = []

    /// Reads and parses a run script.
    ///
    /// - Throws: ``ScenarioError`` naming the script (and line): not found, no tcpserver command,
    ///   a malformed option, no qmail-smtpd after tcpserver.
    public static func load(path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes) throws(ScenarioError) -> RunScript {
        switch BoundedRead.read(path, limit: maxFileBytes) {
        case .contents(let bytes):
            return try parse(String(decoding: bytes, as: UTF8.self), path: path, maxFileBytes: maxFileBytes)
        case .missing:
            throw ScenarioError(file: path, "run script does not exist")
        case let other:
            throw ScenarioError(file: path, "run script " + (other.problem(what: "a run script") ?? "cannot be read"))
        }
    }

    /// Parses run-script text; `path` names it and relative paths are resolved against its folder.
    public static func parse(
        _ text: String, path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes
    ) throws(ScenarioError) -> RunScript {
        let source = YAMLSource(text: text, path: path, maxFileBytes: maxFileBytes)
        let commands = _ShellWords.commands(text)
        var variables: [String: String] = [:]
        var script = RunScript(path: path, line: 1)
        for command in commands {
            let words = command.words
            guard let tcpserverIndex = words.firstIndex(where: { basename($0.text) == "tcpserver" }) else {
                // Plain assignments (`VAR=value`, `export VAR=value`) feed later $VAR expansions.
                let assignments = words.first?.text == "export" ? Array(words.dropFirst()) : words
                if !assignments.isEmpty, assignments.allSatisfy({ assignment($0.text) != nil }) {
                    for word in assignments {
                        let (name, value) = assignment(word.text)!
                        variables[name] = word.unknown ? nil : value
                    }
                }
                continue
            }
            script.line = command.line
            let expanded = words.map { $0.expanded(variables) }
            try script.readPrefix(Array(expanded[..<tcpserverIndex]), source: source, line: command.line)
            try script.readTCPServer(Array(expanded[(tcpserverIndex + 1)...]), source: source, line: command.line)
            return script
        }
        throw ScenarioError(file: path, "no tcpserver command line in this run script")
    }

    /// The configuration this script describes: tcpserver options, rules, environment, rblsmtpd,
    /// the AUTH build (when qmail-smtpd has a checkpassword argument or `SMTPAUTH` is set),
    /// the port, and `control/` next to the script when it exists.
    public var configuration: ConfigurationSpec {
        var spec = ConfigurationSpec()
        let position = FilePosition(file: path, line: line)
        for key in ["rules", "tcpserver", "env", "rblsmtpd", "auth", "server.port"] {
            spec.positions.byKey[key] = position
        }
        let folder = YAMLSource.folder(of: path)
        let controlFolder = YAMLSource.normalize(folder + "/control")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: controlFolder, isDirectory: &isDirectory), isDirectory.boolValue {
            spec.control = .directory(controlFolder)
            spec.positions.byKey["control"] = position
        }
        spec.rules = rulesFile.map { RulesSpec.file($0) } ?? RulesSpec.none
        var words = [tcpserver.options.lookupRemoteHost ? "-h" : "-H", tcpserver.options.paranoid ? "-p" : "-P",
                     tcpserver.options.lookupRemoteInfo ? "-r" : "-R"]
        if let name = tcpserver.options.localHostName { words += ["-l", name] }
        if tcpserver.options.allowMissingRules { words.append("-X") }
        spec.tcpserver = words
        if tcpserver.options.dialect == .ucspiTCPIPv6 { spec.ucspiTCP = .ucspiTCPIPv6 }
        for (name, value) in environment { spec.environment[name] = value }
        if let arguments = rblsmtpdArguments, let options = try? RBLSMTPDOptions(arguments: arguments) {
            spec.rblsmtpd = .on(options)
        } else {
            spec.rblsmtpd = .off
        }
        if !checkpasswordArguments.isEmpty || environment["SMTPAUTH"] != nil {
            spec.auth = .on(AuthOptions(credentials: .users([:]), hasCheckpassword: !checkpasswordArguments.isEmpty))
        } else {
            spec.auth = .off
        }
        spec.server.port = port
        if !["0", "0.0.0.0", "::", "*"].contains(host), IPAddress(host) != nil { spec.server.ip = host }
        return spec
    }

    // MARK: - Reading the command

    /// The words before `tcpserver`: `exec`, `env [-] VAR=…`, `envdir DIR`, wrappers.
    private mutating func readPrefix(_ words: [_ShellWords.Word], source: YAMLSource, line: Int) throws(ScenarioError) {
        var index = 0
        var afterEnv = false
        while index < words.count {
            let word = words[index]
            let name = RunScript.basename(word.text)
            index += 1
            if let (variable, value) = RunScript.assignment(word.text), index == 1 || afterEnv || words[index - 2].isAssignment {
                if word.unknown {
                    warnings.append(warning(source, line, "cannot evaluate \(variable)=\(word.raw); left unset"))
                } else {
                    environment[variable] = value
                }
                continue
            }
            afterEnv = false
            switch name {
            case "env":
                afterEnv = true
                while index < words.count, words[index].text.hasPrefix("-") {
                    let option = words[index].text
                    index += 1
                    if option == "-" || option == "-i" || option == "--ignore-environment" {
                        clearsEnvironment = true
                        environment = [:]
                    } else if option == "-u", index < words.count {
                        environment.removeValue(forKey: words[index].text)
                        index += 1
                    }
                }
            case "envdir":
                guard index < words.count else { break }
                try readEnvDir(words[index].text, source: source, line: line)
                index += 1
            default:
                continue
            }
        }
    }

    /// `envdir DIR`: each file NAME sets NAME to its first line (an empty file unsets it).
    private mutating func readEnvDir(_ directory: String, source: YAMLSource, line: Int) throws(ScenarioError) {
        let folder = source.resolve(directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw source.error(line: line, column: 1, "envdir \(folder) does not exist")
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            guard case .contents(let data) = source.readNamedFile(folder + "/" + name) else { continue }
            if data.isEmpty {
                environment.removeValue(forKey: name)
                continue
            }
            var value = [UInt8](data.prefix { $0 != 10 })
            while let last = value.last, last == 32 || last == 9 { value.removeLast() }
            environment[name] = String(decoding: value.map { $0 == 0 ? 10 : $0 }, as: UTF8.self)
        }
    }

    /// tcpserver's arguments: options, host, port, then the program chain.
    private mutating func readTCPServer(_ words: [_ShellWords.Word], source: YAMLSource, line: Int) throws(ScenarioError) {
        do {
            tcpserver = try TCPServerCommandLine.parse(words.map(\.text))
        } catch {
            throw source.error(line: line, column: 1, error.message)
        }
        let consumed = words.count - tcpserver.remaining.count
        let optionWords = words[..<consumed]
        if let local = tcpserver.options.localHostName, local.contains(_ShellWords.unknownMarker) {
            tcpserver.options.localHostName = nil
            warnings.append(warning(source, line, "cannot evaluate tcpserver's -l argument; TCPLOCALHOST taken from the server's DNS name"))
        }
        if let rules = tcpserver.rulesFile {
            if rules.contains(_ShellWords.unknownMarker) {
                throw source.error(line: line, column: 1, "cannot evaluate tcpserver's -x argument (\(optionWords.first { $0.text.contains(_ShellWords.unknownMarker) }?.raw ?? rules))")
            }
            rulesFile = source.resolve(rules)
        }
        let rest = Array(words[consumed...])
        guard rest.count >= 3 else {
            throw source.error(line: line, column: 1, "tcpserver needs a host, a port and a program")
        }
        host = rest[0].text
        let portText = rest[1].text
        guard let port = Int(portText) ?? TCPServerCommandLine.servicePorts[portText], (1...65535).contains(port) else {
            throw source.error(line: line, column: 1, "cannot read tcpserver's port '\(rest[1].raw)'")
        }
        self.port = port
        try readChain(Array(rest[2...]), source: source, line: line)
    }

    /// The programs tcpserver runs: wrappers, rblsmtpd with its options, qmail-smtpd and its arguments.
    private mutating func readChain(_ words: [_ShellWords.Word], source: YAMLSource, line: Int) throws(ScenarioError) {
        var index = 0
        while index < words.count {
            let word = words[index]
            let name = RunScript.basename(word.text)
            index += 1
            if name.contains("qmail-smtpd") {
                smtpdProgram = word.text
                checkpasswordArguments = words[index...].map(\.text)
                return
            }
            switch name {
            case "rblsmtpd":
                var arguments: [String] = []
                while index < words.count, words[index].text.hasPrefix("-"), words[index].text.count > 1 {
                    let option = words[index].text
                    arguments.append(option)
                    index += 1
                    if let letter = option.last, ["t", "r", "a"].contains(letter), option.count == 2, index < words.count {
                        arguments.append(words[index].text)
                        index += 1
                    }
                }
                do {
                    _ = try RBLSMTPDOptions(arguments: arguments)
                } catch {
                    throw source.error(line: line, column: 1, "\(error)")
                }
                rblsmtpdArguments = arguments
            case "setuidgid", "envuidgid":
                index += 1
            case "envdir":
                if index < words.count { try readEnvDir(words[index].text, source: source, line: line) }
                index += 1
            case "softlimit":
                while index < words.count, words[index].text.hasPrefix("-") {
                    index += words[index].text.count == 2 ? 2 : 1
                }
            case "env":
                while index < words.count, let (variable, value) = RunScript.assignment(words[index].text) {
                    environment[variable] = value
                    index += 1
                }
            case "recordio", "fixcrio", "envlog", "fghack":
                continue
            default:
                warnings.append(warning(source, line, "unknown program '\(word.text)' before qmail-smtpd is ignored"))
            }
        }
        throw source.error(line: line, column: 1, "no qmail-smtpd in tcpserver's command line")
    }

    private func warning(_ source: YAMLSource, _ line: Int, _ message: String) -> ScenarioError {
        source.error(line: line, column: 1, "warning: " + message)
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `NAME=value` → (NAME, value) when NAME is a shell variable name.
    static func assignment(_ word: String) -> (String, String)? {
        guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { return nil }
        let name = word[..<equals]
        guard let first = name.first, first == "_" || first.isLetter,
            name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
        else { return nil }
        return (String(name), String(word[word.index(after: equals)...]))
    }
}

/// Splits shell text into commands and words (quotes, escapes, continuations, comments,
/// `$VAR` expansion); command substitutions are kept as unknown values.
enum _ShellWords {
    /// Stands for a value relaylab cannot know (a command substitution, an unknown variable).
    static let unknownMarker = "\u{1}?\u{1}"

    struct Word: Sendable {
        /// The word with quotes removed (expansions still as `\u{2}NAME\u{2}` placeholders
        /// until ``expanded(_:)``).
        var text: String
        /// The word as written.
        var raw: String
        /// Whether part of it cannot be known.
        var unknown = false
        var isAssignment: Bool { RunScript.assignment(text) != nil }

        func expanded(_ variables: [String: String]) -> Word {
            guard text.contains("\u{2}") else { return self }
            var result = ""
            var unknown = self.unknown
            let parts = text.split(separator: "\u{2}", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() {
                if index % 2 == 0 {
                    result += part
                } else if let value = variables[String(part)] {
                    result += value
                } else {
                    result += _ShellWords.unknownMarker
                    unknown = true
                }
            }
            return Word(text: result, raw: raw, unknown: unknown)
        }
    }

    struct Command {
        var words: [Word]
        var line: Int
    }

    static func commands(_ text: String) -> [Command] {
        var commands: [Command] = []
        var words: [Word] = []
        var current = ""
        var raw = ""
        var inWord = false
        var unknown = false
        var line = 1
        var commandLine = 1
        let characters = Array(text.unicodeScalars)
        var index = 0

        func endWord() {
            if inWord { words.append(Word(text: current, raw: raw, unknown: unknown)) }
            current = ""
            raw = ""
            inWord = false
            unknown = false
        }
        func endCommand() {
            endWord()
            if !words.isEmpty { commands.append(Command(words: words, line: commandLine)) }
            words = []
        }
        func readVariable() {
            // At `$`: `$NAME`, `${NAME}`, `$(…)`.
            index += 1
            guard index < characters.count else {
                current += "$"
                return
            }
            if characters[index] == "(" {
                var depth = 1
                index += 1
                while index < characters.count, depth > 0 {
                    if characters[index] == "(" { depth += 1 }
                    if characters[index] == ")" { depth -= 1 }
                    if characters[index] == "\n" { line += 1 }
                    index += 1
                }
                current += unknownMarker
                unknown = true
                return
            }
            var name = ""
            if characters[index] == "{" {
                index += 1
                while index < characters.count, characters[index] != "}" {
                    name.unicodeScalars.append(characters[index])
                    index += 1
                }
                index += 1
            } else {
                while index < characters.count, characters[index] == "_" || characters[index].properties.isAlphabetic
                    || ("0"..."9").contains(characters[index])
                {
                    name.unicodeScalars.append(characters[index])
                    index += 1
                }
            }
            if name.isEmpty {
                current += "$"
            } else {
                current += "\u{2}" + name + "\u{2}"
            }
        }

        while index < characters.count {
            let c = characters[index]
            switch c {
            case "\n", ";", "&", "|":
                if c == "\n" { line += 1 }
                endCommand()
                index += 1
                commandLine = line
            case " ", "\t", "\r":
                endWord()
                index += 1
            case "#" where !inWord:
                while index < characters.count, characters[index] != "\n" { index += 1 }
            case "\\":
                index += 1
                if index < characters.count {
                    if characters[index] == "\n" {
                        line += 1
                    } else {
                        current.unicodeScalars.append(characters[index])
                        raw.unicodeScalars.append(characters[index])
                        inWord = true
                    }
                    index += 1
                }
            case "'":
                inWord = true
                index += 1
                while index < characters.count, characters[index] != "'" {
                    if characters[index] == "\n" { line += 1 }
                    current.unicodeScalars.append(characters[index])
                    index += 1
                }
                index += 1
                raw += "'…'"
            case "\"":
                inWord = true
                index += 1
                while index < characters.count, characters[index] != "\"" {
                    let d = characters[index]
                    if d == "\\", index + 1 < characters.count, "$`\"\\\n".unicodeScalars.contains(characters[index + 1]) {
                        if characters[index + 1] != "\n" { current.unicodeScalars.append(characters[index + 1]) }
                        index += 2
                        continue
                    }
                    if d == "$" {
                        readVariable()
                        continue
                    }
                    if d == "`" {
                        index += 1
                        while index < characters.count, characters[index] != "`" { index += 1 }
                        index += 1
                        current += unknownMarker
                        unknown = true
                        continue
                    }
                    if d == "\n" { line += 1 }
                    current.unicodeScalars.append(d)
                    index += 1
                }
                index += 1
                raw += "\"…\""
            case "$":
                inWord = true
                let start = index
                readVariable()
                raw += String(String.UnicodeScalarView(characters[start..<min(index, characters.count)]))
            case "`":
                inWord = true
                index += 1
                while index < characters.count, characters[index] != "`" { index += 1 }
                index += 1
                current += unknownMarker
                unknown = true
                raw += "`…`"
            case ">", "<":
                // A redirection: drop a preceding file descriptor number and the target.
                if inWord, current.allSatisfy(\.isNumber) {
                    current = ""
                    raw = ""
                    inWord = false
                }
                endWord()
                index += 1
                while index < characters.count, characters[index] == ">" || characters[index] == "<" { index += 1 }
                if index < characters.count, characters[index] == "&" {
                    index += 1
                    while index < characters.count, ("0"..."9").contains(characters[index]) || characters[index] == "-" {
                        index += 1
                    }
                    continue
                }
                while index < characters.count, characters[index] == " " || characters[index] == "\t" { index += 1 }
                while index < characters.count, !" \t\n;&|".unicodeScalars.contains(characters[index]) { index += 1 }
            default:
                inWord = true
                current.unicodeScalars.append(c)
                raw.unicodeScalars.append(c)
                index += 1
            }
        }
        endCommand()
        return commands
    }
}

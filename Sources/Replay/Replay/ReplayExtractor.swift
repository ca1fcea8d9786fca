public import Capture
import Foundation
import RelayEngine
public import Scenarios

/// Turns reconstructed captured connections into a scenario file (`relaylab extract`): one
/// connection each, the client's exact steps, and the recorded replies as expectations — so that
/// production traffic becomes a regression suite `relaylab check` runs.
///
/// - Commands are `send` steps (`raw` when they are not plain text lines), pipelined batches
///   `pipeline` steps, messages `data` steps whose text turns back into exactly the captured
///   bytes (`send: DATA` and a `raw` message when it would not: bare LFs, stray dots, binary).
/// - AUTH credentials are never written. An exchange that ended in 235 or 535 becomes an `auth`
///   step with a placeholder user and password, and the connection's `auth: {users: …}` lists
///   the placeholders that succeeded (so the simulated checkpassword answers as the real one
///   did); other AUTH lines get placeholder credentials.
/// - Variable replies are expected by code: `250 ok <time> qp <pid>`, CRAM-MD5 challenges, and
///   the greeting with `ignoreGreeting`.
/// - Connections that cannot be replayed honestly (started before the capture, client data
///   lost) are left out, with the reason as a comment.
public struct ScenarioExtractor {
    /// How the scenario names its configuration.
    public enum Configuration: Sendable {
        /// `config: FILE` (a configuration file with listeners), with overrides on top.
        case file(path: String, overrides: ConfigurationSpec, rblFixture: String?)
        /// The configuration written inline (flags, or a single run script).
        case inline(ConfigurationSpec, rblFixture: String?)
    }

    /// What became of one connection.
    public enum Outcome: Sendable {
        /// Its YAML text (a list item of `connections:`).
        case extracted(String)
        /// Left out, and why.
        case skipped(String)
    }

    /// The file being written (paths in it are relative to its folder).
    public var outputPath: String
    public var configuration: Configuration
    /// Expect only the greeting's code.
    public var ignoreGreeting: Bool
    /// Extracted and skipped connections so far.
    public private(set) var extracted = 0
    public private(set) var skipped: [(index: Int, reason: String)] = []

    public init(outputPath: String, configuration: Configuration, ignoreGreeting: Bool = false) {
        self.outputPath = outputPath
        self.configuration = configuration
        self.ignoreGreeting = ignoreGreeting
    }

    // MARK: - The file

    /// The file's beginning: a comment, its name and configuration, then `connections:`.
    public func header(captures: [String], name: String? = nil) -> String {
        let given = captures.map { $0 == "-" ? "standard input" : $0 }
        let names = captures.map { $0 == "-" ? "standard input" : String($0.split(separator: "/").last ?? Substring($0)) }
        var out = "# Extracted by relaylab extract from \(given.joined(separator: ", ")).\n"
        out += "# Each connection replays what the client sent; the expectations are the replies the\n"
        out += "# production server sent. AUTH credentials are placeholders. Check it with:\n"
        out += "#   relaylab check \(outputPath)\n"
        out += "name: " + Self.quoted(name ?? "capture " + names.joined(separator: ", ")) + "\n"
        out += configurationYAML()
        out += "connections:\n"
        return out
    }

    /// The file's end: the connections left out, as comments.
    public func footer() -> String {
        var out = "# \(extracted) connection\(extracted == 1 ? "" : "s") extracted"
        if skipped.isEmpty { return out + ".\n" }
        out += ", \(skipped.count) left out:\n"
        for (index, reason) in skipped { out += "#   #\(index): \(reason)\n" }
        return out
    }

    // MARK: - Connections

    /// One connection as a `connections:` item, or why it is left out.
    ///
    /// - Parameters:
    ///   - clientName: the client's PTR name.
    ///   - target: the listener it reaches (nil: none takes it).
    public mutating func connection(_ dialogue: Dialogue, clientName: String?, target: ReplayTarget?) -> Outcome {
        let outcome = makeConnection(dialogue, clientName: clientName, target: target)
        switch outcome {
        case .extracted: extracted += 1
        case .skipped(let reason): skipped.append((dialogue.index, reason))
        }
        return outcome
    }

    private func makeConnection(_ dialogue: Dialogue, clientName: String?, target: ReplayTarget?) -> Outcome {
        guard let target else { return .skipped("no listener takes connections to \(dialogue.server)") }
        if dialogue.midstream { return .skipped("the capture started after the connection opened") }
        if let lost = dialogue.steps.first(where: { $0.lostBytes > 0 }) {
            return .skipped(lost.unobservable ?? "client data was lost")
        }
        if dialogue.steps.last.map({ $0.unobservableReason == .unterminated }) == true {
            return .skipped("the client's last line had no line terminator")
        }
        var out = "  - name: " + Self.quoted("#\(dialogue.index) \(dialogue.client) → \(dialogue.server) (\(sourceName(dialogue)))") + "\n"
        out += "    client: {ip: \(Self.quoted(dialogue.client.ip)), port: \(dialogue.client.port)"
        if let clientName { out += ", ptr: " + Self.quoted(clientName) }
        out += "}\n"
        out += "    server: {ip: \(Self.quoted(dialogue.server.ip)), port: \(dialogue.server.port)}\n"

        var steps: [String] = []
        var users: [(String, String)] = []
        var index = 0
        let dialogueSteps = dialogue.steps
        let withAuth = target.configuration.auth?.hasCheckpassword == true
        var attempt = 0
        while index < dialogueSteps.count {
            let step = dialogueSteps[index]
            if step.kind == .command, let batch = step.batch {
                // A pipelined batch of plain commands goes out in one write (a DATA whose
                // message follows is left to a data step: the replies are the same).
                var end = index
                while end < dialogueSteps.count, dialogueSteps[end].batch == batch, dialogueSteps[end].kind == .command,
                    Self.plainLine(dialogueSteps[end].clientBytes) != nil, !dialogueSteps[end].holdsCredentials,
                    !(Self.verb(dialogueSteps[end].clientBytes) == "DATA" && end + 1 < dialogueSteps.count
                        && dialogueSteps[end + 1].kind == .dataBody)
                {
                    end += 1
                }
                if end - index >= 2 {
                    let group = dialogueSteps[index..<end]
                    var text = gap(before: step, previous: index > 0 ? dialogueSteps[index - 1] : nil)
                    text += "      - pipeline: [" + group.map { Self.quoted(Self.plainLine($0.clientBytes)!) }.joined(separator: ", ") + "]\n"
                    let expected = group.map { expectation($0.reply, unobservable: $0.unobservableReason != nil) }
                    if expected.allSatisfy({ $0 != nil }) {
                        text += "        expect: [" + expected.map { $0! }.joined(separator: ", ") + "]\n"
                    }
                    steps.append(text)
                    index = end
                    continue
                }
            }
            let pause = gap(before: step, previous: index > 0 ? dialogueSteps[index - 1] : nil)
            // DATA and its message.
            if step.kind == .command, Self.verb(step.clientBytes) == "DATA", index + 1 < dialogueSteps.count,
                dialogueSteps[index + 1].kind == .dataBody
            {
                let body = dialogueSteps[index + 1]
                if let text = Self.messageText(body.clientBytes) {
                    var item = pause + "      - data: " + text.yaml + "\n"
                    if let encoding = text.encoding { item += "        encoding: \(encoding)\n" }
                    let first = expectation(step.reply, unobservable: step.unobservableReason != nil)
                    let second = expectation(body.reply, unobservable: body.unobservableReason != nil)
                    if let first, let second { item += "        expect: [\(first), \(second)]\n" }
                    steps.append(item)
                    index += 2
                    continue
                }
            }
            if step.kind == .command, Self.verb(step.clientBytes) == "AUTH", withAuth,
                let (item, consumed, user) = authStep(dialogueSteps, at: index, attempt: &attempt, connection: dialogue.index)
            {
                steps.append(pause + item)
                if let user { users.append(user) }
                index += consumed
                continue
            }
            steps.append(pause + plainStep(step, connection: dialogue.index, number: index + 1))
            index += 1
        }

        if !users.isEmpty {
            out += "    auth: {users: {" + users.map { "\(Self.quoted($0.0)): \(Self.quoted($0.1))" }.joined(separator: ", ") + "}}\n"
        }
        if dialogue.greeting == nil && dialogue.end == .serverClosedSilently {
            out += "    expect: {connection: deny}\n"
        } else if let greeting = dialogue.greeting, greeting.isComplete {
            let expected = ignoreGreeting ? greeting.code.map(String.init) : expectation(greeting, unobservable: false)
            out += "    expect: {connection: allow" + (expected.map { ", greeting: \($0)" } ?? "") + "}\n"
        }
        if steps.isEmpty {
            out += "    steps: []\n"
        } else {
            out += "    steps:\n" + steps.joined()
        }
        return .extracted(out)
    }

    /// A `wait` step for a pause of a second or more before `step`, as the replay lets it pass.
    private func gap(before step: DialogueStep, previous: DialogueStep?) -> String {
        let seconds = (step.time - (previous?.time ?? step.time)).rounded(.down)
        guard seconds >= 1 else { return "" }
        return "      - wait: \(Int(seconds))\n"
    }

    /// A command, message or AUTH line on its own.
    private func plainStep(_ step: DialogueStep, connection: Int, number: Int) -> String {
        var bytes = Array(step.clientBytes)
        if step.holdsCredentials { bytes = placeholderCredentials(step, connection: connection, number: number) }
        var item: String
        if step.kind != .dataBody, let line = Self.plainLine(bytes[...]) {
            item = "      - send: " + Self.quoted(line) + "\n"
        } else {
            let (text, encoding) = Self.quotedBytes(bytes)
            item = "      - raw: " + text + "\n"
            if let encoding { item += "        encoding: \(encoding)\n" }
        }
        if let expected = expectation(step.reply, unobservable: step.unobservableReason != nil) {
            item += "        expect: \(expected)\n"
        } else if step.reply == nil, step.unobservableReason == nil {
            // The server had closed the connection: nothing answers.
            item += "        expect: closed\n"
        }
        return item
    }

    /// What replaces credentials on an AUTH line: `*` and empty responses are kept (they are not
    /// secrets); anything else becomes a placeholder in base64 (`AUTH PLAIN <placeholder>`).
    private func placeholderCredentials(_ step: DialogueStep, connection: Int, number: Int) -> [UInt8] {
        let bytes = Array(step.clientBytes)
        let terminator: [UInt8] = bytes.last == 10 ? (bytes.count >= 2 && bytes[bytes.count - 2] == 13 ? [13, 10] : [10]) : []
        let content = Array(bytes.dropLast(terminator.count))
        let placeholder = Array(Data("\0placeholder-\(connection)-\(number)\0password".utf8).base64EncodedString().utf8)
        if step.kind == .authResponse {
            if content == [UInt8(ascii: "*")] || content.isEmpty { return bytes }
            return placeholder + terminator
        }
        // AUTH MECHANISM <initial response>: keep the verb and mechanism.
        let words = content.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
        guard words.count >= 2 else { return bytes }
        return Array(words[0]) + [32] + Array(words[1]) + [32] + placeholder + terminator
    }

    /// An AUTH exchange that ended in 235 or 535, as an `auth` step with placeholders; nil when
    /// the exchange has another shape (it is then written line by line).
    private func authStep(
        _ steps: [DialogueStep], at index: Int, attempt: inout Int, connection: Int
    ) -> (String, Int, (String, String)?)? {
        let command = steps[index]
        guard command.batch == nil, let line = Self.plainLine(command.clientBytes) else { return nil }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 2 || words.count == 3, words[0].uppercased() == "AUTH" else { return nil }
        let mechanism = words[1].uppercased()
        let initial = words.count == 3
        let responses: Int
        switch (mechanism, initial) {
        case ("LOGIN", false): responses = 2
        case ("LOGIN", true): responses = 1
        case ("PLAIN", false): responses = 1
        case ("PLAIN", true): responses = 0
        case ("CRAM-MD5", false): responses = 1
        default: return nil
        }
        guard index + responses < steps.count else { return nil }
        let exchange = steps[index...(index + responses)]
        guard exchange.dropFirst().allSatisfy({ $0.kind == .authResponse && $0.batch == nil }),
            exchange.allSatisfy({ $0.reply != nil && $0.unobservableReason == nil }),
            exchange.dropLast().allSatisfy({ $0.reply?.code == 334 }),
            let outcome = exchange.last?.reply?.code, outcome == 235 || outcome == 535
        else { return nil }
        attempt += 1
        let success = outcome == 235
        let user = success ? "user-\(connection)-\(attempt)" : "unknown-user-\(connection)-\(attempt)"
        let password = "password-\(connection)-\(attempt)"
        var expectations: [String] = []
        for (offset, step) in exchange.enumerated() {
            if mechanism == "CRAM-MD5" && offset == 0 {
                expectations.append("334")  // the challenge holds a pid and a time
            } else {
                expectations.append(expectation(step.reply, unobservable: false) ?? "[]")
            }
        }
        var item = "      - auth: {mechanism: \(mechanism), user: \(Self.quoted(user)), password: \(Self.quoted(password))"
        item += ", initial: \(initial)}\n"
        item += "        expect: [" + expectations.joined(separator: ", ") + "]\n"
        return (item, responses + 1, success ? (user, password) : nil)
    }

    /// A recorded reply as an expectation: the exact lines, or the code where the text varies
    /// (`250 ok <time> qp <pid>`) or cannot be written as lines (not UTF-8, bare LF endings).
    private func expectation(_ reply: ServerReply?, unobservable: Bool) -> String? {
        guard !unobservable, let reply, reply.isComplete else { return nil }
        let bytes = Array(reply.bytes)
        if ReplayReplies.isQueuedReply(bytes) { return "250" }
        let lines = Self.crlfLines(bytes)
        if let lines, lines.allSatisfy({ $0.utf8.count >= 3 && $0.utf8.prefix(3).allSatisfy { (48...57).contains($0) } }) {
            return Self.quoted(lines.joined(separator: "\n"))
        }
        return reply.code.map(String.init)
    }

    // MARK: - Configuration

    private func configurationYAML() -> String {
        switch configuration {
        case .file(let path, let overrides, let fixture):
            let body = specYAML(overrides, rblFixture: fixture, indent: "  ")
            if body.isEmpty { return "config: " + Self.quoted(relative(path)) + "\n" }
            return "config:\n  include: " + Self.quoted(relative(path)) + "\n" + body
        case .inline(let spec, let fixture):
            let body = specYAML(spec, rblFixture: fixture, indent: "  ")
            return body.isEmpty ? "" : "config:\n" + body
        }
    }

    /// The settings of a configuration spec (as flags or a run script give them) in YAML.
    private func specYAML(_ spec: ConfigurationSpec, rblFixture: String?, indent: String) -> String {
        var out = ""
        switch spec.control {
        case .directory(let path)?: out += indent + "control: " + Self.quoted(relative(path)) + "\n"
        case .none?: out += indent + "control: null\n"
        case nil: break
        }
        switch spec.rules {
        case .file(let path)?: out += indent + "rules: " + Self.quoted(relative(path)) + "\n"
        case .none?: out += indent + "rules: null\n"
        case .text(let text, _)?: out += indent + "rules: {text: " + Self.quoted(text) + "}\n"
        case .missing(let path)?: out += indent + "rules: {missing: " + Self.quoted(relative(path)) + "}\n"
        case nil: break
        }
        switch spec.rblsmtpd {
        case .off?: out += indent + "rblsmtpd: false\n"
        case .on(let options)?:
            let words = Self.rblsmtpdWords(options)
            if words.isEmpty && rblFixture == nil {
                out += indent + "rblsmtpd: true\n"
            } else {
                var parts: [String] = []
                if !words.isEmpty { parts.append("options: [" + words.map(Self.quoted).joined(separator: ", ") + "]") }
                if let rblFixture { parts.append("fixture: " + Self.quoted(relative(rblFixture))) }
                out += indent + "rblsmtpd: {" + parts.joined(separator: ", ") + "}\n"
            }
        case nil: break
        }
        if let variant = spec.variant { out += indent + "variant: \(variant.rawValue)\n" }
        switch spec.auth {
        case .off?: out += indent + "auth: false\n"
        case .on(let options)?: out += indent + (options.hasCheckpassword ? "auth: true\n" : "auth: {checkpassword: false}\n")
        case nil: break
        }
        if let words = spec.tcpserver, !words.isEmpty {
            out += indent + "tcpserver: [" + words.map(Self.quoted).joined(separator: ", ") + "]\n"
        }
        if let ipme = spec.ipme { out += indent + "ipme: [" + ipme.map(Self.quoted).joined(separator: ", ") + "]\n" }
        if !spec.environment.isEmpty {
            let entries = spec.environment.sorted { $0.key < $1.key }.map { name, value in
                Self.quoted(name) + ": " + (value.map(Self.quoted) ?? "null")
            }
            out += indent + "env: {" + entries.joined(separator: ", ") + "}\n"
        }
        return out
    }

    static func rblsmtpdWords(_ options: RBLSMTPDOptions) -> [String] {
        options.options.flatMap { option -> [String] in
            switch option {
            case .bounce(let on): [on ? "-b" : "-B"]
            case .failClosed(let on): [on ? "-c" : "-C"]
            case .timeout(let seconds): ["-t", String(seconds)]
            case .rbl(let zone): ["-r", zone]
            case .antiRBL(let zone): ["-a", zone]
            }
        }
    }

    // MARK: - Text

    private func sourceName(_ dialogue: Dialogue) -> String {
        let file = dialogue.sourceFile.split(separator: "/").last.map(String.init) ?? dialogue.sourceFile
        return "\(file)#\(dialogue.sourcePacket)"
    }

    /// `path` relative to the output file's folder (absolute paths stay absolute when they share
    /// nothing but `/`).
    public func relative(_ path: String) -> String {
        let base = URL(fileURLWithPath: outputPath).deletingLastPathComponent().standardizedFileURL.pathComponents
        let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        var common = 0
        while common < base.count, common < target.count, base[common] == target[common] { common += 1 }
        if common <= 1 { return URL(fileURLWithPath: path).standardizedFileURL.path }
        let ups = Array(repeating: "..", count: base.count - common)
        let rest = Array(target[common...])
        let parts = ups + rest
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// The upper-cased verb of a command line.
    static func verb(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 32 && $0 != 13 && $0 != 10 }, as: UTF8.self).uppercased()
    }

    /// A command line ending in CRLF, as text without it, when `send` reproduces it exactly
    /// (valid UTF-8, no other control bytes).
    static func plainLine(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count >= 2, bytes.last == 10, bytes[bytes.endIndex - 2] == 13 else { return nil }
        let content = bytes.dropLast(2)
        guard !content.contains(where: { $0 < 32 || $0 == 127 }) else { return nil }
        var iterator = content.makeIterator()
        var decoder = UTF8()
        var text = ""
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): text.unicodeScalars.append(scalar)
            case .emptyInput: return text
            case .error: return nil
            }
        }
    }

    /// Reply lines split at CRLF, or nil when a line ends otherwise or the reply is not UTF-8.
    static func crlfLines(_ bytes: [UInt8]) -> [String]? {
        guard bytes.count >= 2, bytes.last == 10, bytes[bytes.count - 2] == 13 else { return nil }
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 10 {
                guard index > start, bytes[index - 1] == 13 else { return nil }
                guard let line = plainLine(bytes[start...index]) else { return nil }
                lines.append(line)
                start = index + 1
            }
            index += 1
        }
        return lines
    }

    /// A message as a `data` step writes it, when the step gives back exactly these bytes: the
    /// text (lines unstuffed, LF line ends) and its YAML form, or nil.
    static func messageText(_ bytes: ArraySlice<UInt8>) -> (yaml: String, encoding: String?)? {
        let wire = Array(bytes)
        let end: [UInt8] = [46, 13, 10]
        guard wire.count >= 3, Array(wire.suffix(3)) == end else { return nil }
        let content = wire.dropLast(3)
        guard content.isEmpty || content.last == 10 else { return nil }
        // Every line ends in CRLF; a leading dot was doubled by the client.
        var lines: [[UInt8]] = []
        for piece in content.split(separator: 10, omittingEmptySubsequences: false).dropLast() {
            guard piece.last == 13 else { return nil }
            var line = Array(piece.dropLast())
            if line.first == 46 { line.removeFirst() }
            lines.append(line)
        }
        // The scenario's data step: split at LF, drop a trailing CR, double a leading dot, CRLF.
        var rebuilt: [UInt8] = []
        for line in lines {
            if line.first == 46 { rebuilt.append(46) }
            rebuilt += line + [13, 10]
        }
        rebuilt += end
        guard rebuilt == wire, !lines.contains(where: { $0.contains(13) }) else { return nil }
        var text: [UInt8] = []
        for line in lines { text += line + [10] }
        if text.isEmpty { return ("\"\"", nil) }
        let hasControl = text.contains { ($0 < 32 && $0 != 10 && $0 != 9) || $0 == 127 }
        if !hasControl, let utf8 = String(validating: text, as: UTF8.self), let block = literalBlock(utf8) {
            return (block, nil)
        }
        return quotedBytes(text)
    }

    /// A YAML literal block scalar (`|` or `|+`) for text ending in LF, or nil when the text
    /// would not survive one (lines starting with a blank on the first line, a BOM, tabs in the
    /// indentation).
    static func literalBlock(_ text: String) -> String? {
        guard text.hasSuffix("\n"), let first = text.unicodeScalars.first, first != " ", first != "\t", first != "\n",
            !text.contains("\u{FEFF}")
        else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.value == 0x85 || $0.value == 0x2028 || $0.value == 0x2029 }) else {
            return nil
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        let keep = text.hasSuffix("\n\n")
        var out = keep ? "|+\n" : "|\n"
        for line in lines {
            out += line.isEmpty ? "\n" : "          " + line + "\n"
        }
        out.removeLast()
        return out
    }

    /// Bytes as a double-quoted YAML string: UTF-8 text when they are UTF-8, else with
    /// `encoding: latin1` (each byte one `\xNN` or character).
    static func quotedBytes(_ bytes: [UInt8]) -> (String, String?) {
        if let text = String(validating: bytes, as: UTF8.self) { return (quoted(text), nil) }
        var out = "\""
        for byte in bytes { out += escape(Unicode.Scalar(byte)) }
        return (out + "\"", "latin1")
    }

    /// A double-quoted YAML string.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars { out += escape(scalar) }
        return out + "\""
    }

    static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\"": return "\\\""
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\0": return "\\0"
        default:
            if scalar.value < 32 || scalar.value == 127 || (scalar.value >= 0x80 && scalar.value <= 0x9F) {
                let hex = String(scalar.value, radix: 16)
                return "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
            if scalar.value >= 0xA0 && scalar.value <= 0xFF && !scalar.properties.isAlphabetic {
                return "\\x" + String(scalar.value, radix: 16)
            }
            return String(scalar)
        }
    }
}

import Foundation

/// Client IP → reverse-DNS (PTR) name, as `--ptr FILE` gives it: one `IP NAME` per line (blanks
/// between), `#` comments and empty lines ignored, the format of `captures/*/ptr.txt`. An address
/// listed with `-` or `NXDOMAIN` as its name has no PTR record (this overrides a PTR answer seen
/// in the capture).
public struct ReplayPTRTable: Sendable, Hashable {
    /// Names by address; a nil name means "no PTR record".
    public var names: [String: String?]

    public init(names: [String: String?] = [:]) {
        self.names = names
    }

    /// Parses the text of a PTR file.
    ///
    /// - Throws: ``ReplayInputError`` naming the file and line of a malformed line.
    public init(text: String, path: String = "<ptr>") throws(ReplayInputError) {
        var names: [String: String?] = [:]
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw ReplayInputError(file: path, line: number, message: "expected 'IP NAME' (two fields), found \(fields.count)")
            }
            let address = String(fields[0])
            guard ReplayPTRTable.isIPAddress(address) else {
                throw ReplayInputError(file: path, line: number, message: "'\(address)' is not an IP address")
            }
            let name = String(fields[1])
            names[ReplayPTRTable.canonical(address)] = (name == "-" || name.uppercased() == "NXDOMAIN") ? String?.none : name
        }
        self.names = names
    }

    /// Reads a PTR file.
    public static func load(path: String) throws(ReplayInputError) -> ReplayPTRTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReplayInputError(file: path, message: "cannot read the PTR file (no such file, or not readable)")
        }
        return try ReplayPTRTable(text: String(decoding: data, as: UTF8.self), path: path)
    }

    /// The entry for `address`: `.some(name)`, `.some(nil)` (explicitly no PTR), or nil (not listed).
    public func entry(for address: String) -> String?? {
        if let found = names[address] { return .some(found) }
        let key = ReplayPTRTable.canonical(address)
        if key != address, let found = names[key] { return .some(found) }
        return nil
    }

    /// IPv6 addresses in the compressed lower-case form the capture layer prints.
    static func canonical(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var storage = in6_addr()
        guard inet_pton(AF_INET6, address, &storage) == 1 else { return address.lowercased() }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else { return address.lowercased() }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}

/// A file given to `relaylab replay` that cannot be used: one line naming the file (and line).
public struct ReplayInputError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

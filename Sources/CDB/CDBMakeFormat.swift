/// The cdbmake/cdbdump text format: one record per line, `+klen,dlen:key->data` and a newline,
/// with an empty line after the last record.
///
/// Parsing follows `cdbmake` exactly (a missing length counts as 0, the final empty line is
/// required, anything after it is ignored) but reports the 1-based line and the byte offset of
/// the first malformed byte instead of cdbmake's bare "bad format".
public struct CDBMakeParser: Sendable {
    private enum State: Sendable {
        case start
        case keyLength
        case dataLength
        case key
        case arrow1
        case arrow2
        case data
        case newline
        case done
    }

    private var state = State.start
    private var keyLength: UInt32 = 0
    private var dataLength: UInt32 = 0
    private var key: [UInt8] = []
    private var data: [UInt8] = []
    private var line = 1
    private var offset: UInt64 = 0
    private let name: String

    /// The number of records parsed so far.
    public private(set) var recordCount = 0

    /// Whether the terminating empty line has been read.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// - Parameter name: the input's name for error messages (a file name, or `-` for stdin).
    public init(name: String) {
        self.name = name
    }

    private func error(_ message: String) -> CDBError {
        CDBError(.badFormat(line: line, message: message), path: name, offset: offset)
    }

    private static func bytes(_ count: UInt32) -> String {
        count == 1 ? "1 byte" : "\(count) bytes"
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7f { return "'\(Character(Unicode.Scalar(byte)))'" }
        switch byte {
        case 0x0a: return "a newline"
        case 0x0d: return "a carriage return"
        case 0x20: return "a space"
        default: return "byte 0x" + String(byte, radix: 16)
        }
    }

    /// Parses `bytes`, calling `record` for every complete record.
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer,
        record: (_ key: [UInt8], _ data: [UInt8]) throws(CDBError) -> Void
    ) throws(CDBError) {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch state {
            case .done:
                return
            case .start:
                if byte == 0x0a {
                    state = .done
                    return
                }
                guard byte == UInt8(ascii: "+") else {
                    throw error("expected '+' at the start of a record or an empty line at the end, found \(Self.describe(byte))")
                }
                keyLength = 0
                dataLength = 0
                state = .keyLength
            case .keyLength, .dataLength:
                let isKey: Bool
                if case .keyLength = state { isKey = true } else { isKey = false }
                let terminator = isKey ? UInt8(ascii: ",") : UInt8(ascii: ":")
                if byte == terminator {
                    if isKey {
                        state = .dataLength
                    } else {
                        key.removeAll(keepingCapacity: true)
                        data.removeAll(keepingCapacity: true)
                        state = keyLength == 0 ? .arrow1 : .key
                    }
                } else if byte >= 0x30 && byte <= 0x39 {
                    let current = isKey ? keyLength : dataLength
                    if current > 429_496_720 {
                        throw error("\(isKey ? "key" : "data") length too large (cdbmake accepts at most 4294967209)")
                    }
                    let next = current * 10 + UInt32(byte - 0x30)
                    if isKey { keyLength = next } else { dataLength = next }
                } else {
                    throw error(
                        "expected a digit or '\(Character(Unicode.Scalar(terminator)))' in the \(isKey ? "key" : "data") length, found \(Self.describe(byte))"
                    )
                }
            case .key:
                let wanted = Int(keyLength) - key.count
                let available = min(wanted, bytes.count - index)
                key.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + available)]))
                line += countNewlines(bytes, index, available)
                offset += UInt64(available)
                index += available
                if key.count == Int(keyLength) { state = .arrow1 }
                continue
            case .arrow1:
                guard byte == UInt8(ascii: "-") else {
                    throw error("expected '->' after a key of \(Self.bytes(keyLength)), found \(Self.describe(byte))")
                }
                state = .arrow2
            case .arrow2:
                guard byte == UInt8(ascii: ">") else {
                    throw error("expected '->' after a key of \(Self.bytes(keyLength)), found '-' then \(Self.describe(byte))")
                }
                state = dataLength == 0 ? .newline : .data
            case .data:
                let wanted = Int(dataLength) - data.count
                let available = min(wanted, bytes.count - index)
                data.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + available)]))
                line += countNewlines(bytes, index, available)
                offset += UInt64(available)
                index += available
                if data.count == Int(dataLength) { state = .newline }
                continue
            case .newline:
                guard byte == 0x0a else {
                    throw error("expected a newline after \(Self.bytes(dataLength)) of data, found \(Self.describe(byte))")
                }
                try record(key, data)
                recordCount += 1
                state = .start
            }
            if byte == 0x0a { line += 1 }
            offset += 1
            index += 1
        }
    }

    private func countNewlines(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> Int {
        var lines = 0
        for i in start..<(start + count) where bytes[i] == 0x0a { lines += 1 }
        return lines
    }

    /// Checks that the input ended properly (with the empty line after the last record).
    public func finish() throws(CDBError) {
        switch state {
        case .done: return
        case .start: throw error("unexpected end of input: the records must be followed by an empty line")
        default: throw error("unexpected end of input in the middle of a record")
        }
    }
}

/// Formatting records in the cdbmake/cdbdump text format.
public enum CDBMakeFormat {
    /// Appends one record line, `+klen,dlen:key->data\n`.
    public static func append(key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "+"))
        output.append(contentsOf: String(key.count).utf8)
        output.append(UInt8(ascii: ","))
        output.append(contentsOf: String(data.count).utf8)
        output.append(UInt8(ascii: ":"))
        output.append(contentsOf: key)
        output.append(UInt8(ascii: "-"))
        output.append(UInt8(ascii: ">"))
        output.append(contentsOf: data)
        output.append(0x0a)
    }

    /// The whole text form of `records`, including the final empty line.
    public static func format<K: Sequence<UInt8>, D: Sequence<UInt8>>(_ records: some Sequence<(K, D)>) -> [UInt8] {
        var output: [UInt8] = []
        for (key, data) in records {
            let k = Array(key)
            let d = Array(data)
            k.withUnsafeBytes { kb in d.withUnsafeBytes { db in append(key: kb, data: db, to: &output) } }
        }
        output.append(0x0a)
        return output
    }
}

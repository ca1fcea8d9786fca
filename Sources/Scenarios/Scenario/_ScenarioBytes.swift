// The compact form's command lines and default connection names, made for every connection of
// a file (a file of 100 000 connections makes half a million of them).

import RelayEngine

extension _ScenarioParser {
    /// `connection 12 from 192.0.2.7`: the name of a connection without one.
    static func defaultName(index: Int, ip: String) -> String {
        _JoinedText.joined("connection ", String(index), " from ", ip)
    }

    /// `prefix + text + suffix + CRLF` as UTF-8. (Appended to a reserved array: making an
    /// array of a given size or uninitialized goes through an unspecialized allocation in the
    /// standard library here, which costs more than the appends.)
    static func line(_ prefix: StaticString, _ text: String, _ suffix: StaticString = "") -> [UInt8] {
        var bytes: [UInt8] = []
        var text = text
        bytes.reserveCapacity(prefix.utf8CodeUnitCount + text.utf8.count + suffix.utf8CodeUnitCount + 2)
        prefix.withUTF8Buffer { bytes.append(contentsOf: $0) }
        // The contiguous bytes, not the UTF-8 view (which is read a byte at a time).
        text.withUTF8 { bytes.append(contentsOf: $0) }
        suffix.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(13)
        bytes.append(10)
        return bytes
    }
}

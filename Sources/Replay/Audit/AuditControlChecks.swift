import CDB
import Foundation
import RelayEngine
import Scenarios

/// The control-file part of the audit: the engine's configuration warnings turned into findings
/// (with consequence and fix), and the checks the engine does not make.
enum AuditControlChecks {
    // MARK: - The engine's warnings

    static func warnings(_ warnings: [ConfigurationWarning], control: QmailControl, prober: AuditRelayProber) -> [AuditFinding] {
        var findings: [AuditFinding] = []
        let ignoredCDB = warnings.contains { $0.kind == .morercpthostsIgnored }
        for warning in warnings {
            let file = warning.source?.file ?? control.directory
            let line = warning.source?.line
            func add(_ code: String, _ severity: AuditFinding.Severity, consequence: String, fix: String) {
                findings.append(
                    AuditFinding(
                        code: code, severity: severity, file: file, line: line, message: warning.message, consequence: consequence,
                        fix: fix))
            }
            switch warning.kind {
            case .rcpthostsMissing:
                var finding = AuditFinding(
                    code: "open-relay-rcpthosts-missing", severity: .error, file: file,
                    message: "control/rcpthosts does not exist: qmail-smtpd is an open relay",
                    consequence: "qmail-smtpd accepts every recipient in every domain from every client tcpserver lets in"
                        + (ignoredCDB
                            ? "; morercpthosts.cdb is ignored as well (qmail-smtpd reads it only when rcpthosts exists)"
                            : ""),
                    fix: "create control/rcpthosts listing the domains this server receives mail for, one per line (and keep morercpthosts.cdb for long lists); most run scripts refuse to start without it")
                Auditor.attachProof(
                    to: &finding,
                    prober.search(
                        AuditRelayProber.anyClients(), accepts: { _ in true },
                        relayFact: { decision in
                            decision.reasons.contains { if case .rcpthostsMissing = $0.kind { true } else { false } }
                        }))
                findings.append(finding)
            case .morercpthostsIgnored:
                continue  // part of the rcpthosts finding
            case .controlUnreadable:
                add(
                    "control-unreadable", .error,
                    consequence: "qmail-smtpd answers `421 unable to read controls (#4.3.0)` to every connection: no mail is received",
                    fix: "make the file readable by the qmail-smtpd user (usually qmaild), or remove it if it should not exist")
            case .controlsMissing:
                add(
                    "controls-missing", .error,
                    consequence: "qmail-smtpd answers `421 unable to read controls (#4.3.0)` to every connection: no mail is received",
                    fix: "create control/me with the server's host name (qmail's config-fast does this)")
            case .morercpthostsWithoutCDB:
                add(
                    "morercpthosts-without-cdb", .error,
                    consequence: "qmail-smtpd reads only morercpthosts.cdb, so mail for every domain listed only in control/morercpthosts is refused (553)",
                    fix: "run qmail-newmrh to build morercpthosts.cdb")
            case .morercpthostsOutOfDate:
                add(
                    "morercpthosts-out-of-date", .error,
                    consequence: "qmail-smtpd reads only morercpthosts.cdb, so mail for these domains is refused (553)",
                    fix: "run qmail-newmrh after every change to control/morercpthosts")
            case .morercpthostsDamaged:
                add(
                    "morercpthosts-damaged", .error,
                    consequence: "a recipient whose domain is not in rcpthosts gets `421 unable to read controls` and the connection is closed",
                    fix: "rebuild it with qmail-newmrh")
            case .morercpthostsUppercaseKey:
                add(
                    "morercpthosts-uppercase-key", .warning,
                    consequence: "qmail-smtpd looks up lower-cased domains only, so mail for this domain is refused unless rcpthosts has it",
                    fix: "rebuild the cdb with qmail-newmrh, which lower-cases every domain")
            case .carriageReturn:
                let inList = file.hasSuffix("rcpthosts") || file.hasSuffix("badmailfrom")
                let isRcpthosts = file.hasSuffix("/rcpthosts") || file == "rcpthosts"
                add(
                    "carriage-return", isRcpthosts ? .error : .warning,
                    consequence: inList
                        ? "qmail keeps the CR as part of each entry, so entries ending in it never match"
                            + (isRcpthosts ? ": mail for those domains is refused (553)" : ": those senders are not blocked")
                        : "qmail keeps the CR as part of the value (a greeting or host name with a CR in it)",
                    fix: "convert the file to LF line endings (dos2unix \(file))")
            case .wildcardEntry:
                add(
                    "rcpthosts-wildcard", .warning,
                    consequence: "qmail-smtpd compares whole domains and `.suffix` entries only; this entry accepts no real recipient",
                    fix: "list each domain, and `.example.com` for every host under example.com")
            case .whitespaceInEntry:
                let isBadmailfrom = file.hasSuffix("badmailfrom")
                add(
                    isBadmailfrom ? "badmailfrom-whitespace" : "rcpthosts-whitespace", .warning,
                    consequence: isBadmailfrom
                        ? "only a quoted sender such as \"a b\"@example.com can contain a blank, so this entry blocks no normal sender"
                        : "a recipient's domain never contains a blank, so mail for the domain meant here is refused (553)",
                    fix: "remove the blanks (a leading space is part of the entry; only trailing ones are stripped)")
            case .notANumber:
                add(
                    "not-a-number", .warning,
                    consequence: "qmail reads the leading digits only; with none it keeps its default",
                    fix: "write a plain decimal number")
            case .rulesMissing:
                add(
                    "rules-missing", .error,
                    consequence: warning.message,
                    fix: "compile the rules with tcprules (relaylab rules compile), or correct tcpserver's -x path")
            case .other:
                add("configuration-warning", .warning, consequence: warning.message, fix: "see the message")
            }
        }
        return findings
    }

    // MARK: - rcpthosts

    static func rcpthosts(_ control: QmailControl) -> [AuditFinding] {
        guard let entries = control.rcpthosts else { return [] }
        var findings: [AuditFinding] = []
        let names = Set(entries.map { $0.text.lowercased() })
        var cdbNames: Set<String> = []
        if case .database(let cdb) = control.morercpthosts { cdbNames = keys(of: cdb) }
        for entry in entries {
            let text = entry.text
            let bytes = entry.bytes
            if bytes.contains(32) || bytes.contains(9) || bytes.last == 13 { continue }  // the engine's warnings
            func add(_ code: String, _ severity: AuditFinding.Severity, _ message: String, _ consequence: String, _ fix: String) {
                findings.append(
                    AuditFinding(
                        code: code, severity: severity, file: entry.location.file, line: entry.location.line, message: message,
                        consequence: consequence, fix: fix))
            }
            if text.contains("@") {
                add(
                    "rcpthosts-address", .warning, "\"\(text)\" is an address; rcpthosts lists domains",
                    "qmail-smtpd looks up the part after the last @ of a recipient, which never contains an @: this entry accepts nothing",
                    "write the domain only (\(text.split(separator: "@").last.map(String.init) ?? "example.com"))")
                continue
            }
            // '*' anywhere is reported from the engine's configuration warnings (rcpthosts-wildcard).
            if text.contains("*") { continue }
            if text.hasSuffix("."), text != "." {
                add(
                    "rcpthosts-trailing-dot", .warning, "\"\(text)\" ends in '.' and never matches",
                    "recipients' domains are written without the root dot, so mail for \(text.dropLast()) is refused (553) unless another entry accepts it",
                    "remove the trailing dot")
                continue
            }
            if text.hasPrefix("."), text.count > 1 {
                let domain = String(text.dropFirst()).lowercased()
                let coveredBySuffix = Fact.rcpthostsKeys(for: domain).dropFirst().contains { names.contains($0) || cdbNames.contains($0) }
                if !names.contains(domain), !cdbNames.contains(domain), !coveredBySuffix {
                    add(
                        "rcpthosts-suffix-only", .info, "\"\(text)\" covers hosts under \(domain) but not \(domain) itself",
                        "mail for user@\(domain) is refused (553); only user@host.\(domain) is accepted",
                        "add \(domain) on its own line if the domain itself receives mail")
                }
            }
        }
        return findings
    }

    // MARK: - morercpthosts

    /// The keys of a cdb as text.
    static func keys(of cdb: CDB) -> Set<String> {
        var result: Set<String> = []
        var cursor = cdb.records()
        while let record = try? cursor.next() {
            result.insert(String(decoding: record.key.bytes, as: UTF8.self))
        }
        return result
    }

    /// The keys qmail-newmrh makes of control/morercpthosts: each line lower-cased, trailing
    /// blanks and LF removed, empty lines and lines starting with `#` skipped.
    static func newmrhKeys(_ bytes: [UInt8]) -> [(key: String, line: Int)] {
        var result: [(key: String, line: Int)] = []
        var line = 0
        for piece in bytes.split(separator: 10, omittingEmptySubsequences: false) {
            line += 1
            var entry = Array(piece)
            while let last = entry.last, last == 32 || last == 9 { entry.removeLast() }
            guard !entry.isEmpty, entry[0] != UInt8(ascii: "#") else { continue }
            result.append((String(decoding: entry.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self), line))
        }
        return result
    }

    static func morercpthosts(_ control: QmailControl, spec: ConfigurationSpec) -> [AuditFinding] {
        guard case .database(let cdb) = control.morercpthosts, control.status(of: "morercpthosts") == .present else { return [] }
        let textOrigin = control.origin(of: "morercpthosts")
        let cdbOrigin = control.origin(of: "morercpthosts.cdb")
        var bytes: [UInt8]? = nil
        if case .contents(let inline, _)? = spec.controlFiles["morercpthosts"] {
            bytes = inline
        } else if let data = FileManager.default.contents(atPath: textOrigin) {
            bytes = [UInt8](data)
        }
        guard let bytes else { return [] }
        let text = Set(newmrhKeys(bytes).map(\.key))
        let database = keys(of: cdb)
        var findings: [AuditFinding] = []
        let extra = database.subtracting(text).sorted()
        if !extra.isEmpty {
            let sample = extra.prefix(3).map { "\"\($0)\"" }.joined(separator: ", ")
            findings.append(
                AuditFinding(
                    code: "morercpthosts-cdb-extra", severity: .error, file: cdbOrigin,
                    message: "\(extra.count) domain(s) in morercpthosts.cdb are no longer in control/morercpthosts (\(sample))",
                    consequence: "qmail-smtpd reads only the cdb, so it still accepts mail for domains removed from the list",
                    fix: "run qmail-newmrh after every change to control/morercpthosts"))
        }
        if extra.isEmpty, text.isSubset(of: database), let textTime = modificationTime(textOrigin),
            let cdbTime = modificationTime(cdbOrigin), textTime > cdbTime
        {
            findings.append(
                AuditFinding(
                    code: "morercpthosts-older", severity: .info, file: cdbOrigin,
                    message: "morercpthosts.cdb is older than control/morercpthosts (the domains are the same)",
                    consequence: "nothing is wrong today, but the file was edited after qmail-newmrh last ran",
                    fix: "run qmail-newmrh to refresh it"))
        }
        return findings
    }

    static func modificationTime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    // MARK: - badmailfrom

    static func badmailfrom(_ control: QmailControl) -> [AuditFinding] {
        guard let entries = control.badmailfrom else { return [] }
        var findings: [AuditFinding] = []
        for entry in entries {
            let text = entry.text
            let bytes = entry.bytes
            if bytes.contains(32) || bytes.contains(9) || bytes.last == 13 { continue }  // the engine's warnings
            func add(_ code: String, _ message: String, _ consequence: String, _ fix: String) {
                findings.append(
                    AuditFinding(
                        code: code, severity: .warning, file: entry.location.file, line: entry.location.line, message: message,
                        consequence: consequence, fix: fix))
            }
            if text == "<>" {
                add(
                    "badmailfrom-null-sender", "\"<>\" cannot block the null sender",
                    "qmail-smtpd stores the null sender as an empty address and badmailfrom has no empty entries, so bounces are never blocked; this entry blocks nothing",
                    "remove it (bounces must be accepted, RFC 5321)")
            } else if text.hasPrefix("<") && text.hasSuffix(">") {
                add(
                    "badmailfrom-angle-brackets", "\"\(text)\" is written with angle brackets",
                    "qmail-smtpd compares the sender without <>, so this sender is not blocked",
                    "write \(text.dropFirst().dropLast())")
            } else if text.contains("*") {
                add(
                    "badmailfrom-wildcard", "\"\(text)\" uses '*', which is not a wildcard",
                    "badmailfrom matches a whole address or @domain exactly; this entry blocks only a sender literally spelt \(text)",
                    text.hasPrefix("*@") ? "write \(text.dropFirst()) to block the whole domain" : "write the address, or @domain for a whole domain")
            } else if text.hasPrefix("@.") || (text.hasPrefix(".") && !text.contains("@")) {
                let domain = text.drop { $0 == "@" || $0 == "." }
                add(
                    "badmailfrom-subdomain", "\"\(text)\" looks like a subdomain pattern",
                    "badmailfrom has no subdomain matching: @domain blocks exactly that domain, so no sender at any host under \(domain) is blocked",
                    "list each domain as @\(domain), @host.\(domain), …")
            } else if text.hasSuffix(".") {
                add(
                    "badmailfrom-trailing-dot", "\"\(text)\" ends in '.' and never matches",
                    "senders' domains are written without the root dot, so this sender is not blocked",
                    "remove the trailing dot")
            } else if bytes.count >= 900 {
                add(
                    "badmailfrom-too-long", "the entry is \(bytes.count) characters long",
                    "qmail-smtpd refuses addresses of 900 characters or more (555) before looking at badmailfrom, so it never matches",
                    "remove it")
            }
        }
        return findings
    }
}

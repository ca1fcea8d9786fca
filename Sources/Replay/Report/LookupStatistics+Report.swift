import CDB
import Foundation

// How the lookup statistics appear in reports: the `lookups` object of the JSON summary records
// and the "cdb lookups" block of the human reports.

extension LookupStatistics {
    /// The `lookups` object of the JSON summary records (field names are a contract):
    ///
    ///     {"sample_every":16,"clock_overhead_ns":21,"databases":[
    ///       {"database":"rules","file":"tcp.smtp.cdb","side":null,"structure":"index",
    ///        "lookups":1204,"hits":301,"misses":903,"failures":0,"probes":1590,
    ///        "sessions":600,"reused_decisions":0,"timed":75,"seconds":0.0000301,
    ///        "lookups_per_second":40000000,"mean_ns":25,"p50_ns":21,"p90_ns":40,"p99_ns":95,
    ///        "p999_ns":95,"max_ns":95}, …]}
    ///
    /// `sample_every` is 0 when lookups were counted but not timed (the timing fields are then
    /// null). `seconds` is the time spent in lookups (estimated from the timed ones when
    /// sampled) and `lookups_per_second` the lookups per second of that time; latencies are in
    /// nanoseconds with the clock's own cost subtracted.
    public var json: String {
        var out = "{\"sample_every\":\(sampleEvery),\"clock_overhead_ns\":\(clockOverhead),\"databases\":["
        for (offset, database) in databases.enumerated() {
            if offset > 0 { out += "," }
            let counts = database.counts
            out += "{\"database\":" + ByteText.json(database.role.rawValue)
            out += ",\"file\":" + ByteText.json(database.path)
            out += ",\"side\":" + ByteText.json(database.side)
            out += ",\"structure\":" + ByteText.json(database.structure)
            out += ",\"lookups\":\(counts.lookups),\"hits\":\(counts.hits),\"misses\":\(counts.misses)"
            out += ",\"failures\":\(counts.failures),\"probes\":\(counts.probes)"
            out += ",\"sessions\":\(database.sessions),\"reused_decisions\":\(database.reusedDecisions)"
            out += ",\"timed\":\(database.timed)"
            if database.timed > 0 {
                out += ",\"seconds\":" + LookupStatistics.jsonNumber(database.seconds ?? 0)
                out += ",\"lookups_per_second\":" + LookupStatistics.jsonNumber(database.lookupsPerSecond ?? 0)
                out += ",\"mean_ns\":" + LookupStatistics.jsonNumber(database.meanLatency)
                out += ",\"p50_ns\":\(database.latency(atPercentile: 50)),\"p90_ns\":\(database.latency(atPercentile: 90))"
                out += ",\"p99_ns\":\(database.latency(atPercentile: 99)),\"p999_ns\":\(database.latency(atPercentile: 99.9))"
                out += ",\"max_ns\":\(database.maxLatency)"
            } else {
                out += ",\"seconds\":null,\"lookups_per_second\":null,\"mean_ns\":null,\"p50_ns\":null,\"p90_ns\":null"
                out += ",\"p99_ns\":null,\"p999_ns\":null,\"max_ns\":null"
            }
            out += "}"
        }
        return out + "]}"
    }

    /// A finite number in JSON (6 significant digits).
    static func jsonNumber(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.6g", value)
    }

    /// Where sampling stands, in words: `latency sampled: 1 in 16 lookups timed (75 of 1204)`.
    public var samplingText: String {
        if sampleEvery == 0 { return "counted, not timed" }
        let timed = databases.reduce(0) { $0 + $1.timed }
        let what = sampleEvery == 1 ? "every lookup timed" : "latency sampled 1 in \(sampleEvery)"
        return "\(what) (\(timed) of \(totalLookups) lookups), clock overhead \(clockOverhead) ns subtracted"
    }

    /// The "cdb lookups" block of the human reports.
    ///
    ///       cdb lookups  latency sampled 1 in 16 (75 of 1204 lookups), clock overhead 21 ns subtracted
    ///         tcp.smtp.cdb: tcpserver rules, in-memory index
    ///           1204 lookups: 301 hits, 903 misses; 1.32 slots read per lookup
    ///           ~30.1 µs in lookups, 40.0 M lookups/s; p50 21 ns, p90 40 ns, p99 95 ns, p99.9 95 ns, max 95 ns
    ///
    /// - Parameter dim: styles secondary text (the caller's colours).
    public func humanText(dim: (String) -> String = { $0 }) -> String {
        var out = "  cdb lookups  "
        if databases.isEmpty { return out + "none (no rules cdb, no morercpthosts.cdb)\n" }
        out += dim(samplingText) + "\n"
        for database in databases {
            out += "    "
            if let side = database.side { out += side + " " }
            out += database.path + ": " + database.role.label
            out += database.structure == "index" ? ", in-memory index\n" : "\n"
            let counts = database.counts
            out += "      \(counts.lookups) lookup\(counts.lookups == 1 ? "" : "s"): \(counts.hits) hit\(counts.hits == 1 ? "" : "s"), "
            out += "\(counts.misses) miss\(counts.misses == 1 ? "" : "es")"
            if counts.failures > 0 { out += ", \(counts.failures) failed (damaged file)" }
            if counts.lookups > 0 {
                let perLookup = Double(counts.probes) / Double(counts.lookups)
                out += "; " + String(format: "%.2f", perLookup) + " slots read per lookup"
            }
            out += "\n"
            if database.timed > 0, let seconds = database.seconds {
                out += "      " + (sampleEvery > 1 ? "~" : "") + LookupStatistics.duration(seconds) + " in lookups"
                if let rate = database.lookupsPerSecond { out += ", " + LookupStatistics.rate(rate) }
                out += "; p50 \(database.latency(atPercentile: 50)) ns, p90 \(database.latency(atPercentile: 90)) ns"
                out += ", p99 \(database.latency(atPercentile: 99)) ns, p99.9 \(database.latency(atPercentile: 99.9)) ns"
                out += ", max \(database.maxLatency) ns\n"
            }
            if database.reusedDecisions > 0 {
                out += "      " + dim("\(database.reusedDecisions) connection\(database.reusedDecisions == 1 ? "" : "s") started from the thread's cached tcpserver decision for the client (no lookups)") + "\n"
            }
        }
        return out
    }

    /// `30.1 µs`, `4.20 ms`, `1.25 s`.
    static func duration(_ seconds: Double) -> String {
        if seconds >= 1 { return String(format: "%.2f s", seconds) }
        if seconds >= 1e-3 { return String(format: "%.2f ms", seconds * 1e3) }
        return String(format: "%.1f µs", seconds * 1e6)
    }

    /// `40.0 M lookups/s`.
    static func rate(_ perSecond: Double) -> String {
        if perSecond >= 1e6 { return String(format: "%.1f M lookups/s", perSecond / 1e6) }
        if perSecond >= 1e3 { return String(format: "%.1f k lookups/s", perSecond / 1e3) }
        return String(format: "%.0f lookups/s", perSecond)
    }
}

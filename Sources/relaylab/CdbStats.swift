import ArgumentParser
import CDB
import Foundation

/// `relaylab cdb stats FILE`: what a lookup in this file costs.
struct CdbStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a cdb's records, hash tables, load and lookup cost.",
        discussion: """
            Reads the whole file (a full consistency check: every record, slot and table) and \
            reports its records, distinct keys, the slots and load of each of the 256 hash \
            tables, and what lookups cost: slots probed and 64-byte cache lines read by a \
            lookup that finds its key (hit) and by one that does not (miss). Each probe is one \
            8-byte slot; slots sit 8 to a cache line, and a hit also reads its record, usually \
            in another part of the file. On files much larger than the CPU caches, every cache \
            line read in a new place costs a main-memory access.
            """
    )

    @Argument(help: ArgumentHelp("The cdb file.", valueName: "file"))
    var file: String

    @Option(help: "Output format: text or json.")
    var format: CdbOutputFormat = .text

    @Flag(help: "In text output, also list each used hash table.")
    var tables = false

    func run() throws {
        let stats: CDB.Statistics
        do {
            stats = try CDB(contentsOf: file).statistics()
        } catch {
            throw cdbFailure(error)
        }
        let output = CdbOutput()
        switch format {
        case .json: output.write(CdbStatsReport(file: file, stats).json() + "\n")
        case .text: output.write(CdbStatsReport(file: file, stats).text(listTables: tables))
        }
        output.flush()
    }
}

/// The statistics of one cdb file, as text or JSON (shared with `relaylab bench cdb`).
struct CdbStatsReport: Encodable {
    struct Probes: Encodable {
        var meanProbe: Double
        var longestProbe: Int
        var meanCacheLines: Double
        /// Slots read -> how many records (hits) or which fraction of misses.
        var histogram: [String: Double]

        enum CodingKeys: String, CodingKey {
            case meanProbe = "mean_probe", longestProbe = "longest_probe"
            case meanCacheLines = "mean_cache_lines", histogram
        }
    }

    struct Table: Encodable {
        var index: Int
        var position: UInt32
        var slots: Int
        var records: Int
        var load: Double
        var longestProbe: Int
        var meanMissProbe: Double

        enum CodingKeys: String, CodingKey {
            case index, position, slots, records, load
            case longestProbe = "longest_probe", meanMissProbe = "mean_miss_probe"
        }
    }

    var file: String
    var bytes: Int
    var records: Int
    var indexedRecords: Int
    var distinctKeys: Int
    var keyBytes: Int
    var dataBytes: Int
    var tablesUsed: Int
    var slots: Int
    var load: Double
    var hit: Probes
    var miss: Probes
    var tables: [Table]

    enum CodingKeys: String, CodingKey {
        case file, bytes, records, load, hit, miss, tables, slots
        case indexedRecords = "indexed_records", distinctKeys = "distinct_keys"
        case keyBytes = "key_bytes", dataBytes = "data_bytes", tablesUsed = "tables_used"
    }

    init(file: String, _ stats: CDB.Statistics) {
        self.file = file
        bytes = stats.bytes
        records = stats.records
        indexedRecords = stats.indexedRecords
        distinctKeys = stats.distinctKeys
        keyBytes = stats.keyBytes
        dataBytes = stats.dataBytes
        tablesUsed = stats.usedTables
        slots = stats.totalSlots
        load = stats.load
        var hits: [String: Double] = [:]
        for (probes, count) in stats.probeHistogram.enumerated() where count > 0 {
            hits[String(probes)] = Double(count)
        }
        var misses: [String: Double] = [:]
        for (probes, share) in stats.missProbeHistogram.enumerated() where share > 0 {
            misses[String(probes)] = share
        }
        hit = Probes(
            meanProbe: stats.meanProbe, longestProbe: stats.longestProbe,
            meanCacheLines: stats.meanHitCacheLines, histogram: hits)
        miss = Probes(
            meanProbe: stats.meanMissProbe, longestProbe: stats.longestMissProbe,
            meanCacheLines: stats.meanMissCacheLines, histogram: misses)
        tables = stats.tables.map {
            Table(
                index: $0.index, position: $0.position, slots: $0.slots, records: $0.records, load: $0.load,
                longestProbe: $0.longestProbe, meanMissProbe: $0.meanMissProbe)
        }
        histogramHits = stats.probeHistogram
        histogramMisses = stats.missProbeHistogram
    }

    private var histogramHits: [Int] = []
    private var histogramMisses: [Double] = []

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Histogram rows for text: 0...4 one by one, then 5-8, 9-16, 17-32, … (empty rows left out).
    static func buckets(_ histogram: [Double]) -> [(String, Double)] {
        var rows: [(String, Double)] = []
        var low = 0
        while low < histogram.count {
            let high = low <= 4 ? low : min(2 * (low - 1), histogram.count - 1)
            let sum = histogram[low...max(low, high)].reduce(0, +)
            if sum > 0 { rows.append((low == high ? String(low) : "\(low)-\(high)", sum)) }
            low = max(low, high) + 1
        }
        return rows
    }

    func text(listTables: Bool) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 18, withPad: " ", startingAt: 0) + value)
        }
        row("file", file)
        row("bytes", "\(bytes) (\(CdbFormat.bytes(bytes)))")
        row("records", "\(records)" + (indexedRecords != records ? " (\(indexedRecords) in the hash tables)" : ""))
        row("distinct keys", "\(distinctKeys)")
        row("key bytes", "\(keyBytes)" + (records > 0 ? " (mean \(CdbFormat.fixed(Double(keyBytes) / Double(records), 1)))" : ""))
        row("data bytes", "\(dataBytes)" + (records > 0 ? " (mean \(CdbFormat.fixed(Double(dataBytes) / Double(records), 1)))" : ""))
        row("hash tables", "\(tablesUsed) of 256 used, \(slots) slots, load \(CdbFormat.fixed(load, 3))")
        if tablesUsed > 0 {
            let used = tables.filter { $0.slots > 0 }
            let smallest = used.map(\.slots).min() ?? 0
            let largest = used.map(\.slots).max() ?? 0
            row("table slots", "\(smallest) to \(largest) per used table (mean \(CdbFormat.fixed(Double(slots) / Double(used.count), 1)))")
        }
        row(
            "hit lookups",
            "mean \(CdbFormat.fixed(hit.meanProbe, 3)) slots probed, longest \(hit.longestProbe); "
                + "mean \(CdbFormat.fixed(hit.meanCacheLines, 2)) cache lines read")
        row(
            "miss lookups",
            "mean \(CdbFormat.fixed(miss.meanProbe, 3)) slots probed, longest \(miss.longestProbe); "
                + "mean \(CdbFormat.fixed(miss.meanCacheLines, 2)) cache lines read")
        if !histogramHits.isEmpty {
            lines.append("probes per hit    slots  records    share")
            let total = Double(histogramHits.reduce(0, +))
            for (range, count) in Self.buckets(histogramHits.map(Double.init)) {
                lines.append(
                    "                  " + CdbFormat.right(range, 5) + "  " + CdbFormat.right(String(Int(count)), 7)
                        + "  " + CdbFormat.right(CdbFormat.fixed(100 * count / total, 3) + "%", 8))
            }
        }
        if !histogramMisses.isEmpty {
            lines.append("probes per miss   slots    share")
            for (range, share) in Self.buckets(histogramMisses) {
                lines.append(
                    "                  " + CdbFormat.right(range, 5) + "  "
                        + CdbFormat.right(CdbFormat.fixed(100 * share, 3) + "%", 8))
            }
        }
        if listTables {
            lines.append("table  position      slots    records  load   longest hit  mean miss")
            for table in tables where table.slots > 0 {
                lines.append(
                    CdbFormat.right(String(table.index), 5) + "  " + CdbFormat.right(String(table.position), 10)
                        + "  " + CdbFormat.right(String(table.slots), 9) + "  "
                        + CdbFormat.right(String(table.records), 9) + "  " + CdbFormat.fixed(table.load, 3)
                        + "  " + CdbFormat.right(String(table.longestProbe), 11) + "  "
                        + CdbFormat.right(CdbFormat.fixed(table.meanMissProbe, 3), 9))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Number formatting for the cdb and bench reports (fixed decimals, right alignment, sizes).
enum CdbFormat {
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        if count >= 1 << 30 { return fixed(value / 1_073_741_824, 2) + " GiB" }
        if count >= 1 << 20 { return fixed(value / 1_048_576, 1) + " MiB" }
        if count >= 1 << 10 { return fixed(value / 1024, 1) + " KiB" }
        return "\(count) B"
    }
}

import CDB
import Foundation
import Histogram

// The report's charts, as inline SVG: decisions by kind (stacked bars of outcomes), differences
// by kind (bars that filter the table), and a latency histogram per database (log-scaled time,
// percentile markers). Every label is escaped.

extension HTMLReport {
    /// The colour of an outcome.
    static func outcomeColour(_ outcome: String) -> String {
        switch outcome {
        case "accept", "pass": "#2f9e5f"
        case "allow": "#1f7a57"
        case "relay": "#e8871e"
        case "refuse": "#d9434b"
        case "tempfail": "#e8be1e"
        case "deny": "#7d45a8"
        default: "#8a94a6"
        }
    }

    /// The colour of a kind of difference.
    static func kindColour(_ kind: String) -> String {
        if kind.hasPrefix("refuse") { return "#d9434b" }
        if kind.hasPrefix("relay") { return "#e8871e" }
        if kind.hasPrefix("accept") || kind.hasPrefix("allow") { return "#2f9e5f" }
        if kind.hasPrefix("tempfail") { return "#e8be1e" }
        if kind.hasPrefix("deny") { return "#7d45a8" }
        if kind == "blocklist" { return "#2a8fa8" }
        return "#6b7a90"
    }

    /// Stacked horizontal bars, one per kind of decision, one segment per outcome; bar lengths
    /// are to scale across kinds.
    static func decisionChart(_ bars: [DecisionBar]) -> String {
        let shown = bars.filter { $0.total > 0 }
        guard !shown.isEmpty else { return "<p class=\"empty\">No decisions were made.</p>\n" }
        let width = 660.0
        // Room for the longest label ("connection · candidate" in a comparison), ~7 px a character.
        let longest = shown.map(\.label.count).max() ?? 0
        let labelWidth = min(260, max(128, Double(longest) * 7 + 14))
        let totalWidth = 84.0
        let barArea = width - labelWidth - totalWidth
        let rowHeight = 30.0
        let legendHeight = 26.0
        var outcomes: [String] = []
        for bar in shown {
            for segment in bar.segments where segment.count > 0 && !outcomes.contains(segment.outcome) {
                outcomes.append(segment.outcome)
            }
        }
        let order = DecisionCounts.outcomes
        outcomes.sort { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
        let height = legendHeight + rowHeight * Double(shown.count) + 6
        let largest = Double(shown.map(\.total).max() ?? 1)
        var out = "<svg class=\"chart\" role=\"img\" aria-label=\"decisions by kind\" viewBox=\"0 0 \(format(width)) \(format(height))\" width=\"\(format(width))\" height=\"\(format(height))\">\n"
        // Legend.
        var x = labelWidth
        for outcome in outcomes {
            out += "<rect x=\"\(format(x))\" y=\"6\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(outcomeColour(outcome))\"/>"
            out += "<text x=\"\(format(x + 17))\" y=\"16\" class=\"legend\">" + escape(outcome) + "</text>\n"
            x += 24 + Double(outcome.count) * 7.5
        }
        for (index, bar) in shown.enumerated() {
            let y = legendHeight + rowHeight * Double(index)
            out += "<g class=\"bar\" data-label=\"" + escape(bar.label) + "\">"
            out += "<text x=\"\(format(labelWidth - 10))\" y=\"\(format(y + 19))\" text-anchor=\"end\" class=\"axis-label\">" + escape(bar.label) + "</text>"
            var offset = labelWidth
            for segment in bar.segments where segment.count > 0 {
                let length = max(1.5, barArea * Double(segment.count) / largest)
                let share = 100 * Double(segment.count) / Double(bar.total)
                out += "<rect x=\"\(format(offset))\" y=\"\(format(y + 5))\" width=\"\(format(length))\" height=\"20\" fill=\"\(outcomeColour(segment.outcome))\">"
                out += "<title>" + escape("\(bar.label): \(grouped(segment.count)) \(segment.outcome) (\(String(format: "%.1f", share))%)") + "</title></rect>"
                if length >= 34 {
                    out += "<text x=\"\(format(offset + length / 2))\" y=\"\(format(y + 19))\" text-anchor=\"middle\" class=\"in-bar\">" + compact(segment.count) + "</text>"
                }
                offset += length
            }
            out += "<text x=\"\(format(offset + 8))\" y=\"\(format(y + 19))\" class=\"total\">" + grouped(bar.total) + "</text>"
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// One bar per kind of difference; each links to the table filtered to that kind.
    static func kindChart(_ kinds: [KindCount]) -> String {
        let width = 660.0
        let labelWidth = 250.0
        let barArea = width - labelWidth - 70
        let rowHeight = 28.0
        let height = rowHeight * Double(kinds.count) + 6
        let largest = Double(kinds.map(\.count).max() ?? 1)
        var out = "<svg class=\"chart\" role=\"img\" aria-label=\"differences by kind\" viewBox=\"0 0 \(format(width)) \(format(height))\" width=\"\(format(width))\" height=\"\(format(height))\">\n"
        for (index, kind) in kinds.enumerated() {
            let y = rowHeight * Double(index)
            let length = max(2, barArea * Double(kind.count) / largest)
            out += "<a href=\"#kind=" + escape(percentEncoded(kind.kind)) + "\" class=\"kind-link\">"
            out += "<text x=\"\(format(labelWidth - 10))\" y=\"\(format(y + 18))\" text-anchor=\"end\" class=\"axis-label\">" + escape(kind.label) + "</text>"
            out += "<rect x=\"\(format(labelWidth))\" y=\"\(format(y + 5))\" width=\"\(format(length))\" height=\"18\" rx=\"2\" fill=\"\(kindColour(kind.kind))\">"
            out += "<title>" + escape("\(kind.label): \(grouped(kind.count))") + "</title></rect>"
            out += "<text x=\"\(format(labelWidth + length + 8))\" y=\"\(format(y + 18))\" class=\"total\">" + grouped(kind.count) + "</text></a>\n"
        }
        return out + "</svg>\n"
    }

    /// The latency distribution of one database's timed lookups: bars over log-scaled time
    /// (four per doubling), heights to scale, with the p50, p99 and p99.9 marked.
    static func histogramChart(_ database: LookupStatistics.Database) -> String {
        guard database.timed > 0 else {
            return "<p class=\"empty\">No lookup was timed" + (database.counts.lookups == 0 ? " (none was made)" : "") + ".</p>\n"
        }
        let perDoubling = 4.0
        var buckets: [Int: UInt64] = [:]
        for item in database.histogram.recordedValues() where item.count > 0 {
            let value = Double(max(item.value, 1))
            buckets[Int((log2(value) * perDoubling).rounded(.down)), default: 0] += UInt64(item.count)
        }
        guard let low = buckets.keys.min(), let high = buckets.keys.max() else { return "" }
        let first = low
        let last = max(high + 1, low + 8)
        let width = 660.0
        let height = 190.0
        let left = 46.0
        let right = 12.0
        let top = 36.0
        let bottom = 34.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let step = plotWidth / Double(last - first)
        let largest = Double(buckets.values.max() ?? 1)
        let total = Double(database.timed)
        func xPosition(ofNanoseconds value: Double) -> Double {
            left + (log2(max(value, 1)) * perDoubling - Double(first)) * step
        }
        var out = "<svg class=\"chart histogram-svg\" role=\"img\" aria-label=\"" + escape("lookup latency, \(databaseLabel(database))") + "\" viewBox=\"0 0 \(format(width)) \(format(height))\" width=\"\(format(width))\" height=\"\(format(height))\">\n"
        // Grid and axes.
        for fraction in [0.25, 0.5, 0.75, 1.0] {
            let y = top + plotHeight * (1 - fraction)
            out += "<line x1=\"\(format(left))\" x2=\"\(format(width - right))\" y1=\"\(format(y))\" y2=\"\(format(y))\" class=\"grid\"/>"
            out += "<text x=\"\(format(left - 6))\" y=\"\(format(y + 4))\" text-anchor=\"end\" class=\"tick\">" + String(format: "%.0f%%", 100 * fraction * largest / total) + "</text>\n"
        }
        out += "<line x1=\"\(format(left))\" x2=\"\(format(width - right))\" y1=\"\(format(top + plotHeight))\" y2=\"\(format(top + plotHeight))\" class=\"axis\"/>\n"
        // Ticks at 1, 10, 100 … ns, and at 2 and 5 times those when the range is narrow.
        let decades = Double(last - first) / perDoubling / log2(10)
        let multiples: [Double] = decades < 2.5 ? [1, 2, 5] : [1]
        var decade = 1.0
        while decade <= pow(2, Double(last) / perDoubling) {
            for multiple in multiples {
                let tick = decade * multiple
                let x = xPosition(ofNanoseconds: tick)
                guard x >= left - 0.5 && x <= width - right + 0.5 else { continue }
                out += "<line x1=\"\(format(x))\" x2=\"\(format(x))\" y1=\"\(format(top + plotHeight))\" y2=\"\(format(top + plotHeight + 4))\" class=\"axis\"/>"
                out += "<text x=\"\(format(x))\" y=\"\(format(top + plotHeight + 17))\" text-anchor=\"middle\" class=\"tick\">" + nanoseconds(UInt64(tick)) + "</text>\n"
            }
            decade *= 10
        }
        out += "<text x=\"\(format(width - right))\" y=\"\(format(height - 3))\" text-anchor=\"end\" class=\"tick\">latency per lookup (log scale); bar height: share of timed lookups</text>\n"
        // Bars.
        for bucket in first..<last {
            guard let count = buckets[bucket] else { continue }
            let barHeight = max(1, plotHeight * Double(count) / largest)
            let x = left + Double(bucket - first) * step
            let from = UInt64(pow(2, Double(bucket) / perDoubling).rounded(.up))
            let to = UInt64(pow(2, Double(bucket + 1) / perDoubling).rounded(.down))
            let label = "\(nanoseconds(from))–\(nanoseconds(max(from, to))): \(grouped(Int(count))) lookups (\(String(format: "%.2f", 100 * Double(count) / total))%)"
            out += "<rect x=\"\(format(x + 0.5))\" y=\"\(format(top + plotHeight - barHeight))\" width=\"\(format(max(1, step - 1)))\" height=\"\(format(barHeight))\" class=\"hbar\"><title>" + escape(label) + "</title></rect>\n"
        }
        // Percentiles: a dashed line each; labels that would overlap go one row up, and labels
        // near the right edge end at their line.
        var previousEnd = -Double.infinity
        var row = 0
        for (name, percentile) in [("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9)] {
            let value = database.latency(atPercentile: percentile)
            let x = xPosition(ofNanoseconds: Double(value))
            let text = "\(name) \(nanoseconds(value))"
            let textWidth = Double(text.count) * 6.2
            let rightAligned = x + 3 + textWidth > width - right
            let start = rightAligned ? x - 3 - textWidth : x + 3
            row = start < previousEnd + 6 ? row + 1 : 0
            previousEnd = start + textWidth
            let y = top - 6 - Double(min(row, 2)) * 12
            out += "<line x1=\"\(format(x))\" x2=\"\(format(x))\" y1=\"\(format(y + 2))\" y2=\"\(format(top + plotHeight))\" class=\"marker\"/>"
            out += "<text x=\"\(format(rightAligned ? x - 3 : x + 3))\" y=\"\(format(y))\"" + (rightAligned ? " text-anchor=\"end\"" : "")
            out += " class=\"marker-label\">" + escape(text) + "</text>\n"
        }
        return out + "</svg>\n"
    }

    /// `12k`, `3.4M`.
    static func compact(_ value: Int) -> String {
        if value >= 1_000_000 { return String(format: "%.1fM", Double(value) / 1e6) }
        if value >= 10_000 { return "\(value / 1000)k" }
        return grouped(value)
    }

    /// A number for SVG attributes.
    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// For URL fragments: everything but letters, digits and `-._~` percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

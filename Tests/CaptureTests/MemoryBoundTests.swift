// A capture of 100,000 connections that never close, generated and streamed from a file (not
// committed, not held in memory): the reader tracks at most the live-connection limit at once,
// hands every connection out, and its memory stays bounded.

import Capture
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct MemoryBoundTests {
    /// The resident set size of this process (Linux), in bytes.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.filter(\.isNumber)).map { $0 * 1024 }
        }
        return nil
    }

    /// Writes a raw-IP pcap of `count` SMTP connections that open, exchange a greeting and a HELO
    /// and never close, streaming it to `path` in blocks: one connection's six packets are a
    /// template whose addresses, port, time and HELO name are patched per connection.
    static func writeNeverClosingCapture(count: Int, to path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let file = try #require(FileHandle(forWritingAtPath: path))
        defer { try? file.close() }
        var template: [UInt8] = []
        /// Offsets in the template: client address, client port, time, HELO digits.
        var clientAddress: [Int] = []
        var clientPort: [Int] = []
        var times: [Int] = []
        var seqs: (client: UInt32, server: UInt32) = (1000, 7000)
        func le32(_ value: UInt32, into bytes: inout [UInt8]) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        func packet(fromClient: Bool, flags: UInt8, _ text: String = "") {
            let payload = Array(text.utf8)
            let total = 40 + payload.count
            times.append(template.count)
            le32(0, into: &template)
            le32(0, into: &template)
            le32(UInt32(total), into: &template)
            le32(UInt32(total), into: &template)
            let start = template.count
            template += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0]
            template += fromClient ? [10, 0, 0, 0, 192, 0, 2, 25] : [192, 0, 2, 25, 10, 0, 0, 0]
            clientAddress.append(start + (fromClient ? 12 : 16))
            template += fromClient ? [0, 0, 0, 25] : [0, 25, 0, 0]
            clientPort.append(start + (fromClient ? 20 : 22))
            let seq = fromClient ? seqs.client : seqs.server
            let ack = fromClient ? seqs.server : seqs.client
            for value in [seq, ack] { template += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> UInt32($0)) } }
            template += [0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0] + payload
            let advance = UInt32(payload.count) + (flags & 0x02 != 0 ? 1 : 0)
            if fromClient { seqs.client &+= advance } else { seqs.server &+= advance }
        }
        packet(fromClient: true, flags: 0x02)
        packet(fromClient: false, flags: 0x12)
        packet(fromClient: true, flags: 0x10)
        packet(fromClient: false, flags: 0x18, "220 mx.example.net ESMTP\r\n")
        packet(fromClient: true, flags: 0x18, "HELO c000000.example\r\n")
        let digits = template.count - "000000.example\r\n".utf8.count
        packet(fromClient: false, flags: 0x18, "250 mx.example.net\r\n")

        var block: [UInt8] = []
        block.reserveCapacity(1 << 21)
        block += [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 101, 0, 0, 0]
        for index in 0..<count {
            let base = block.count
            block.append(contentsOf: template)
            let address = [UInt8(index >> 16), UInt8((index >> 8) & 0xFF), UInt8(index & 0xFF)]
            let port = 40000 + index % 20000
            let time = UInt32(1_700_000_000 + index / 1000)
            for offset in clientAddress {
                block[base + offset + 1] = address[0]
                block[base + offset + 2] = address[1]
                block[base + offset + 3] = address[2]
            }
            for offset in clientPort {
                block[base + offset] = UInt8(port >> 8)
                block[base + offset + 1] = UInt8(port & 0xFF)
            }
            for offset in times {
                for byte in 0..<4 { block[base + offset + byte] = UInt8(truncatingIfNeeded: time >> UInt32(8 * byte)) }
            }
            var number = index
            for position in stride(from: 5, through: 0, by: -1) {
                block[base + digits + position] = UInt8(48 + number % 10)
                number /= 10
            }
            if block.count >= 1 << 20 {
                file.write(Data(block))
                block.removeAll(keepingCapacity: true)
            }
        }
        file.write(Data(block))
    }

    /// Reads the capture with `limits`, counting (not keeping) the dialogues; returns the summary,
    /// the dialogues delivered before the end of the input, and the largest growth of the
    /// resident set seen while reading.
    static func read(_ path: String, limits: CaptureLimits) throws -> (CaptureSummary, delivered: Int, growth: Int) {
        let baseline = residentBytes() ?? 0
        var peak = baseline
        var delivered = 0
        var indexes = Set<Int>()
        var steps = 0
        let summary = try CaptureReader(options: CaptureOptions(limits: limits, idleTimeout: 0)).read(files: [path]) { dialogue in
            delivered += 1
            indexes.insert(dialogue.index)
            steps += dialogue.steps.count
            if delivered % 4096 == 0, let now = residentBytes() { peak = max(peak, now) }
        }
        peak = max(peak, residentBytes() ?? 0)
        #expect(indexes.count == delivered, "every connection delivered once")
        #expect(steps == summary.steps)
        return (summary, delivered, peak - baseline)
    }

    @Test func hundredThousandConnectionsThatNeverCloseStayWithinTheBound() throws {
        let folder = try TestSupport.temporaryDirectory("never-close")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/never-close.pcap"
        let count = 100_000
        try Self.writeNeverClosingCapture(count: count, to: path)

        // The default limit (100,000 live connections) holds them all until the end of the input,
        // then hands every one out; memory stays within the bound the limit implies: about 6 KB of
        // working memory per live connection measured (plus the bytes each keeps, at most
        // maxBytesPerConnection), 1 GiB asserted for 100,000. (LimitTests: beyond the limit the
        // least recently active are flushed.)
        let (summary, delivered, growth) = try Self.read(path, limits: CaptureLimits())
        #expect(summary.packets == 6 * count)
        #expect(summary.connections == count)
        #expect(delivered == count)
        #expect(summary.peakLiveConnections == count)
        #expect(summary.limitsHit.isEmpty)
        #expect(summary.ends[.captureEnded] == count)
        #expect(summary.steps == count)
        #expect(growth < 1 << 30, "resident memory grew by \(growth >> 20) MiB for \(count) live connections")
        print("100,000 never-closing connections: resident memory grew by \(growth >> 20) MiB")
    }
}

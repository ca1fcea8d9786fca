// The libpcap wrapper: owns a `pcap_t*` (closed in deinit) and hands each record to the
// decoder as a view of libpcap's own buffer, without copying.

internal import CPcap

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One captured record, viewed in libpcap's buffer: valid only during the callback.
@safe
struct PacketView {
    /// The captured bytes (possibly fewer than were on the wire).
    let bytes: UnsafeRawBufferPointer
    /// The packet's length on the wire.
    let wireLength: Int
    /// Capture time in seconds since the epoch (nanosecond resolution).
    let time: Double
}

/// How reading a file ended.
enum PcapReadEnd {
    case endOfFile
    /// libpcap could not read record `packet` (1-based); `offset` is where reading stopped.
    case damaged(packet: Int, offset: Int?, message: String)
}

/// An open capture (file, stdin or memory) read through libpcap.
@safe
final class PcapHandle {
    private let pcap: OpaquePointer
    /// For captures read from memory: the bytes libpcap reads, freed after pcap_close.
    private let memory: UnsafeMutableRawBufferPointer?
    let name: String
    /// libpcap's DLT value for the file.
    let linkType: Int

    private init(pcap: OpaquePointer, memory: UnsafeMutableRawBufferPointer?, name: String) {
        unsafe self.pcap = pcap
        unsafe self.memory = memory
        self.name = name
        self.linkType = Int(unsafe pcap_datalink(pcap))
    }

    deinit {
        unsafe pcap_close(pcap)
        unsafe memory?.deallocate()
    }

    /// Opens a file, or stdin for `-`, with nanosecond timestamps.
    static func open(path: String) throws(CaptureError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let handle = unsafe errorBuffer.withUnsafeMutableBufferPointer { buffer in
            if path == "-" {
                unsafe pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), buffer.baseAddress)
            } else {
                unsafe openFile(path, errorBuffer: buffer.baseAddress)
            }
        }
        guard let handle = unsafe handle else {
            throw CaptureError(code: .cannotOpen, file: path, message: Self.message(errorBuffer, file: path))
        }
        return unsafe PcapHandle(pcap: handle, memory: nil, name: path)
    }

    /// pcap_open_offline for a file (the same errors), but read through a 1 MiB stdio buffer
    /// instead of one of the file system's block size: far fewer read calls.
    private static func openFile(_ path: String, errorBuffer: UnsafeMutablePointer<CChar>?) -> OpaquePointer? {
        guard let file = unsafe fopen(path, "r") else {  // "r" is "rb" on POSIX
            let reason = unsafe String(cString: strerror(errno))
            let message = Array("\(path): \(reason)".utf8.prefix(Int(PCAP_ERRBUF_SIZE) - 1))
            if let errorBuffer = unsafe errorBuffer {
                for (index, byte) in message.enumerated() { unsafe errorBuffer[index] = CChar(bitPattern: byte) }
                unsafe errorBuffer[message.count] = 0
            }
            return nil
        }
        _ = unsafe setvbuf(file, nil, _IOFBF, 1 << 20)
        let handle = unsafe pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_NANO), errorBuffer)
        if unsafe handle == nil { unsafe fclose(file) }
        return unsafe handle
    }

    /// Opens a capture held in memory (the bytes are copied).
    static func open(bytes: [UInt8], name: String) throws(CaptureError) -> PcapHandle {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        unsafe bytes.withUnsafeBytes { source in unsafe memory.copyMemory(from: source) }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let handle = unsafe errorBuffer.withUnsafeMutableBufferPointer { buffer in
            unsafe relaylab_pcap_open_memory(memory.baseAddress, bytes.count, buffer.baseAddress)
        }
        guard let handle = unsafe handle else {
            unsafe memory.deallocate()
            throw CaptureError(code: .cannotOpen, file: name, message: Self.message(errorBuffer, file: name))
        }
        return unsafe PcapHandle(pcap: handle, memory: memory, name: name)
    }

    /// libpcap's name for the link type (`EN10MB`, `LINUX_SLL2`, …), or `DLT <n>`.
    var linkTypeName: String {
        guard let name = unsafe pcap_datalink_val_to_name(Int32(linkType)) else { return "DLT \(linkType)" }
        return unsafe String(cString: name)
    }

    /// libpcap's description of the link type, when it has one.
    var linkTypeDescription: String? {
        guard let text = unsafe pcap_datalink_val_to_description(Int32(linkType)) else { return nil }
        return unsafe String(cString: text)
    }

    /// Compiles `expression` for this file's link type and installs it.
    func setFilter(_ expression: String) throws(CaptureError) {
        if unsafe relaylab_pcap_set_filter(pcap, expression) != 0 {
            let reason = unsafe String(cString: pcap_geterr(pcap))
            throw CaptureError(code: .badFilter, file: name, message: "bad filter '\(expression)': \(reason)")
        }
    }

    /// Calls `body` for each record, in file order, with a view of libpcap's buffer.
    func forEachPacket(_ body: (PacketView) throws -> Void) rethrows -> PcapReadEnd {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var packet = 0
        while true {
            let status = unsafe pcap_next_ex(pcap, &header, &data)
            if status == 1, let header = unsafe header, let data = unsafe data {
                packet += 1
                let caplen = Int(unsafe header.pointee.caplen)
                let seconds = Double(unsafe header.pointee.ts.tv_sec)
                let fraction = Double(unsafe header.pointee.ts.tv_usec) * 1e-9
                let view = unsafe PacketView(
                    bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: caplen),
                    wireLength: Int(unsafe header.pointee.len), time: seconds + fraction)
                try body(view)
            } else if status == PCAP_ERROR_BREAK || status == 0 {
                return .endOfFile
            } else {
                let message = unsafe String(cString: pcap_geterr(pcap))
                let offset = unsafe relaylab_pcap_offset(pcap)
                return .damaged(packet: packet + 1, offset: offset >= 0 ? offset : nil, message: message)
            }
        }
    }

    /// libpcap's message, without the `FILE: ` it starts with when the file could not be opened
    /// (``CaptureError`` names the file itself).
    private static func message(_ buffer: [CChar], file: String? = nil) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        var text = String(decoding: bytes, as: UTF8.self)
        if let file, text.hasPrefix(file + ": ") { text.removeFirst(file.count + 2) }
        return text.isEmpty ? "cannot read the capture" : text
    }
}

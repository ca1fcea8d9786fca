// The public entry point: read capture files (or bytes) and get every SMTP connection's
// reconstructed dialogue, streamed as connections finish.

/// All dialogues of a capture, in `index` order, and the run's summary.
public struct CaptureResult: Sendable {
    public var dialogues: [Dialogue]
    public var summary: CaptureSummary
}

/// Reads pcap and pcapng captures through libpcap and reconstructs the SMTP dialogues.
///
/// Several files are read as one traffic stream, in the order given (a connection may
/// continue from one file into the next); `-` is stdin. Memory is proportional to the live
/// connections (see `CaptureLimits`), not to the capture's size.
///
/// Delivery order: a dialogue is delivered as soon as its connection finishes (both FINs reached
/// in order, or a RST, or a new SYN on the same addresses and ports, or an eviction), so in the
/// order of the packets that finished them; connections still open at the end of the input are
/// delivered last, in `index` order. The order is deterministic for a given input.
public struct CaptureReader: Sendable {
    public var options: CaptureOptions

    public init(options: CaptureOptions = CaptureOptions()) {
        self.options = options
    }

    /// Reads `files` and calls `onDialogue` for each connection as it finishes.
    ///
    /// Files that cannot be opened, have an unsupported link type, or reject the filter are
    /// reported before anything is read (except stdin, checked when its turn comes). A damaged
    /// file is read up to the damage and reported in `CaptureSummary.damage`; reading goes on.
    /// - Throws: `CaptureError`, or whatever `onDialogue` throws (which stops the run).
    public func read(files: [String], onDialogue: (Dialogue) throws -> Void) throws -> CaptureSummary {
        for path in files where path != "-" {
            let handle = try PcapHandle.open(path: path)
            _ = try prepare(handle)
        }
        var engine = CaptureEngine(options: options)
        for path in files {
            let handle = try PcapHandle.open(path: path)
            try read(handle, engine: &engine, onDialogue: onDialogue)
        }
        return try finish(&engine, onDialogue: onDialogue)
    }

    /// Reads a capture held in memory (pcap or pcapng bytes); `name` stands for the file name.
    public func read(
        capture bytes: [UInt8], name: String = "capture", onDialogue: (Dialogue) throws -> Void
    ) throws -> CaptureSummary {
        let handle = try PcapHandle.open(bytes: bytes, name: name)
        var engine = CaptureEngine(options: options)
        try read(handle, engine: &engine, onDialogue: onDialogue)
        return try finish(&engine, onDialogue: onDialogue)
    }

    /// Reads `files` and returns every dialogue, sorted by `index`.
    public func readAll(files: [String]) throws -> CaptureResult {
        var dialogues: [Dialogue] = []
        let summary = try read(files: files) { dialogues.append($0) }
        dialogues.sort { $0.index < $1.index }
        return CaptureResult(dialogues: dialogues, summary: summary)
    }

    /// Reads a capture held in memory and returns every dialogue, sorted by `index`.
    public func readAll(capture bytes: [UInt8], name: String = "capture") throws -> CaptureResult {
        var dialogues: [Dialogue] = []
        let summary = try read(capture: bytes, name: name) { dialogues.append($0) }
        dialogues.sort { $0.index < $1.index }
        return CaptureResult(dialogues: dialogues, summary: summary)
    }

    // MARK: - Internals

    /// Checks the link type and installs the filter.
    private func prepare(_ handle: PcapHandle) throws(CaptureError) -> LinkKind {
        guard let kind = LinkKind(dlt: handle.linkType) else {
            let description = handle.linkTypeDescription.map { ", \($0)" } ?? ""
            throw CaptureError(
                code: .unsupportedLinkType, file: handle.name,
                message: "unsupported link type \(handle.linkType) (\(handle.linkTypeName)\(description)); supported: \(LinkKind.supportedNames)")
        }
        if let filter = options.filter { try handle.setFilter(filter) }
        return kind
    }

    private func read(
        _ handle: PcapHandle, engine: inout CaptureEngine, onDialogue: (Dialogue) throws -> Void
    ) throws {
        let kind = try prepare(handle)
        engine.beginFile(name: handle.name)
        let packetsBefore = engine.summary.packets
        let bytesBefore = engine.summary.bytes
        let end = try handle.forEachPacket { packet in
            engine.decode(packet, link: kind)
            if !engine.ready.isEmpty { try deliver(&engine, onDialogue) }
        }
        var file = CaptureFileSummary(
            path: handle.name, linkType: handle.linkTypeName, linkTypeNumber: handle.linkType,
            packets: engine.summary.packets - packetsBefore, bytes: engine.summary.bytes - bytesBefore, damage: nil)
        if case .damaged(let packet, let offset, let message) = end {
            let damage = CaptureDamage(file: handle.name, packet: packet, offset: offset, message: message)
            file.damage = damage
            engine.summary.damage.append(damage)
        }
        engine.summary.files.append(file)
    }

    private func deliver(_ engine: inout CaptureEngine, _ onDialogue: (Dialogue) throws -> Void) throws {
        var ready: [FinishedConnection] = []
        swap(&ready, &engine.ready)
        if ready.count == 1, let finished = ready.popLast() {
            // The usual case without reconstruction threads: moved out of the array and lent
            // to `onDialogue` (handed out of the array directly, it would be copied first).
            try onDialogue(finished.dialogue)
        } else {
            for index in ready.indices { try onDialogue(ready[index].dialogue) }
            engine.delivered(&ready)
        }
        swap(&ready, &engine.ready)
    }

    private func finish(_ engine: inout CaptureEngine, onDialogue: (Dialogue) throws -> Void) throws -> CaptureSummary {
        engine.finishAll()
        try deliver(&engine, onDialogue)
        engine.finalizeSummary()
        return engine.summary
    }
}

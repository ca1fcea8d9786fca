public import Capture
import Foundation
import Scenarios

/// How far a replay has got, for a progress line.
public struct ReplayProgress: Sendable {
    /// Capture bytes read so far (nil when it cannot be known, e.g. standard input).
    public var bytesRead: Int?
    /// The capture files' total size (nil when unknown).
    public var totalBytes: Int?
    /// Connections replayed so far.
    public var connections: Int
    /// Seconds since the start.
    public var elapsed: Double
    /// Whether this is the last report.
    public var final: Bool
}

/// Reads captures and replays every reconstructed connection through the simulated chain.
///
/// The capture is read and reassembled on the calling thread; connections, which are
/// independent, are replayed on `threads` worker threads in batches, and handed back in a
/// deterministic order (the order in which the capture layer finished them) on the calling
/// thread. At most a few batches are in flight, so memory is bounded by the live connections,
/// not by the capture's size. With `threads == 1` everything runs on the calling thread.
public final class ReplayRunner {
    private struct Job: Sendable {
        var dialogue: Dialogue
        var target: ReplayTarget?
        var clientName: String?
        var skipReason: String?
    }

    public let listeners: ReplayListeners
    /// Explicit PTR names (`--ptr`); PTR answers found in the capture fill in the rest.
    public var ptr: ReplayPTRTable?
    public var options: ReplayOptions
    public var captureOptions: CaptureOptions
    /// Replaying threads (1: everything on the calling thread).
    public var threads: Int
    /// Connections per batch handed to a worker. Small, so that the dialogues in flight (at
    /// most four batches per thread) stay in the processors' caches between the thread that
    /// reassembled them and the one replaying them: 32 took about 15 % less CPU than 256 on two
    /// threads (16: no better than 32), measured interleaved on the bench capture.
    public var batchSize = 32
    /// Seconds between progress reports.
    public var progressInterval = 0.25

    public init(
        listeners: ReplayListeners, ptr: ReplayPTRTable? = nil, options: ReplayOptions = ReplayOptions(),
        captureOptions: CaptureOptions = CaptureOptions(), threads: Int = ReplayRunner.defaultThreads
    ) {
        self.listeners = listeners
        self.ptr = ptr
        self.options = options
        self.captureOptions = captureOptions
        self.threads = max(1, threads)
    }

    /// The number of processors available.
    public static var defaultThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Reads `files` (several files are one traffic stream; `-` is standard input), replays
    /// every connection and hands each result to `onConnection`, on the calling thread. The
    /// sessions keep no message bytes (``ReplayListeners/keepsMessageBytes`` is turned off).
    ///
    /// - Throws: ``CaptureError`` (a file that cannot be read, a bad filter), ``ScenarioError``
    ///   (a listener's configuration cannot be loaded), or what `onConnection` throws.
    /// - Returns: the capture layer's summary (packets, damage, limits).
    public func run(
        files: [String], progress: ((ReplayProgress) -> Void)? = nil, onConnection: (ReplayedConnection) throws -> Void
    ) throws -> CaptureSummary {
        try listeners.validate()
        listeners.keepsMessageBytes = false
        let replayer = ConnectionReplayer(options: options)
        let start = ReplayRunner.now()
        let tracker = progress == nil ? nil : _ReplayFileProgress(files: files)
        var lastReport = start
        var delivered = 0
        var batch: [Job] = []
        batch.reserveCapacity(batchSize)
        let reader = CaptureReader(options: captureOptions)
        let queue: _ReplayWorkQueue<Job, ReplayedConnection>? =
            threads > 1
            ? _ReplayWorkQueue(workers: threads, capacity: threads * 4) {
                let cache = _ReplayAcceptCache()
                return { job in
                    replayer.replay(
                        job.dialogue, target: job.target, clientName: job.clientName, skipReason: job.skipReason, cache: cache)
                }
            }
            : nil
        let cache = _ReplayAcceptCache()
        func deliver(_ results: [ReplayedConnection]) throws {
            for index in results.indices { try onConnection(results[index]) }
            delivered += results.count
        }
        func report(final: Bool) {
            guard let progress, let tracker else { return }
            let now = ReplayRunner.now()
            guard final || now - lastReport >= progressInterval else { return }
            lastReport = now
            let (read, total) = tracker.position()
            progress(ReplayProgress(bytesRead: read, totalBytes: total, connections: delivered, elapsed: now - start, final: final))
        }
        let summary: CaptureSummary
        do {
            summary = try reader.read(files: files) { dialogue in
                let target = try listeners.target(for: dialogue.server)
                let skipReason = target == nil ? listeners.noListenerReason(for: dialogue.server) : nil
                if let queue {
                    batch.append(
                        Job(dialogue: dialogue, target: target, clientName: clientName(for: dialogue), skipReason: skipReason))
                    if batch.count >= batchSize {
                        try queue.submit(batch, drain: deliver)
                        batch.removeAll(keepingCapacity: true)
                    }
                } else {
                    // One thread: straight to `onConnection`, no job (no copy of the dialogue), no
                    // batch or result array.
                    try onConnection(
                        replayer.replay(
                            dialogue, target: target, clientName: clientName(for: dialogue), skipReason: skipReason,
                            cache: cache))
                    delivered += 1
                }
                if progress != nil { report(final: false) }
            }
            if let queue {
                if !batch.isEmpty { try queue.submit(batch, drain: deliver) }
                try queue.finish(drain: deliver)
            }
        } catch {
            queue?.stopWorkers()
            throw error
        }
        report(final: true)
        return summary
    }

    /// The client's PTR name: `--ptr` first, then the capture's DNS answers.
    public func clientName(for dialogue: Dialogue) -> String? {
        ReplayRunner.clientName(for: dialogue, ptr: ptr)
    }

    /// The client's PTR name: from `ptr` when it lists the client, else the capture's DNS
    /// answers (the first name; none for a negative answer).
    public static func clientName(for dialogue: Dialogue, ptr: ReplayPTRTable?) -> String? {
        if let entry = ptr?.entry(for: dialogue.client.ip) { return entry }
        return dialogue.clientPTR?.first
    }

    static func now() -> Double {
        ProcessInfo.processInfo.systemUptime
    }
}

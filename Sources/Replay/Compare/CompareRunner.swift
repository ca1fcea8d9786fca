public import Capture
import CDB
import Foundation
import RelayEngine
public import Scenarios

/// Simulates the same client traffic against two configurations side by side, in one pass over
/// the input, and compares every decision.
///
/// - Captures: each reconstructed connection is replayed through both configurations exactly as
///   `relaylab replay` replays it (the recorded client bytes; where a side answers so that a real
///   client would have stopped — DATA or AUTH refused, the connection dropped — that side follows
///   what the client would have done). Reading and reassembly happen once, on the calling
///   thread; connections are replayed on `threads` worker threads and handed back in order.
/// - Scenario files: each connection runs against both configurations (its steps react to each
///   side's answers: a refused DATA sends no message). The file's own `config:` is replaced by
///   the two sides'; the server address the connection arrives at selects each side's listener.
///   Expectations are ignored: the baseline is the expectation.
public final class CompareRunner {
    private struct Job: Sendable {
        var dialogue: Dialogue
        var baseline: ReplayTarget?
        var candidate: ReplayTarget?
        var baselineSkip: String?
        var candidateSkip: String?
        var clientName: String?
    }

    public let baseline: ReplayListeners
    public let candidate: ReplayListeners
    /// Scenario connections compared so far (the phase of their lookup sampling).
    private var scenarioConnections = 0
    /// Explicit PTR names (`--ptr`) for captured clients; the capture's DNS answers fill in the rest.
    public var ptr: ReplayPTRTable?
    public var captureOptions: CaptureOptions
    /// Replaying threads for captures (1: everything on the calling thread).
    public var threads: Int
    /// Captured connections per batch handed to a worker.
    public var batchSize = 128
    /// Collect the cdb lookups of both sides (``CompareSummary/lookups``), timing one in this
    /// many (0: count without timing).
    public var lookupSampleEvery = 0
    /// The most bytes read from a scenario file and from each file it names.
    public var maxFileBytes = YAMLSource.defaultMaxFileBytes

    public init(
        baseline: ReplayListeners, candidate: ReplayListeners, ptr: ReplayPTRTable? = nil,
        captureOptions: CaptureOptions = CaptureOptions(), threads: Int = ReplayRunner.defaultThreads
    ) {
        self.baseline = baseline
        self.candidate = candidate
        self.ptr = ptr
        self.captureOptions = captureOptions
        self.threads = max(1, threads)
    }

    /// Compares every connection of `captures` (read as one traffic stream) and of `scenarios`,
    /// handing each to `onConnection` on the calling thread, captures first.
    ///
    /// - Throws: ``ScenarioError`` (a configuration cannot be loaded), ``ScenarioErrors`` (a
    ///   scenario file is malformed), ``CaptureError`` (a capture cannot be read), or what
    ///   `onConnection` throws.
    /// - Returns: the capture layer's summary, when captures were read.
    @discardableResult
    public func run(
        captures: [String], scenarios: [String], onConnection: (ComparedConnection) throws -> Void
    ) throws -> CaptureSummary? {
        try baseline.validate()
        try candidate.validate()
        var summary: CaptureSummary? = nil
        if !captures.isEmpty { summary = try runCaptures(captures, onConnection: onConnection) }
        for path in scenarios {
            let file = try ScenarioFile.load(path: path, maxFileBytes: maxFileBytes)
            for connection in file.connections {
                try onConnection(compare(connection, suite: file.path))
            }
        }
        return summary
    }

    // MARK: - Captures

    private func runCaptures(_ files: [String], onConnection: (ComparedConnection) throws -> Void) throws -> CaptureSummary {
        let reader = CaptureReader(options: captureOptions)
        let queue: _ReplayWorkQueue<Job, ComparedConnection>? =
            threads > 1
            ? _ReplayWorkQueue(workers: threads, capacity: threads * 4) { [lookupSampleEvery] in
                let caches = (_ReplayAcceptCache(), _ReplayAcceptCache())
                return { job in CompareRunner.compare(job, caches: caches, lookupSampleEvery: lookupSampleEvery) }
            } : nil
        let caches = (_ReplayAcceptCache(), _ReplayAcceptCache())
        var batch: [Job] = []
        func deliver(_ results: [ComparedConnection]) throws {
            for result in results { try onConnection(result) }
        }
        do {
            let summary = try reader.read(files: files) { dialogue in
                let baselineTarget = try baseline.target(for: dialogue.server)
                let candidateTarget = try candidate.target(for: dialogue.server)
                let job = Job(
                    dialogue: dialogue, baseline: baselineTarget, candidate: candidateTarget,
                    baselineSkip: baselineTarget == nil ? baseline.noListenerReason(for: dialogue.server) : nil,
                    candidateSkip: candidateTarget == nil ? candidate.noListenerReason(for: dialogue.server) : nil,
                    clientName: ptr?.entry(for: dialogue.client.ip) ?? dialogue.clientPTR?.first)
                if let queue {
                    batch.append(job)
                    if batch.count >= batchSize {
                        try queue.submit(batch, drain: deliver)
                        batch.removeAll(keepingCapacity: true)
                    }
                } else {
                    try onConnection(CompareRunner.compare(job, caches: caches, lookupSampleEvery: lookupSampleEvery))
                }
            }
            if let queue {
                if !batch.isEmpty { try queue.submit(batch, drain: deliver) }
                try queue.finish(drain: deliver)
            }
            return summary
        } catch {
            queue?.stopWorkers()
            throw error
        }
    }

    /// Replays one captured connection through both sides and compares them. Each side keeps
    /// its own cache of tcpserver's decisions (`relaylab replay`'s shortcut for clients seen
    /// before); when the two sides differ, both are replayed again in full, so that every
    /// difference comes with the complete explanation chains.
    private static func compare(
        _ job: Job, caches: (_ReplayAcceptCache, _ReplayAcceptCache)?, lookupSampleEvery: Int
    ) -> ComparedConnection {
        var options = ReplayOptions(keepAllSteps: true)
        options.lookupSampleEvery = lookupSampleEvery
        let replayer = ConnectionReplayer(options: options)
        let dialogue = job.dialogue
        let suite = dialogue.sourceFile
        func run(_ cached: Bool) -> ComparedConnection {
            let left = replayer.replay(
                dialogue, target: job.baseline, clientName: job.clientName, skipReason: job.baselineSkip,
                cache: cached ? caches?.0 : nil)
            let right = replayer.replay(
                dialogue, target: job.candidate, clientName: job.clientName, skipReason: job.candidateSkip,
                cache: cached ? caches?.1 : nil)
            var connection = ComparedConnection(
                suite: suite, name: left.name, source: dialogue.source,
                client: Endpoint(ip: dialogue.client.ip, port: dialogue.client.port, name: job.clientName),
                server: Endpoint(ip: dialogue.server.ip, port: dialogue.server.port))
            _CompareComparator.compare(
                _CompareRun(replayed: left, suite: suite), _CompareRun(replayed: right, suite: suite), into: &connection)
            connection.baselineLookups = left.lookups
            connection.candidateLookups = right.lookups
            connection.baselineReusedDecision = left.reusedTCPServerDecision
            connection.candidateReusedDecision = right.reusedTCPServerDecision
            return connection
        }
        let quick = run(caches != nil)
        if caches != nil, quick.hasDifferences || !quick.notes.isEmpty {
            // Both runs' lookups were made: they all count.
            var full = run(false)
            full.baselineLookups = CompareRunner.sum(quick.baselineLookups, full.baselineLookups)
            full.candidateLookups = CompareRunner.sum(quick.candidateLookups, full.candidateLookups)
            full.baselineReusedDecision = quick.baselineReusedDecision
            full.candidateReusedDecision = quick.candidateReusedDecision
            return full
        }
        return quick
    }

    private static func sum(_ first: SessionLookups?, _ second: SessionLookups?) -> SessionLookups? {
        guard var total = first else { return second }
        if let second { total.add(second) }
        return total
    }

    // MARK: - Scenarios

    /// Runs one scenario connection against both sides and compares them.
    public func compare(_ scenario: ScenarioConnection, suite: String) throws(ScenarioError) -> ComparedConnection {
        var connection = scenario
        connection.expectation = nil
        for index in connection.steps.indices {
            connection.steps[index].expectations = []
            connection.steps[index].expectsNoReply = false
        }
        let spec = connection.configuration
        let server = Capture.Endpoint(ip: spec.server.ip ?? ServerSpec.defaultIP, port: spec.server.port ?? ServerSpec.defaultPort)
        let timing =
            lookupSampleEvery > 0 ? CDBLookupRecorder.Sampling(every: lookupSampleEvery, phase: scenarioConnections) : nil
        scenarioConnections += 1
        var lookups: [SessionLookups?] = []
        func run(_ listeners: ReplayListeners) throws(ScenarioError) -> _CompareRun {
            guard let target = try listeners.target(for: server) else {
                lookups.append(nil)
                return .skipped(listeners.noListenerReason(for: server))
            }
            var result = ScenarioRunner.run(
                connection, configuration: target.configuration, suite: suite, warnings: [], lookupTiming: timing)
            lookups.append(result.lookups)
            result.listener = target.name
            var run = _CompareRun(scenario: result)
            run.listener = target.name
            return run
        }
        var compared = ComparedConnection(
            suite: suite, name: scenario.name, position: scenario.position,
            client: Endpoint(ip: scenario.client.ip, port: scenario.client.port, name: scenario.client.ptr),
            server: Endpoint(ip: server.ip, port: server.port))
        _CompareComparator.compare(try run(baseline), try run(candidate), into: &compared)
        compared.baselineLookups = lookups[0]
        compared.candidateLookups = lookups[1]
        return compared
    }
}

import CDB
import Dispatch
import Foundation
public import RelayEngine
public import Scenarios

/// Something a check produces, in order.
public enum CheckEvent: Sendable {
    /// A connection was checked.
    case result(ConnectionResult)
    /// A file could not be checked (or a warning about one).
    case problem(ReportProblem)
}

/// Checks scenario files: in parallel across files, reporting in file order.
///
/// ```swift
/// var writer = ReportFormat.human.makeWriter()
/// let summary = CheckRunner(jobs: 4).run(files: try ScenarioDiscovery.files(for: ["scenarios"])) { event in
///     switch event {
///     case .result(let result): print(writer.write(result), terminator: "")
///     case .problem(let problem): print(writer.write(problem), terminator: "")
///     }
/// }
/// exit(summary.exitStatus)
/// ```
public struct CheckRunner: Sendable {
    /// How many files are checked at once.
    public var jobs: Int
    /// Collect the cdb lookups into the summary (``ReportSummary/lookups``), timing one in
    /// this many (0: count without timing); nil: don't collect them.
    public var lookupSampleEvery: Int? = nil
    /// The most bytes read from a scenario file and from each file it names.
    public var maxFileBytes: Int
    /// How many client bytes the engine keeps per line and per message.
    public var limits: RelayLimits
    /// How much of each passing connection's result to make (see ``ScenarioRunner/Detail``).
    public var detail: ScenarioRunner.Detail = .everyStep

    /// - Parameters:
    ///   - jobs: files checked at once (default: one per processor).
    ///   - maxFileBytes: the most bytes read from a scenario file and from each file it names.
    ///   - limits: how many client bytes the engine keeps.
    public init(jobs: Int? = nil, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes, limits: RelayLimits = RelayLimits()) {
        self.jobs = max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        self.maxFileBytes = maxFileBytes
        self.limits = limits
    }

    /// Checks `files` and hands every event to `emit`, on the calling thread, in file order
    /// (and within a file, in connection order) as soon as it is known, so memory stays
    /// proportional to the files being checked rather than to the whole run.
    ///
    /// - Returns: the counts; ``ReportSummary/errors`` counts problems that are not warnings.
    public func run(files: [String], emit: (CheckEvent) -> Void) -> ReportSummary {
        var summary = ReportSummary()
        if let lookupSampleEvery { summary.lookups = LookupStatistics(sampleEvery: lookupSampleEvery) }
        let sampleEvery = lookupSampleEvery ?? 0
        func count(_ event: CheckEvent) {
            switch event {
            case .result(let result): summary.add(result)
            case .problem(let problem):
                if !problem.isWarning { summary.errors += 1 }
                summary.addSkipped(problem.skippedConnections, reason: problem.skipReason)
            }
            emit(event)
        }
        if files.count <= 1 || jobs == 1 {
            for file in files { CheckRunner.check(file: file, maxFileBytes: maxFileBytes, limits: limits, lookupSampleEvery: sampleEvery, detail: detail, emit: count) }
            return summary
        }
        // Workers stay at most 2 × jobs files ahead of the file being reported, so memory holds a
        // bounded number of files' results, not the whole run's.
        let queue = _OrderedEventQueue(files: files.count, window: 2 * jobs)
        let workers = min(jobs, files.count)
        DispatchQueue.global().async {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let index = queue.claim() {
                    var batch: [CheckEvent] = []
                    CheckRunner.check(
                        file: files[index], maxFileBytes: maxFileBytes, limits: limits, lookupSampleEvery: sampleEvery, detail: detail
                    ) { event in
                        batch.append(event)
                        if batch.count >= 256 {
                            queue.append(batch, to: index)
                            batch = []
                        }
                    }
                    queue.finish(index, with: batch)
                }
            }
        }
        for index in files.indices {
            while true {
                let (events, done) = queue.take(index)
                for event in events { count(event) }
                if done { break }
            }
        }
        return summary
    }

    /// Checks one file, handing events to `emit` in order: the file's problems (then nothing
    /// else: a file with an error is not run), or one result per connection.
    ///
    /// - Parameters:
    ///   - lookupSampleEvery: time one cdb lookup in this many (0: only count them).
    ///   - detail: how much of a passing connection's result to make.
    public static func check(
        file path: String, maxFileBytes: Int = YAMLSource.defaultMaxFileBytes, limits: RelayLimits = RelayLimits(),
        lookupSampleEvery: Int = 0, detail: ScenarioRunner.Detail = .everyStep, emit: (CheckEvent) -> Void
    ) {
        let scenario: ScenarioFile
        do {
            scenario = try ScenarioFile.load(path: path, maxFileBytes: maxFileBytes)
        } catch {
            for problem in error.errors { emit(.problem(ReportProblem(problem))) }
            return
        }
        check(scenario, limits: limits, lookupSampleEvery: lookupSampleEvery, detail: detail, emit: emit)
    }

    /// Checks scenario text already in memory (see ``check(file:emit:)``); the source's path is
    /// what reports show.
    public static func check(source: YAMLSource, limits: RelayLimits = RelayLimits(), emit: (CheckEvent) -> Void) {
        let scenario: ScenarioFile
        do throws(ScenarioErrors) {
            let root: YAMLNode
            do {
                root = try source.root()
            } catch {
                throw ScenarioErrors([error])
            }
            scenario = try ScenarioFile(yaml: root)
        } catch {
            for problem in error.errors { emit(.problem(ReportProblem(problem))) }
            return
        }
        check(scenario, limits: limits, emit: emit)
    }

    /// Checks a parsed scenario file (see ``check(file:emit:)``).
    public static func check(
        _ scenario: ScenarioFile, limits: RelayLimits = RelayLimits(), lookupSampleEvery: Int = 0,
        detail: ScenarioRunner.Detail = .everyStep, emit: (CheckEvent) -> Void
    ) {
        for warning in scenario.warnings { emit(.problem(ReportProblem(warning, isWarning: true))) }
        // Resolve every configuration first: a file with a configuration error is not run.
        let loader = ConfigurationLoader(limits: limits)
        var configurations: [RelayConfigurationBox] = []
        configurations.reserveCapacity(scenario.connections.count)
        var problems: [ScenarioError] = []
        var seen: Set<String> = []
        // By index, here and below: a connection is a large struct, and a loop over the
        // connections would copy each one.
        var previous: (index: Int, box: RelayConfigurationBox)? = nil
        for ordinal in scenario.connections.indices {
            if let previous, scenario.connections[previous.index].sharesConfiguration(with: scenario.connections[ordinal]) {
                configurations.append(previous.box)
                continue
            }
            do {
                let spec = scenario.connections[ordinal].configuration
                let configuration = try loader.configuration(for: spec, context: scenario.connections[ordinal].position)
                let box = RelayConfigurationBox(
                    configuration, connection: loader.connection(for: spec, clientIP: scenario.connections[ordinal].client.ip))
                configurations.append(box)
                previous = (ordinal, box)
            } catch {
                if seen.insert(error.description).inserted { problems.append(error) }
            }
        }
        if !problems.isEmpty {
            // The connections are counted as skipped, with the first problem as the reason.
            for (index, problem) in problems.enumerated() {
                var report = ReportProblem(problem)
                if index == 0 { report.skippedConnections = scenario.connections.count }
                emit(.problem(report))
            }
            return
        }
        for ordinal in scenario.connections.indices {
            let box = configurations[ordinal]
            let timing = lookupSampleEvery > 0 ? CDBLookupRecorder.Sampling(every: lookupSampleEvery, phase: ordinal) : nil
            emit(
                .result(
                    ScenarioRunner.run(
                        scenario.connections[ordinal], configuration: box.configuration, suite: scenario.path,
                        warnings: box.warnings, lookupTiming: timing, detail: detail)))
        }
    }
}

/// A loaded configuration shared by reference between the connections that use it.
final class RelayConfigurationBox {
    let configuration: RelayConfiguration
    /// The configuration's warnings as report text (the same for every connection).
    let warnings: [String]

    init(_ configuration: RelayConfiguration, connection: ClientConnection) {
        self.configuration = configuration
        self.warnings = ScenarioRunner.warningTexts(RelaySession(configuration: configuration, connection: connection).warnings)
    }
}

/// Per-file event buffers: workers append, the reader takes them in file order.
final class _OrderedEventQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var next = 0
    private var buffers: [[CheckEvent]]
    private var done: [Bool]
    /// The file being reported.
    private var head = 0
    /// How far ahead of `head` files may be claimed.
    private let window: Int

    init(files: Int, window: Int) {
        buffers = Array(repeating: [], count: files)
        done = Array(repeating: false, count: files)
        self.window = max(1, window)
    }

    /// The next file to check (waiting while the workers are too far ahead of the report), or
    /// nil when all are taken.
    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while next < buffers.count && next >= head + window { condition.wait() }
        guard next < buffers.count else { return nil }
        next += 1
        return next - 1
    }

    func append(_ events: [CheckEvent], to index: Int) {
        condition.lock()
        buffers[index] += events
        condition.broadcast()
        condition.unlock()
    }

    func finish(_ index: Int, with events: [CheckEvent]) {
        condition.lock()
        buffers[index] += events
        done[index] = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for events of file `index` (or its end) and takes them.
    func take(_ index: Int) -> ([CheckEvent], Bool) {
        condition.lock()
        defer { condition.unlock() }
        while buffers[index].isEmpty && !done[index] { condition.wait() }
        let events = buffers[index]
        buffers[index] = []
        if done[index] {
            head = index + 1
            condition.broadcast()
        }
        return (events, done[index])
    }
}

import Foundation

// The hand-off between the thread reading the capture and the threads replaying connections:
// numbered batches go in, results come out in batch order, at most `capacity` batches in flight
// (so memory stays bounded whatever the capture's size). Locks and threads only; no unsafe code.

/// A bounded, ordered work queue of numbered batches.
final class _ReplayWorkQueue<Job: Sendable, Result: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [(id: Int, jobs: [Job])] = []
    private var pendingHead = 0
    private var done: [Int: [Result]] = [:]
    private var closed = false
    private var nextID = 0
    private var nextToDrain = 0
    private let capacity: Int
    private let makeWork: @Sendable () -> (Job) -> Result
    private var threads: [Thread] = []
    private var running = 0

    /// Starts `workers` threads, each applying its own `makeWork()` (which may keep per-thread
    /// state, such as caches) to the jobs it takes.
    init(workers: Int, capacity: Int, makeWork: @escaping @Sendable () -> (Job) -> Result) {
        self.capacity = max(1, capacity)
        self.makeWork = makeWork
        running = workers
        for number in 0..<workers {
            let thread = Thread { [self] in self.workerLoop() }
            thread.name = "relaylab-replay-\(number + 1)"
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// Submits a batch; blocks while `capacity` batches are in flight, handing finished batches
    /// (in order) to `drain` meanwhile.
    func submit(_ jobs: [Job], drain: ([Result]) throws -> Void) rethrows {
        condition.lock()
        while nextID - nextToDrain >= capacity {
            if let results = done.removeValue(forKey: nextToDrain) {
                nextToDrain += 1
                condition.unlock()
                try drain(results)
                condition.lock()
            } else {
                condition.wait()
            }
        }
        pending.append((nextID, jobs))
        nextID += 1
        condition.broadcast()
        condition.unlock()
        try drainReady(drain)
    }

    /// Hands every finished batch that is next in order to `drain`, without waiting.
    func drainReady(_ drain: ([Result]) throws -> Void) rethrows {
        while true {
            condition.lock()
            guard let results = done.removeValue(forKey: nextToDrain) else {
                condition.unlock()
                return
            }
            nextToDrain += 1
            condition.unlock()
            try drain(results)
        }
    }

    /// Waits for every submitted batch and hands the rest to `drain` in order; stops the workers.
    func finish(drain: ([Result]) throws -> Void) rethrows {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
        defer { stopWorkers() }
        while true {
            condition.lock()
            while nextToDrain < nextID && done[nextToDrain] == nil { condition.wait() }
            guard nextToDrain < nextID, let results = done.removeValue(forKey: nextToDrain) else {
                condition.unlock()
                return
            }
            nextToDrain += 1
            condition.unlock()
            try drain(results)
        }
    }

    /// Stops the workers (after `finish`, or when the reader gives up with an error).
    func stopWorkers() {
        condition.lock()
        closed = true
        pending.removeAll()
        pendingHead = 0
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func workerLoop() {
        let work = makeWork()
        while true {
            condition.lock()
            while pendingHead >= pending.count && !closed { condition.wait() }
            guard pendingHead < pending.count else {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let (id, jobs) = pending[pendingHead]
            // Release the batch here: the queue must not keep consumed dialogues alive.
            pending[pendingHead].jobs = []
            pendingHead += 1
            if pendingHead >= 16 && pendingHead * 2 >= pending.count {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            condition.unlock()
            var results: [Result] = []
            results.reserveCapacity(jobs.count)
            for job in jobs { results.append(work(job)) }
            condition.lock()
            done[id] = results
            condition.broadcast()
            condition.unlock()
        }
    }
}

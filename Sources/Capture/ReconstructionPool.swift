// Reconstruction threads: finished connections go in batches to serial queues; the reading
// thread collects the batches back strictly in submission order, so the dialogues come out
// in the same order as without threads.

import Dispatch

final class ReconstructionPool: @unchecked Sendable {
    /// Connections per batch (the per-batch overhead is a queue hop and two semaphore operations).
    static let batchSize = 64

    private let queues: [DispatchQueue]
    private let limits: CaptureLimits
    /// Guards `results`.
    private let lock = DispatchSemaphore(value: 1)
    /// Signalled once per finished batch.
    private let finished = DispatchSemaphore(value: 0)
    private var results: [Int: [FinishedConnection]] = [:]
    /// Used by the reading thread only.
    private var submitted = 0
    private var collected = 0
    private var disposed = 0
    private let maxOutstanding: Int

    init(threads: Int, limits: CaptureLimits) {
        queues = (0..<threads).map { DispatchQueue(label: "relaylab.capture.reconstruction.\($0)") }
        self.limits = limits
        maxOutstanding = 2 * threads
    }

    /// Queues a batch (reading thread only); `batch` is left empty.
    func submit(_ batch: inout [PendingFinish]) {
        let number = submitted
        submitted += 1
        // Moved into the box, so that the reconstruction thread holds the only reference.
        let box = HandOff<[PendingFinish]>(value: [])
        swap(&box.value, &batch)
        queues[number % queues.count].async { [self] in
            // Taken out of the box, the batch is the only reference to its array and is changed
            // in place (a captured array would be copied, connections and all, at the first change).
            var batch: [PendingFinish] = []
            swap(&batch, &box.value)
            var builder = DialogueBuilder(limits: limits)
            var output: [FinishedConnection] = []
            output.reserveCapacity(batch.count)
            for index in batch.indices {
                output.append(builder.build(&batch[index].connection, batch[index].context))
            }
            lock.wait()
            results[number] = output
            lock.signal()
            finished.signal()
        }
    }

    /// Frees delivered dialogues on a reconstruction thread rather than on the reading thread
    /// (reading thread only); `delivered` is left empty.
    func dispose(_ delivered: inout [FinishedConnection]) {
        let box = HandOff<[FinishedConnection]>(value: [])
        swap(&box.value, &delivered)
        disposed += 1
        queues[disposed % queues.count].async { box.value = [] }
    }

    /// The finished batches, in submission order: those done already, waiting while more than a
    /// few are outstanding (memory stays bounded), or all of them with `waitForAll`.
    func collect(waitForAll: Bool) -> [[FinishedConnection]] {
        var batches: [[FinishedConnection]] = []
        while collected < submitted {
            lock.wait()
            let done = results.removeValue(forKey: collected)
            lock.signal()
            if let done {
                batches.append(done)
                collected += 1
            } else if waitForAll || submitted - collected > maxOutstanding {
                finished.wait()
            } else {
                break
            }
        }
        return batches
    }
}

/// Hands a value to a reconstruction thread: only that thread touches it once queued.
private final class HandOff<Value>: @unchecked Sendable {
    var value: Value

    init(value: Value) {
        self.value = value
    }
}

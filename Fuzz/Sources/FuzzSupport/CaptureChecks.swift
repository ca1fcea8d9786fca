import Capture

/// What must hold for every capture read: each connection delivered once, the summary adds up,
/// and no dialogue keeps more than the limits allow.
public func checkCaptureResult(_ dialogues: [Dialogue], _ summary: CaptureSummary, limits: CaptureLimits) {
    fuzzCheck(summary.connections == dialogues.count, "summary counts \(summary.connections) connections, \(dialogues.count) delivered")
    fuzzCheck(summary.completeConnections + summary.incompleteConnections == summary.connections, "complete + incomplete != connections")
    fuzzCheck(summary.ends.values.reduce(0, +) == summary.connections, "ends do not add up to connections")
    fuzzCheck(summary.steps == dialogues.reduce(0) { $0 + $1.steps.count }, "step count differs")
    fuzzCheck(summary.unobservableSteps == dialogues.reduce(0) { $0 + $1.unobservableSteps }, "unobservable step count differs")
    let indexes = Set(dialogues.map(\.index))
    fuzzCheck(indexes.count == dialogues.count, "a connection was delivered twice")
    fuzzCheck(indexes.allSatisfy { $0 >= 0 && $0 < dialogues.count }, "connection indexes are not 0..<count")
    for dialogue in dialogues {
        fuzzCheck(dialogue.clientStream.count + dialogue.serverStream.count <= limits.maxBytesPerConnection,
            "connection \(dialogue.index) keeps \(dialogue.clientStream.count + dialogue.serverStream.count) bytes, limit \(limits.maxBytesPerConnection)")
        fuzzCheck(dialogue.problems.allSatisfy { isOneLine($0.message) }, "a problem message is not one line")
        for step in dialogue.steps {
            fuzzCheck(step.lostBytes >= 0, "negative lost bytes")
            _ = step.line
            _ = step.verb
        }
    }
    for (kind, count) in summary.limitsHit { fuzzCheck(count > 0, "limit \(kind) counted \(count) times") }
}

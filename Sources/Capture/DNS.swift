// DNS responses in the capture: the PTR answers (address -> names) tcpserver would have got.

/// A reverse-DNS answer seen in a DNS response.
struct PTRAnswer: Equatable {
    /// The address asked about (dotted quad, or compressed IPv6).
    var address: String
    /// The names answered, in order; empty for a negative answer (NXDOMAIN, or no PTR record).
    var names: [String]
}

enum DNSMessage {
    /// The PTR answers of a DNS response message (CNAME chains, as used for classless
    /// in-addr.arpa delegation, are followed). Malformed messages give no answers.
    static func ptrAnswers(_ message: [UInt8]) -> [PTRAnswer] {
        guard message.count >= 12 else { return [] }
        let flags = Int(message[2]) << 8 | Int(message[3])
        guard flags & 0x8000 != 0 else { return [] }  // not a response
        let rcode = flags & 0x000F
        guard rcode == 0 || rcode == 3 else { return [] }  // only NOERROR and NXDOMAIN are answers
        let questionCount = Int(message[4]) << 8 | Int(message[5])
        let answerCount = Int(message[6]) << 8 | Int(message[7])
        var position = 12
        var questions: [String] = []
        for _ in 0..<min(questionCount, 16) {
            guard let (name, next) = readName(message, at: position), next + 4 <= message.count else { return [] }
            let type = Int(message[next]) << 8 | Int(message[next + 1])
            position = next + 4
            if type == 12 { questions.append(name) }
        }
        guard !questions.isEmpty else { return [] }
        var cnames: [String: String] = [:]
        var ptrs: [String: [String]] = [:]
        for _ in 0..<min(answerCount, 256) {
            // A malformed answer section says nothing (not even "no PTR").
            guard let (owner, next) = readName(message, at: position), next + 10 <= message.count else { return [] }
            let type = Int(message[next]) << 8 | Int(message[next + 1])
            let length = Int(message[next + 8]) << 8 | Int(message[next + 9])
            let dataStart = next + 10
            guard dataStart + length <= message.count else { return [] }
            if type == 5 || type == 12 {
                guard let (target, _) = readName(message, at: dataStart) else { return [] }
                if type == 5 {
                    cnames[owner.lowercased()] = target
                } else {
                    ptrs[owner.lowercased(), default: []].append(target)
                }
            }
            position = dataStart + length
        }
        var answers: [PTRAnswer] = []
        for question in questions {
            guard let address = address(fromReverseName: question) else { continue }
            var name = question.lowercased()
            var hops = 0
            while ptrs[name] == nil, let target = cnames[name], hops < 8 {
                name = target.lowercased()
                hops += 1
            }
            answers.append(PTRAnswer(address: address, names: ptrs[name] ?? []))
        }
        return answers
    }

    /// Reads a (possibly compressed) domain name; returns it without the final dot and the
    /// position after it in the message.
    static func readName(_ message: [UInt8], at start: Int) -> (String, Int)? {
        var labels: [String] = []
        var position = start
        var end: Int?
        var jumps = 0
        var total = 0
        while true {
            guard position < message.count else { return nil }
            let length = Int(message[position])
            if length == 0 {
                position += 1
                break
            }
            if length & 0xC0 == 0xC0 {
                guard position + 1 < message.count, jumps < 32 else { return nil }
                let target = (length & 0x3F) << 8 | Int(message[position + 1])
                if end == nil { end = position + 2 }
                position = target
                jumps += 1
                continue
            }
            guard length & 0xC0 == 0, position + 1 + length <= message.count else { return nil }
            total += length + 1
            guard total <= 255 else { return nil }
            labels.append(String(decoding: message[(position + 1)..<(position + 1 + length)], as: UTF8.self))
            position += 1 + length
        }
        return (labels.joined(separator: "."), end ?? position)
    }

    /// `4.3.2.1.in-addr.arpa` -> `1.2.3.4`; the 32-nibble `ip6.arpa` form -> compressed IPv6.
    static func address(fromReverseName name: String) -> String? {
        let labels = name.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        if labels.count == 6 && labels[4] == "in-addr" && labels[5] == "arpa" {
            var octets: [String] = []
            for label in labels[0..<4].reversed() {
                guard let value = Int(label), value >= 0, value <= 255, label.count <= 3 else { return nil }
                octets.append(String(value))
            }
            return octets.joined(separator: ".")
        }
        if labels.count == 34 && labels[32] == "ip6" && labels[33] == "arpa" {
            var hi: UInt64 = 0
            var lo: UInt64 = 0
            for (index, label) in labels[0..<32].reversed().enumerated() {
                guard label.count == 1, let nibble = UInt64(label, radix: 16) else { return nil }
                if index < 16 { hi = hi << 4 | nibble } else { lo = lo << 4 | nibble }
            }
            return IPAddress(hi: hi, lo: lo).text
        }
        return nil
    }
}

/// DNS over TCP: the server's byte stream, read as 2-byte length-prefixed messages. Only
/// in-order data is used (a reordered segment ends the stream's use).
struct DNSStream {
    var next: UInt32
    var buffer: [UInt8] = []
    var broken = false
}

// DNS responses in the capture: PTR answers (IPv4 and IPv6, CNAME for classless delegation,
// negative answers), over UDP and TCP, attached to the dialogues of the client they name.

import Capture
import Testing

/// Builds a DNS response for a reverse query of `name` with `answers` `(owner, type, target)`
/// (owner nil: the question's name, by compression pointer).
func dnsResponse(
    question name: String, answers: [(owner: String?, type: Int, target: String)], rcode: Int = 0, id: Int = 0x1234
) -> [UInt8] {
    func encode(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out.append(contentsOf: label.utf8)
        }
        out.append(0)
        return out
    }
    var message: [UInt8] = []
    message.be16(id)
    message.be16(0x8180 | rcode)
    message.be16(1)
    message.be16(answers.count)
    message.be16(0)
    message.be16(0)
    message.append(contentsOf: encode(name))
    message.be16(12)
    message.be16(1)
    for answer in answers {
        if let owner = answer.owner { message.append(contentsOf: encode(owner)) } else { message.append(contentsOf: [0xC0, 0x0C]) }
        message.be16(answer.type)
        message.be16(1)
        message.be32(300)
        let data = encode(answer.target)
        message.be16(data.count)
        message.append(contentsOf: data)
    }
    return message
}

func udpRecord(_ payload: [UInt8], time: Double = 1_795_563_513.0) -> Record {
    let udp = Frames.udp(sourcePort: 53, destinationPort: 33333, payload: payload)
    let ip = Frames.ipv4(source: .v4("127.0.0.53"), destination: .v4("127.0.0.1"), proto: 17, payload: udp)
    return Record(time: time, data: Frames.frame(ip, link: .ethernet(tags: [])))
}

@Suite struct DNSTests {
    @Test func ptrAnswersOverUDP() throws {
        let records = [
            udpRecord(dnsResponse(question: "10.1.19.198.in-addr.arpa", answers: [(nil, 12, "mail.partner-a.example")])),
            udpRecord(dnsResponse(question: "5.113.0.203.in-addr.arpa", answers: [], rcode: 3)),
            // Classless delegation: the PTR sits behind a CNAME.
            udpRecord(dnsResponse(
                question: "7.3.64.100.in-addr.arpa",
                answers: [(nil, 5, "7.0-63.3.64.100.in-addr.arpa"), ("7.0-63.3.64.100.in-addr.arpa", 12, "dyn-100-64-3-7.pool.isp.example")])),
            udpRecord(dnsResponse(
                question: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                answers: [(nil, 12, "v6.example"), (nil, 12, "second.example")])),
            // A SERVFAIL says nothing.
            udpRecord(dnsResponse(question: "9.9.9.9.in-addr.arpa", answers: [], rcode: 2)),
        ] + sampleConversation.records()
        let result = try readCapture(records)
        #expect(result.summary.ptrRecords == [
            "198.19.1.10": ["mail.partner-a.example"],
            "203.0.113.5": [],
            "100.64.3.7": ["dyn-100-64-3-7.pool.isp.example"],
            "2001:db8::1": ["v6.example", "second.example"],
        ])
        #expect(result.summary.dnsResponses == 5)
        // The dialogue of 198.19.1.10 carries the answer tcpserver got.
        #expect(result.dialogues.first?.clientPTR == ["mail.partner-a.example"])
        #expect(result.dialogues.first?.transcript == sampleTranscript)
    }

    @Test func noAnswerSeenIsNil() throws {
        #expect(try readOne(sampleConversation)?.clientPTR == nil)
    }

    @Test func ptrAnswerOverTCP() throws {
        let message = dnsResponse(question: "10.1.19.198.in-addr.arpa", answers: [(nil, 12, "tcp.partner.example")])
        var framed: [UInt8] = []
        framed.be16(message.count)
        framed += message
        var dns = Conversation(client: .v4("127.0.0.1"), clientPort: 45000, server: .v4("127.0.0.53"), serverPort: 53)
        dns.open()
        dns.client("\u{0}\u{1c}query bytes that are ignored")
        dns.serverBytes(Array(framed.prefix(20)))
        dns.serverBytes(Array(framed.dropFirst(20)))
        dns.close()
        let result = try readCapture(dns.records() + sampleConversation.records())
        #expect(result.summary.ptrRecords["198.19.1.10"] == ["tcp.partner.example"])
        #expect(result.dialogues.count == 1)
        #expect(result.dialogues.first?.clientPTR == ["tcp.partner.example"])
    }

    @Test func malformedResponsesAreIgnored() throws {
        var truncated = dnsResponse(question: "10.1.19.198.in-addr.arpa", answers: [(nil, 12, "x.example")])
        truncated.removeLast(5)
        var loop = dnsResponse(question: "10.1.19.198.in-addr.arpa", answers: [(nil, 12, "x.example")])
        // A compression pointer pointing at itself in the answer's target.
        loop.replaceSubrange((loop.count - 11)..<loop.count, with: [0, 2, 0xC0, UInt8(loop.count - 9)])
        let records = [udpRecord(truncated), udpRecord(loop), udpRecord([1, 2, 3])]
        let result = try readCapture(records)
        #expect(result.summary.ptrRecords.isEmpty)
    }

    @Test func ptrRecordLimit() throws {
        let records = (1...3).map {
            udpRecord(dnsResponse(question: "\($0).2.0.192.in-addr.arpa", answers: [(nil, 12, "h\($0).example")]))
        }
        let result = try readCapture(records, options: CaptureOptions(limits: CaptureLimits(maxPTRRecords: 2)))
        #expect(result.summary.ptrRecords.count == 2)
        #expect(result.summary.limitsHit[.ptrRecords] == 1)
    }
}

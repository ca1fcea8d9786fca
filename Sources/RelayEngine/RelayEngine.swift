// The RelayEngine layer: a byte-exact simulation of qmail's SMTP front end,
//
//     tcpserver (rules cdb) -> rblsmtpd (optional) -> qmail-smtpd (control files)
//
// Everything here is a pure, synchronous value: a `RelayConfiguration` (control files, rules,
// options, loaded once) and a `RelaySession` per client connection that turns client bytes into
// the exact bytes the real chain sends back, with a structured `Decision` and the chain of facts
// behind every accept, refusal and relay. No I/O happens inside a session; nothing is global, so
// any number of configurations can be simulated side by side.
//
// The reference for every reply is ../shared/spec/qmail-behaviour.md (observed from the real
// programs); where a behaviour varies by patch or version it is an option (`QmailVariant`,
// `AuthOptions`, `RBLSMTPDOptions`) whose differences are data.

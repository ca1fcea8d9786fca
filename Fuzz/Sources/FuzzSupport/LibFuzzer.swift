// Starting libFuzzer from a Swift `@main`: SwiftPM links an executable's entry point as `main`,
// so the harness's main hands control to libFuzzer's driver (the libFuzzer runtime linked by
// `-sanitize=fuzzer` provides `LLVMFuzzerRunDriver`). Each harness also exports the standard
// `LLVMFuzzerTestOneInput`, so the same code links into any libFuzzer-compatible driver.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@_silgen_name("LLVMFuzzerRunDriver")
func _LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

public enum LibFuzzer {
    /// Runs libFuzzer with the process's arguments and `testOneInput`; exits with its status.
    public static func run(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(_LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }

    /// The input as an array (libFuzzer may pass a null pointer for an empty input).
    public static func bytes(_ start: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
        guard let start, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: start, count: count))
    }
}

/// A property every input must satisfy: on failure the message is printed and the process
/// aborts, which libFuzzer reports as a crash (and saves the input).
public func fuzzCheck(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() {
        let text = Array("fuzz property violated at \(file):\(line): \(message())\n".utf8)
        _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        abort()
    }
}

/// A message meant for one line of a report: not empty and without a line break.
public func isOneLine(_ message: String) -> Bool {
    !message.isEmpty && !message.contains("\n") && !message.contains("\r")
}

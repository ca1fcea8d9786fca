// The monotonic clock that times sampled lookups (``CDBLookupRecorder``): a system call through
// the vDSO, ~20 ns. The only file in CDB that calls the C library's clock.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum _CDBClock {
    /// Monotonic time in nanoseconds (never 0).
    @inline(__always)
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return (UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)) | 1
    }
}

// Typed-throws wrappers around the standard library's rethrowing byte accessors.

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a closure that throws ``CDBError``.
    func withCDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws(CDBError) -> R) throws(CDBError) -> R {
        let result: Result<R, CDBError> = withUnsafeBytes { raw in
            Result { () throws(CDBError) -> R in try body(raw) }
        }
        return try result.get()
    }
}

extension String {
    /// The UTF-8 bytes of the string, for a closure that throws ``CDBError``.
    func withCDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws(CDBError) -> R) throws(CDBError) -> R {
        var copy = self
        let result: Result<R, CDBError> = copy.withUTF8 { buffer in
            Result { () throws(CDBError) -> R in try body(UnsafeRawBufferPointer(buffer)) }
        }
        return try result.get()
    }
}

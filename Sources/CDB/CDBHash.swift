/// The cdb hash function: `h = 5381; h = ((h << 5) &+ h) ^ c` for every byte, in 32 bits.
///
/// The low 8 bits select one of the 256 hash tables; the remaining bits pick the start slot.
public enum CDBHash {
    /// The hash value's starting point.
    public static let seed: UInt32 = 5381

    /// Hashes `bytes` the way every cdb writer and reader does.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 5381  // `seed`, spelled out so the loop needs no global access
        for byte in bytes {
            h = ((h &<< 5) &+ h) ^ UInt32(byte)
        }
        return h
    }

    /// Hashes any byte collection.
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var h: UInt32 = 5381  // `seed`, spelled out so the loop needs no global access
        for byte in bytes {
            h = ((h &<< 5) &+ h) ^ UInt32(byte)
        }
        return h
    }
}

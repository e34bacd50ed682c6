/// A namespace as the label area records it: one label per extent, in position order.
///
/// On media every extent is one label with `nlabel` = the number of extents and `position` = its index
/// here; all labels share `uuid`, `name` and the `align` byte.
public struct LabelledNamespace: Hashable, Sendable {
    /// One contiguous piece of a namespace in device physical address space.
    public struct Extent: Hashable, Sendable {
        /// The start (`dpa`); a multiple of 4 KiB.
        public var dpa: UInt64
        /// The size (`rawsize`); a non-zero multiple of 4 KiB.
        public var rawSize: UInt64

        /// Creates an extent.
        ///
        /// - Parameters:
        ///   - dpa: The start, a multiple of 4 KiB.
        ///   - rawSize: The size, a non-zero multiple of 4 KiB.
        public init(dpa: UInt64, rawSize: UInt64) {
            self.dpa = dpa
            self.rawSize = rawSize
        }
    }

    /// The namespace UUID; never all-zero.
    public var uuid: LabelUUID
    /// The name, at most 63 UTF-8 bytes without NUL; may be empty.
    public var name: String
    /// The alignment in bytes, a power of two of at least 2, or 0 for unknown. Stored in the v1.2 `align`
    /// byte as its base-2 logarithm (0 = unknown); v1.1 areas can only store 0.
    public var alignment: UInt64
    /// The extents in position order.
    public var extents: [Extent]

    /// Creates a namespace description.
    ///
    /// - Parameters:
    ///   - uuid: The namespace UUID.
    ///   - name: The name.
    ///   - alignment: The alignment in bytes, or 0 for unknown.
    ///   - extents: The extents in position order.
    public init(uuid: LabelUUID, name: String = "", alignment: UInt64 = 0, extents: [Extent]) {
        self.uuid = uuid
        self.name = name
        self.alignment = alignment
        self.extents = extents
    }

    /// The `align` byte that encodes `alignment`, or `nil` if `alignment` is not 0 or a power of two ≥ 2.
    public var alignmentCode: UInt8? {
        if alignment == 0 {
            return 0
        }
        guard alignment >= 2, alignment & (alignment - 1) == 0 else {
            return nil
        }
        return UInt8(alignment.trailingZeroBitCount)
    }

    /// The alignment an `align` byte encodes: `1 << code`, or 0 (unknown) for 0 and codes of 64 and above.
    ///
    /// - Parameter code: The raw `align` byte.
    /// - Returns: The alignment in bytes.
    public static func alignment(forCode code: UInt8) -> UInt64 {
        guard code > 0, code < 64 else {
            return 0
        }
        return 1 << UInt64(code)
    }
}

/// The namespace label format version of a label storage area.
public enum LabelVersion: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// UEFI label format 1.1: 128-byte labels without `align`, GUIDs or checksum (ndctl's default).
    case v1Dot1
    /// UEFI 2.7 label format 1.2: 256-byte labels with `align`, type and abstraction GUIDs and a checksum.
    case v1Dot2

    /// The size of one label slot in bytes.
    public var labelSize: Int {
        switch self {
        case .v1Dot1: return 128
        case .v1Dot2: return 256
        }
    }

    /// The index block's `major` field.
    public var major: UInt16 {
        1
    }

    /// The index block's `minor` field.
    public var minor: UInt16 {
        switch self {
        case .v1Dot1: return 1
        case .v1Dot2: return 2
        }
    }

    /// The index block's `labelsize` byte as the kernel writes it (`label_size >> 8`).
    public var labelSizeCode: UInt8 {
        UInt8(labelSize >> 8)
    }

    /// Whether labels of this version carry a Fletcher64 checksum (only when the label is longer than 248 bytes).
    public var hasLabelChecksum: Bool {
        labelSize > NamespaceLabel.checksumOffset
    }

    /// The version for a label size, or `nil` if the size is neither 128 nor 256.
    ///
    /// - Parameter labelSize: The label slot size in bytes.
    public init?(labelSize: Int) {
        switch labelSize {
        case 128: self = .v1Dot1
        case 256: self = .v1Dot2
        default: return nil
        }
    }

    /// `1.1` or `1.2`.
    public var description: String {
        "\(major).\(minor)"
    }
}

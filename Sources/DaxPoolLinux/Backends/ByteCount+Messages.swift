// Linux only.
import DaxPoolCore

extension ByteCount {
    /// `"8.00 MiB (8.39 MB)"`, or `"512 bytes"` below 1 KiB, for error messages.
    var spelledOut: String {
        rawValue < 1024 ? "\(rawValue) bytes" : humanDescription
    }
}

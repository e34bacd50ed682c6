// Linux only.
import CLinuxShims

/// Which zeroing implementation a `Scrubber` runs. All but `memset` store with non-temporal (streaming)
/// instructions, which bypass the caches.
public enum ScrubKind: String, Hashable, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// 64-byte `vmovntdq` stores (`_mm512_stream_si512`), on CPUs with AVX-512F.
    case avx512
    /// 32-byte `vmovntdq` stores (`_mm256_stream_si256`), on CPUs with AVX2.
    case avx2
    /// 16-byte `movntdq` stores (`_mm_stream_si128`), on every x86-64 CPU.
    case sse2
    /// The C library's `memset`: temporal stores. The portable fallback, and the baseline benchmarks compare with.
    case memset

    /// The value `cshim_scrub_zero` takes.
    var shimValue: CInt {
        switch self {
        case .avx512: CInt(CSHIM_SCRUB_AVX512)
        case .avx2: CInt(CSHIM_SCRUB_AVX2)
        case .sse2: CInt(CSHIM_SCRUB_SSE2)
        case .memset: CInt(CSHIM_SCRUB_MEMSET)
        }
    }

    /// Whether this CPU runs the implementation (`__builtin_cpu_supports`, which also checks that the kernel
    /// saves the wider registers).
    public var isSupported: Bool { cshim_scrub_supports(shimValue) != 0 }

    /// The implementations this CPU runs, fastest first; `memset` is always last.
    public static var supported: [ScrubKind] { allCases.filter(\.isSupported) }

    /// The fastest implementation this CPU runs: AVX-512, else AVX2, else SSE2, else `memset`.
    public static var best: ScrubKind { supported.first ?? .memset }

    /// The implementation's name, as logs and benchmarks print it.
    public var description: String { rawValue }
}

/// A small deterministic generator (SplitMix64), so a failing run reproduces from its printed seed and a benchmark
/// does the same work on every run. The one copy that every test target and the benchmarks use.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the next value is derived from it.
    public var state: UInt64

    /// A generator that starts from `state`.
    public init(state: UInt64) {
        self.state = state
    }

    /// A generator that starts from `seed` (the same as `init(state:)`).
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

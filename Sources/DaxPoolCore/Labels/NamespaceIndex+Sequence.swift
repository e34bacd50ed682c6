extension NamespaceIndex {
    /// The bits of `seq` that count (`NSINDEX_SEQ_MASK`).
    public static let sequenceMask: UInt32 = 3

    /// The sequence number that follows `sequence` (`nd_inc_seq()`): 1 → 2 → 3 → 1; 0 (invalid) stays 0.
    ///
    /// - Parameter sequence: A sequence number; only its low two bits are read.
    /// - Returns: The next number in the cycle.
    public static func nextSequence(after sequence: UInt32) -> UInt32 {
        let next: [UInt32] = [0, 2, 3, 1]
        return next[Int(sequence & sequenceMask)]
    }

    /// The newer of two sequence numbers (the kernel's `best_seq()`), masked to two bits.
    ///
    /// - Parameters:
    ///   - first: The sequence number of block 0.
    ///   - second: The sequence number of block 1.
    /// - Returns: `second` if `first` is 0, equal to it, or directly precedes it; `first` otherwise.
    public static func bestSequence(_ first: UInt32, _ second: UInt32) -> UInt32 {
        let first = first & sequenceMask
        let second = second & sequenceMask
        if first == 0 || first == second {
            return second
        } else if second == 0 {
            return first
        } else if nextSequence(after: first) == second {
            return second
        } else {
            return first
        }
    }

    /// Which of two valid blocks is current: block 1 iff `bestSequence(seq0, seq1) == seq1 & 3`.
    ///
    /// - Parameters:
    ///   - block0: Index block 0.
    ///   - block1: Index block 1.
    /// - Returns: 0 or 1.
    public static func currentBlock(_ block0: NamespaceIndex, _ block1: NamespaceIndex) -> Int {
        bestSequence(block0.sequence, block1.sequence) == block1.sequence & sequenceMask ? 1 : 0
    }
}

// Linux only.

extension FileLabelStorage {
    /// Sees every write of `FileLabelStorage` and `LabelStateStore` before it reaches a file, in order, and
    /// may cut it short: the tests' model of a crash ("the write stream stops here").
    ///
    /// Production code passes no interposer. A test interposer admits a budget of bytes; once it has admitted
    /// fewer bytes than asked it must admit nothing afterwards, as a dead process writes nothing.
    protocol WriteInterposer: AnyObject, Sendable {
        /// How many of the `count` bytes about to be written at `offset` of `path` reach the file.
        ///
        /// A rename or unlink is asked for as a one-byte write at offset 0 of the path it changes.
        ///
        /// - Returns: `count` to let the write through; less to write only that prefix and stop there.
        func admit(path: String, offset: Int, count: Int) -> Int
    }
}

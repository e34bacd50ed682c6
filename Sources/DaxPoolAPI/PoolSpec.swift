public import DaxPoolCore

/// The pool sizes the CLI takes: a comma-separated list of `SIZE` or `SIZExCOUNT` (`"2Gx4,8G"`: four 2 GiB files
/// and one 8 GiB file). A count needs a size with a unit suffix, so that a hex size such as `0x200000` stays one.
public enum PoolSpec {
    /// Why a pool list is wrong.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// What is wrong with the pool list, naming the item.
        public var description: String
    }

    /// The sizes `text` names, one entry per file, in the order given; `""` names none.
    /// - Throws: `ParseError` for an empty item, a bad size or count, or more than
    ///   `RegionConfig.maximumPoolFiles` files.
    public static func parse(_ text: String) throws(ParseError) -> [ByteCount] {
        guard !text.isEmpty else { return [] }
        var sizes: [ByteCount] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            var sizeText = Substring(item)
            var count = 1
            if let cross = item.lastIndex(where: { $0 == "x" || $0 == "X" }), cross > item.startIndex,
                let unit = item[item.index(before: cross)].lowercased().first, "kmgt".contains(unit)
            {
                let countText = item[item.index(after: cross)...]
                guard !countText.isEmpty, countText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                    let parsed = Int(countText), parsed >= 1
                else {
                    throw ParseError(description: "'\(item)': the count after x must be a whole number from 1")
                }
                sizeText = item[..<cross]
                count = parsed
            }
            do {
                let size = try ByteCount(parsing: String(sizeText))
                guard size.rawValue > 0 else { throw ParseError(description: "'\(item)': a pool file cannot be empty") }
                guard count <= RegionConfig.maximumPoolFiles - sizes.count else {
                    throw ParseError(
                        description:
                            "'\(text)' names more than the \(RegionConfig.maximumPoolFiles) files a pool may keep")
                }
                sizes += Array(repeating: size, count: count)
            } catch let error as ParseError {
                throw error
            } catch {
                throw ParseError(description: "'\(item)': \(error)")
            }
        }
        return sizes
    }
}

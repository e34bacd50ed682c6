import DaxPoolCore
import Testing

/// Names hold printable characters only and never pass for a device id, a pool fill or a uuid.
@Suite("name rules", .timeLimit(.minutes(20)))
struct NameRulesTests {
    static let refusedCharacters: [(String, String)] = [
        ("a\u{7}b", "bell (Cc)"), ("a\u{1B}[31mred", "escape (Cc)"), ("a\u{85}b", "next line (Cc)"),
        ("a\u{9F}b", "C1 control (Cc)"),
        ("evil\u{202E}gpj.exe", "right-to-left override"), ("a\u{202A}b", "left-to-right embedding"),
        ("a\u{2066}b", "left-to-right isolate"), ("a\u{2069}b", "pop directional isolate"),
        ("a\u{200E}b", "left-to-right mark"), ("a\u{200F}b", "right-to-left mark"),
        ("a\u{061C}b", "arabic letter mark"),
        ("vm\u{200B}1", "zero-width space"), ("vm\u{200C}1", "zero-width non-joiner"),
        ("vm\u{200D}1", "zero-width joiner"), ("\u{FEFF}vm1", "byte order mark"), ("vm\u{2060}1", "word joiner"),
        ("a\u{00AD}b", "soft hyphen (Cf)"), ("a\u{2028}b", "line separator (Zl)"),
        ("a\u{2029}b", "paragraph separator (Zp)"), ("a\u{E000}b", "private use (Co)"),
        ("a\u{10FFFD}b", "supplementary private use (Co)"), ("a\u{0378}b", "unassigned (Cn)"),
        ("a\u{E0001}b", "language tag (Cf)"),
    ]

    @Test(
        "names with control, format, bidi, zero-width, separator, private-use or unassigned characters are refused",
        arguments: refusedCharacters)
    func refusedCharacter(name: String, what: String) {
        #expect(throws: NameError.self, "\(what)") { try DeviceName(validating: name) }
        do {
            _ = try DeviceName(validating: name)
        } catch {
            if case .forbiddenCharacter(let described) = error {
                #expect(described.hasPrefix("U+"), "the message names the code point: \(described)")
            } else {
                Issue.record("\(what): \(error)")
            }
        }
    }

    static let lookalikes = [
        "dax0.7", "DAX0.7", "Dax12.345", "0.7", "17.0", "region0.pool", "Region12.POOL",
        "5b405e8d-700e-4499-9e09-1967d5637178", "5B405E8D-700E-4499-9E09-1967D5637178",
    ]

    @Test("names of the form of a device id, a pool fill or a uuid are refused", arguments: lookalikes)
    func refusedForm(name: String) {
        #expect(throws: NameError.self) { try DeviceName(validating: name) }
    }

    static let accepted = [
        "vm-01", "gäst", "日本語", "vm 1", "dax0", "dax0.7a", "dax.7", "dax0.", "region0", "0.7.1", "vm\u{1F600}",
        "5b405e8d-700e-4499-9e09-1967d563717", "5b405e8d-700e-4499-9e09-1967d563717g", "e\u{301}",
    ]

    @Test("printable names that are nothing else are accepted", arguments: accepted)
    func acceptedName(name: String) throws {
        #expect(try DeviceName(validating: name).value == name)
    }

    @Test("a name an older daemon stored loads even when it breaks today's rules")
    func storedNamesLoad() throws {
        for name in ["dax0.7", "a\u{202E}b", "5b405e8d-700e-4499-9e09-1967d5637178"] {
            #expect(try DeviceName(loading: name).value == name)
        }
        #expect(throws: NameError.self) { try DeviceName(loading: "a/b") }
        #expect(throws: NameError.self) { try DeviceName(loading: "") }
    }
}

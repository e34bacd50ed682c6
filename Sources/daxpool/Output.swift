import DaxPoolAPI
import DaxPoolCore
import DaxPoolSystem

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// JSON printing with sorted keys: the same bytes every run.
enum Output {
    static func json<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func print<Value: Encodable>(_ value: Value) throws {
        Swift.print(try json(value))
    }

    /// One compact JSON line (sorted keys).
    static func line<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Prints one JSON error object. An error the CLI raised itself (no daemon answered) has no status, so it
    /// carries its code and message only, never a fake HTTP status.
    static func printError(_ error: ErrorBody) {
        let text = (try? json(error)) ?? "{\"code\":\"\(error.code)\",\"message\":\"\(error.message)\"}"
        FileHandleStandardError.write(text + "\n")
    }
}

/// Writes to standard error without Foundation's FileHandle.
enum FileHandleStandardError {
    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
                guard let written = try? Syscall.write(2, from: rest), written > 0 else { break }
                offset += written
            }
        }
    }
}

/// Parses a size option into a clear JSON error on failure.
func parseSizeOption(_ text: String, option: String) throws -> ByteCount {
    do {
        return try ByteCount(parsing: text)
    } catch {
        throw ErrorBody(code: .badRequest, message: "\(option): \(error.description)")
    }
}

/// Flushes standard output (for streaming output to a pipe).
func fflushStandardOutput() {
    fflush(nil)
}

import DaxPoolAPI
import DaxPoolCore

// Options the CLI turns into the typed values of a request before it sends one, so that a mistake is reported
// by the CLI, naming the option, as the daemon would report it in a body.

/// Parses an alignment option (`4K`, `2M`, `1G`, or the same in bytes).
/// - Throws: `ErrorBody` (`bad_request`) naming `option` and the alignments that work.
func parseAlignmentOption(_ text: String, option: String) throws -> Alignment {
    do {
        return try Alignment(parsing: text)
    } catch {
        throw ErrorBody(code: .badRequest, message: "\(option): \(error.description)")
    }
}

/// Parses the name of a new device with every rule of `DeviceName(validating:)`.
/// - Throws: `ErrorBody` (`bad_request`) naming `option` and the rule the name breaks.
func parseDeviceNameOption(_ text: String, option: String) throws -> DeviceName {
    do {
        return try DeviceName(validating: text)
    } catch {
        throw ErrorBody(code: .badRequest, message: "\(option): \(error.description)")
    }
}

/// Parses a device as a request names it: `daxR.N` or its name.
/// - Throws: `ErrorBody` (`bad_request`) naming `option` when the text is neither.
func parseDeviceOption(_ text: String, option: String) throws -> DeviceReference {
    do {
        return try DeviceReference(parsing: text)
    } catch {
        throw ErrorBody(
            code: .badRequest,
            message: "\(option): neither a device id such as dax0.1 nor a device name: \(error.description)")
    }
}

/// Parses a device uuid: 8-4-4-4-12 hex, not the all-zero uuid that labels reserve.
/// - Throws: `ErrorBody` (`bad_request`) naming `option` and the form to use.
func parseDeviceUUIDOption(_ text: String, option: String) throws -> LabelUUID {
    guard let uuid = LabelUUID(text) else {
        throw ErrorBody(code: .badRequest, message: "\(option): '\(text)' is not a UUID: use the 8-4-4-4-12 hex form")
    }
    guard !uuid.isZero else {
        throw ErrorBody(
            code: .badRequest,
            message:
                "\(option): \(uuid) is the all-zero uuid, which namespace labels reserve for \"no namespace\": give "
                + "another uuid, or omit it for a random one")
    }
    return uuid
}

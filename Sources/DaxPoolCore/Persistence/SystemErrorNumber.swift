/// An `errno.h` error number as Linux defines it, typed, for errors that cross from a backend into the core and the
/// API (`BackendError`). The core stays standard-library only: the Linux module converts from `Errno` in one place,
/// and the server decides what each class of number means for the API.
public struct SystemErrorNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The number itself, as `errno` held it.
    public var rawValue: Int32

    /// The error number `rawValue`.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// `EPERM`: the operation needs a privilege the process lacks.
    public static let notPermitted = SystemErrorNumber(rawValue: 1)
    /// `ENOENT`: no such file or directory.
    public static let noSuchFileOrDirectory = SystemErrorNumber(rawValue: 2)
    /// `EIO`: an input/output error.
    public static let ioError = SystemErrorNumber(rawValue: 5)
    /// `ENXIO`: no such device or address.
    public static let noSuchDeviceOrAddress = SystemErrorNumber(rawValue: 6)
    /// `ENOMEM`: out of memory.
    public static let outOfMemory = SystemErrorNumber(rawValue: 12)
    /// `EACCES`: permission denied.
    public static let accessDenied = SystemErrorNumber(rawValue: 13)
    /// `EBUSY`: the device or resource is busy.
    public static let busy = SystemErrorNumber(rawValue: 16)
    /// `EEXIST`: the file exists.
    public static let exists = SystemErrorNumber(rawValue: 17)
    /// `ENODEV`: no such device.
    public static let noSuchDevice = SystemErrorNumber(rawValue: 19)
    /// `EINVAL`: an invalid argument.
    public static let invalid = SystemErrorNumber(rawValue: 22)
    /// `ENOSPC`: no space left on the device.
    public static let noSpace = SystemErrorNumber(rawValue: 28)
    /// `ENOTEMPTY`: the directory is not empty.
    public static let notEmpty = SystemErrorNumber(rawValue: 39)
    /// `EOPNOTSUPP`: the operation is not supported.
    public static let notSupported = SystemErrorNumber(rawValue: 95)
    /// `ETIMEDOUT`: the operation timed out.
    public static let timedOut = SystemErrorNumber(rawValue: 110)
    /// `ECANCELED`: the operation was canceled.
    public static let canceled = SystemErrorNumber(rawValue: 125)

    /// `errno N`, the number as the kernel gives it (the Linux module's messages name it in words).
    public var description: String { "errno \(rawValue)" }
}

/// Every `code` an error object can carry: the daemon's answers (the server's `ErrorMapping` gives each its one HTTP
/// status) and the errors the client library and the CLI raise themselves (no daemon answered, so no status).
/// `openapi/daxpool.yaml` lists exactly these codes. On the wire a code is a plain string: a client reads codes
/// it does not know (from a newer daemon) without failing.
public enum ErrorCode: String, CaseIterable, Sendable, Hashable, Codable {
    // MARK: The request

    /// The request is malformed or asks for something no pool can give: a bad body, field, query or value.
    case badRequest = "bad_request"
    /// No such route, region, device or lease.
    case notFound = "not_found"
    /// The route exists but not with this HTTP method.
    case methodNotAllowed = "method_not_allowed"
    /// The request body is larger than the daemon reads.
    case payloadTooLarge = "payload_too_large"
    /// The caller may not do this (access policy).
    case forbidden
    /// A device's `owner` names no user on this host.
    case unknownOwner = "unknown_owner"
    /// The caller's uid holds as many connections as the daemon allows one uid.
    case tooManyConnections = "too_many_connections"

    // MARK: The pool

    /// A region, name or uuid that is already taken.
    case conflict
    /// There is no region to allocate from.
    case noRegion = "no_region"
    /// A new region's path is, lies inside or holds another region's directory.
    case regionPathConflict = "region_path_conflict"
    /// The region still holds devices, memory waiting to be zeroed or lost files.
    case regionBusy = "region_busy"
    /// The region's persisted state is in doubt, so it takes no change that moves memory.
    case regionDegraded = "region_degraded"
    /// An explicit range, or a region's tail to be given back, overlaps memory in use.
    case rangeInUse = "range_in_use"
    /// An alignment smaller than the region's page size or larger than it supports.
    case invalidAlignment = "invalid_alignment"
    /// A size or range that is not a multiple of the alignment.
    case misaligned
    /// The device is enabled and the operation needs it disabled (or `force`).
    case deviceEnabled = "device_enabled"
    /// The device is still being created.
    case deviceBusy = "device_busy"
    /// The device has leases and the operation needs none (or `force`).
    case deviceLeased = "device_leased"
    /// The process already holds a lease on the device.
    case leaseExists = "lease_exists"
    /// The region has not enough free memory for the request.
    case insufficientSpace = "insufficient_space"

    // MARK: The host

    /// The host has not the memory or room the backend needs (`ENOSPC`, `ENOMEM`).
    case insufficientMemory = "insufficient_memory"
    /// Something else on the host is in the way (`EBUSY`, `EEXIST`, `ENOTEMPTY`).
    case busy
    /// The daemon lacks the privilege the backend needs (`EPERM`, `EACCES`).
    case notPermitted = "not_permitted"
    /// The backend failed for another reason; the message names the operation, path and error.
    case backendError = "backend_error"
    /// The request names a dax region the kernel does not have.
    case noSuchDaxRegion = "no_such_dax_region"
    /// The request names an nd namespace the kernel does not have.
    case noSuchNamespace = "no_such_namespace"
    /// A hugetlb region while HugeTLB Vmemmap Optimization is off and the request did not say `hvo` on or off.
    case hvoOff = "hvo_off"
    /// A hugetlb region that asks for HVO on a kernel without it.
    case hvoUnavailable = "hvo_unavailable"

    // MARK: The daemon's state

    /// The label storage area is full: nothing was changed, and freeing room fixes it.
    case labelAreaFull = "label_area_full"
    /// The persisted state is in doubt and the daemon will not change it.
    case stateInDoubt = "state_in_doubt"
    /// The daemon could not read or write its persisted state.
    case stateStoreFailed = "state_store_failed"
    /// A live update needs a state directory this daemon does not keep.
    case liveUpdateUnavailable = "live_update_unavailable"
    /// A live update would lose memory or its layout is wrong, and `force` was not given.
    case liveUpdateRefused = "live_update_refused"
    /// A live update's records could not be written.
    case liveUpdateFailed = "live_update_failed"
    /// Anything else: a failure of the daemon, not of the request.
    case internalError = "internal_error"

    // MARK: Raised by the client library or the CLI (no daemon answered)

    /// The daemon's socket cannot be reached.
    case daemonUnreachable = "daemon_unreachable"
    /// The daemon's answer cannot be read as the expected JSON.
    case badResponse = "bad_response"
    /// The command line is wrong (an unknown option, a missing or bad argument).
    case usage
    /// The `--input` file cannot be read or holds no valid request.
    case badInput = "bad_input"
    /// A path the CLI was given is not usable (missing, wrong type, too long).
    case badPath = "bad_path"
    /// A directory the daemon would use is writable by someone else or is a symbolic link.
    case untrustedDirectory = "untrusted_directory"
    /// `serve`'s configuration file or options are wrong.
    case badConfig = "bad_config"
    /// `serve --label-area-size` is out of range or not a multiple of 256 bytes.
    case badLabelAreaSize = "bad_label_area_size"
    /// Another daemon already serves this socket or state directory.
    case alreadyRunning = "already_running"
    /// The state directory's identity is damaged or cannot be read.
    case badState = "bad_state"
    /// The daemon cannot watch lease holders (pidfd and epoll).
    case leasesUnavailable = "leases_unavailable"
    /// `serve` cannot bring back its saved state or make the regions its configuration names.
    case startFailed = "start_failed"
    /// The state directory and the copy in memory of a live update disagree: the daemon does not start.
    case liveUpdateMismatch = "live_update_mismatch"
    /// Labels that do not decode or do not check.
    case invalidLabels = "invalid_labels"
    /// `init-labels` found valid labels and was not told to overwrite them.
    case labelsValid = "labels_valid"
    /// A file could not be read or written.
    case ioError = "io_error"
    /// The device is on a region that has no memory to map, so there is no path to hand to a VMM.
    case noPath = "no_path"
    /// The device is disabled, so a VMM cannot use it.
    case deviceDisabled = "device_disabled"
    /// `plan` cannot make a carve plan from what it was given.
    case planFailed = "plan_failed"
    /// A host file `plan` needs cannot be read or parsed.
    case unreadable
    /// The kernel hides physical addresses from this user (`/proc/iomem` reads as zeros).
    case addressesHidden = "addresses_hidden"
    /// The daemon's answer lacks what this command needs (an older daemon).
    case unsupported
}

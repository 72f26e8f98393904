//! Enumerations of proxy-Wasm ABI 0.2.1, with the exact integer values of the
//! spec (`abi-versions/v0.2.1`). Non-exhaustive where the host may answer a
//! value this module does not know, so a new host never makes us trap.

pub const Status = enum(u32) {
    ok = 0,
    not_found = 1,
    bad_argument = 2,
    serialization_failure = 3,
    parse_failure = 4,
    invalid_memory_access = 6,
    empty = 7,
    cas_mismatch = 8,
    internal_failure = 10,
    unimplemented = 12,
    _,
};

pub const Action = enum(u32) {
    @"continue" = 0,
    pause = 1,
};

pub const LogLevel = enum(u32) {
    trace = 0,
    debug = 1,
    info = 2,
    warn = 3,
    err = 4,
    critical = 5,
    _,
};

pub const BufferType = enum(u32) {
    http_request_body = 0,
    http_response_body = 1,
    downstream_data = 2,
    upstream_data = 3,
    http_call_response_body = 4,
    grpc_call_message = 5,
    vm_configuration = 6,
    plugin_configuration = 7,
    foreign_function_arguments = 8,
};

pub const MapType = enum(u32) {
    http_request_headers = 0,
    http_request_trailers = 1,
    http_response_headers = 2,
    http_response_trailers = 3,
    grpc_call_initial_metadata = 4,
    grpc_call_trailing_metadata = 5,
    http_call_response_headers = 6,
    http_call_response_trailers = 7,
};

pub const PeerType = enum(u32) {
    unknown = 0,
    local = 1,
    remote = 2,
    _,
};

pub const StreamType = enum(u32) {
    http_request = 0,
    http_response = 1,
    downstream = 2,
    upstream = 3,
};

pub const MetricType = enum(u32) {
    counter = 0,
    gauge = 1,
    histogram = 2,
};

/// Every failing status as a Zig error, so callers use `try`.
pub const HostError = error{
    NotFound,
    BadArgument,
    SerializationFailure,
    ParseFailure,
    InvalidMemoryAccess,
    Empty,
    CasMismatch,
    InternalFailure,
    Unimplemented,
    UnknownStatus,
};

pub fn check(status: Status) HostError!void {
    return switch (status) {
        .ok => {},
        .not_found => error.NotFound,
        .bad_argument => error.BadArgument,
        .serialization_failure => error.SerializationFailure,
        .parse_failure => error.ParseFailure,
        .invalid_memory_access => error.InvalidMemoryAccess,
        .empty => error.Empty,
        .cas_mismatch => error.CasMismatch,
        .internal_failure => error.InternalFailure,
        .unimplemented => error.Unimplemented,
        _ => error.UnknownStatus,
    };
}

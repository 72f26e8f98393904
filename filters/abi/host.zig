//! Typed access to the host for filter code: slices instead of pointer/size
//! pairs, Zig errors instead of status codes. Bytes returned by the host live
//! in the per-callback arena (`memory.zig`) and are valid until the callback
//! returns; filters copy what they keep.

const std = @import("std");
const types = @import("types.zig");
const imports = @import("imports.zig");
const header_map = @import("header_map.zig");

const check = types.check;
pub const HostError = types.HostError;

/// Largest message `logFmt` formats; longer ones are cut, never allocated.
pub const log_message_max: usize = 1024;

// -- Logging ---------------------------------------------------------------

pub fn log(level: types.LogLevel, message: []const u8) void {
    // A failed log has nowhere to be reported; dropping it is the only option.
    _ = imports.proxy_log(level, message.ptr, message.len);
}

pub fn logFmt(level: types.LogLevel, comptime format: []const u8, args: anytype) void {
    var buffer: [log_message_max]u8 = undefined;
    const message = std.fmt.bufPrint(&buffer, format, args) catch buffer[0..];
    log(level, message);
}

pub fn logLevel() HostError!types.LogLevel {
    var level: types.LogLevel = .info;
    try check(imports.proxy_get_log_level(&level));
    return level;
}

// -- Clock and timer -------------------------------------------------------

pub fn currentTimeNanoseconds() HostError!u64 {
    var nanoseconds: u64 = 0;
    try check(imports.proxy_get_current_time_nanoseconds(&nanoseconds));
    return nanoseconds;
}

pub fn setTickPeriodMilliseconds(period: u32) HostError!void {
    try check(imports.proxy_set_tick_period_milliseconds(period));
}

// -- Buffers ---------------------------------------------------------------

fn returned(data: ?[*]u8, size: usize) []const u8 {
    if (size == 0) return &.{};
    return (data orelse return &.{})[0..size];
}

pub fn getBufferBytes(buffer: types.BufferType, start: usize, max_size: usize) HostError![]const u8 {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    try check(imports.proxy_get_buffer_bytes(buffer, start, max_size, &data, &size));
    return returned(data, size);
}

pub fn setBufferBytes(buffer: types.BufferType, start: usize, size: usize, value: []const u8) HostError!void {
    try check(imports.proxy_set_buffer_bytes(buffer, start, size, value.ptr, value.len));
}

pub fn getBufferSize(buffer: types.BufferType) HostError!usize {
    var size: usize = 0;
    var flags: u32 = 0;
    try check(imports.proxy_get_buffer_status(buffer, &size, &flags));
    return size;
}

// -- Header maps -----------------------------------------------------------

pub fn getHeaderMap(map: types.MapType) (HostError || header_map.ParseError)!header_map.View {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    try check(imports.proxy_get_header_map_pairs(map, &data, &size));
    return header_map.View.parse(returned(data, size));
}

pub fn setHeaderMap(map: types.MapType, serialized: []const u8) HostError!void {
    try check(imports.proxy_set_header_map_pairs(map, serialized.ptr, serialized.len));
}

pub fn getHeaderMapSize(map: types.MapType) HostError!usize {
    var size: usize = 0;
    try check(imports.proxy_get_header_map_size(map, &size));
    return size;
}

/// The header's value, or null when the map has no such header.
pub fn getHeader(map: types.MapType, name: []const u8) HostError!?[]const u8 {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    check(imports.proxy_get_header_map_value(map, name.ptr, name.len, &data, &size)) catch |err| switch (err) {
        error.NotFound => return null,
        else => return err,
    };
    return returned(data, size);
}

pub fn addHeader(map: types.MapType, name: []const u8, value: []const u8) HostError!void {
    try check(imports.proxy_add_header_map_value(map, name.ptr, name.len, value.ptr, value.len));
}

pub fn replaceHeader(map: types.MapType, name: []const u8, value: []const u8) HostError!void {
    try check(imports.proxy_replace_header_map_value(map, name.ptr, name.len, value.ptr, value.len));
}

pub fn removeHeader(map: types.MapType, name: []const u8) HostError!void {
    try check(imports.proxy_remove_header_map_value(map, name.ptr, name.len));
}

// -- Properties ------------------------------------------------------------

/// Largest serialised property path; paths are a few short segments.
pub const property_path_max: usize = 256;

/// `segments` joined as the host expects: each segment followed by a NUL.
pub fn getProperty(segments: []const []const u8) (HostError || error{PathTooLong})!?[]const u8 {
    var path_buffer: [property_path_max]u8 = undefined;
    const path = try propertyPath(segments, &path_buffer);
    var data: ?[*]u8 = null;
    var size: usize = 0;
    check(imports.proxy_get_property(path.ptr, path.len, &data, &size)) catch |err| switch (err) {
        error.NotFound => return null,
        else => return err,
    };
    return returned(data, size);
}

pub fn setProperty(segments: []const []const u8, value: []const u8) (HostError || error{PathTooLong})!void {
    var path_buffer: [property_path_max]u8 = undefined;
    const path = try propertyPath(segments, &path_buffer);
    try check(imports.proxy_set_property(path.ptr, path.len, value.ptr, value.len));
}

fn propertyPath(segments: []const []const u8, out: []u8) error{PathTooLong}![]const u8 {
    var length: usize = 0;
    for (segments) |segment| {
        if (length + segment.len + 1 > out.len) return error.PathTooLong;
        @memcpy(out[length..][0..segment.len], segment);
        out[length + segment.len] = 0;
        length += segment.len + 1;
    }
    // The host splits on NUL; the last separator is not part of the path.
    return out[0..length -| 1];
}

// -- Stream control --------------------------------------------------------

pub const LocalResponse = struct {
    status_code: u32,
    details: []const u8 = "",
    body: []const u8 = "",
    /// Serialised with `header_map.serialize`.
    headers: []const u8 = "",
    /// -1 means "not a gRPC reply", as in the SDKs.
    grpc_status: i32 = -1,
};

pub fn sendLocalResponse(response: LocalResponse) HostError!void {
    try check(imports.proxy_send_local_response(
        response.status_code,
        response.details.ptr,
        response.details.len,
        response.body.ptr,
        response.body.len,
        response.headers.ptr,
        response.headers.len,
        response.grpc_status,
    ));
}

pub fn continueStream(stream: types.StreamType) HostError!void {
    try check(imports.proxy_continue_stream(stream));
}

pub fn closeStream(stream: types.StreamType) HostError!void {
    try check(imports.proxy_close_stream(stream));
}

pub const CallStatus = struct { code: u32, message: []const u8 };

pub fn getStatus() HostError!CallStatus {
    var code: u32 = 0;
    var data: ?[*]u8 = null;
    var size: usize = 0;
    try check(imports.proxy_get_status(&code, &data, &size));
    return .{ .code = code, .message = returned(data, size) };
}

pub fn setEffectiveContext(context_id: u32) HostError!void {
    try check(imports.proxy_set_effective_context(context_id));
}

pub fn done() HostError!void {
    try check(imports.proxy_done());
}

// -- Shared data and queues ------------------------------------------------

pub const SharedValue = struct { value: []const u8, cas: u32 };

pub fn getSharedData(key: []const u8) HostError!?SharedValue {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    var cas: u32 = 0;
    check(imports.proxy_get_shared_data(key.ptr, key.len, &data, &size, &cas)) catch |err| switch (err) {
        error.NotFound => return null,
        else => return err,
    };
    return .{ .value = returned(data, size), .cas = cas };
}

/// `cas` 0 writes unconditionally; otherwise a stale `cas` is CasMismatch.
pub fn setSharedData(key: []const u8, value: []const u8, cas: u32) HostError!void {
    try check(imports.proxy_set_shared_data(key.ptr, key.len, value.ptr, value.len, cas));
}

pub fn registerSharedQueue(name: []const u8) HostError!u32 {
    var queue_id: u32 = 0;
    try check(imports.proxy_register_shared_queue(name.ptr, name.len, &queue_id));
    return queue_id;
}

pub fn resolveSharedQueue(vm_id: []const u8, name: []const u8) HostError!u32 {
    var queue_id: u32 = 0;
    try check(imports.proxy_resolve_shared_queue(vm_id.ptr, vm_id.len, name.ptr, name.len, &queue_id));
    return queue_id;
}

pub fn enqueueSharedQueue(queue_id: u32, value: []const u8) HostError!void {
    try check(imports.proxy_enqueue_shared_queue(queue_id, value.ptr, value.len));
}

/// The next item, or null when the queue is empty.
pub fn dequeueSharedQueue(queue_id: u32) HostError!?[]const u8 {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    check(imports.proxy_dequeue_shared_queue(queue_id, &data, &size)) catch |err| switch (err) {
        error.Empty => return null,
        else => return err,
    };
    return returned(data, size);
}

// -- Callouts --------------------------------------------------------------

pub const HttpCall = struct {
    upstream: []const u8,
    /// Serialised; must carry `:method`, `:path` and `:authority`.
    headers: []const u8,
    body: []const u8 = "",
    trailers: []const u8 = "",
    timeout_milliseconds: u32,
};

pub fn httpCall(call: HttpCall) HostError!u32 {
    var call_id: u32 = 0;
    try check(imports.proxy_http_call(
        call.upstream.ptr,
        call.upstream.len,
        call.headers.ptr,
        call.headers.len,
        call.body.ptr,
        call.body.len,
        call.trailers.ptr,
        call.trailers.len,
        call.timeout_milliseconds,
        &call_id,
    ));
    return call_id;
}

pub const GrpcTarget = struct {
    upstream: []const u8,
    service: []const u8,
    method: []const u8,
    /// Serialised initial metadata.
    metadata: []const u8 = "",
};

pub fn grpcCall(target: GrpcTarget, message: []const u8, timeout_milliseconds: u32) HostError!u32 {
    var call_id: u32 = 0;
    try check(imports.proxy_grpc_call(
        target.upstream.ptr,
        target.upstream.len,
        target.service.ptr,
        target.service.len,
        target.method.ptr,
        target.method.len,
        target.metadata.ptr,
        target.metadata.len,
        message.ptr,
        message.len,
        timeout_milliseconds,
        &call_id,
    ));
    return call_id;
}

pub fn grpcStream(target: GrpcTarget) HostError!u32 {
    var stream_id: u32 = 0;
    try check(imports.proxy_grpc_stream(
        target.upstream.ptr,
        target.upstream.len,
        target.service.ptr,
        target.service.len,
        target.method.ptr,
        target.method.len,
        target.metadata.ptr,
        target.metadata.len,
        &stream_id,
    ));
    return stream_id;
}

pub fn grpcSend(stream_id: u32, message: []const u8, end_stream: bool) HostError!void {
    try check(imports.proxy_grpc_send(stream_id, message.ptr, message.len, @intFromBool(end_stream)));
}

pub fn grpcCancel(call_id: u32) HostError!void {
    try check(imports.proxy_grpc_cancel(call_id));
}

pub fn grpcClose(call_id: u32) HostError!void {
    try check(imports.proxy_grpc_close(call_id));
}

// -- Metrics ---------------------------------------------------------------

pub fn defineMetric(metric_type: types.MetricType, name: []const u8) HostError!u32 {
    var metric_id: u32 = 0;
    try check(imports.proxy_define_metric(metric_type, name.ptr, name.len, &metric_id));
    return metric_id;
}

pub fn incrementMetric(metric_id: u32, delta: i64) HostError!void {
    try check(imports.proxy_increment_metric(metric_id, delta));
}

pub fn recordMetric(metric_id: u32, value: u64) HostError!void {
    try check(imports.proxy_record_metric(metric_id, value));
}

pub fn getMetric(metric_id: u32) HostError!u64 {
    var value: u64 = 0;
    try check(imports.proxy_get_metric(metric_id, &value));
    return value;
}

// -- Foreign functions -----------------------------------------------------

pub fn callForeignFunction(name: []const u8, arguments: []const u8) HostError![]const u8 {
    var data: ?[*]u8 = null;
    var size: usize = 0;
    try check(imports.proxy_call_foreign_function(name.ptr, name.len, arguments.ptr, arguments.len, &data, &size));
    return returned(data, size);
}

//! The host functions of proxy-Wasm ABI 0.2.1, declared with their exact wasm
//! signatures (all i32 but the i64 metric values). Only functions a module
//! actually calls become imports, so a module's import section is exactly the
//! set of capabilities it uses. Filter code calls `host.zig`, never these.

const types = @import("types.zig");
const Status = types.Status;

// Logging.
pub extern "env" fn proxy_log(level: types.LogLevel, message_data: [*]const u8, message_size: usize) Status;
pub extern "env" fn proxy_get_log_level(return_level: *types.LogLevel) Status;

// Clock and timer.
pub extern "env" fn proxy_get_current_time_nanoseconds(return_time: *u64) Status;
pub extern "env" fn proxy_set_tick_period_milliseconds(period: u32) Status;

// Buffers.
pub extern "env" fn proxy_get_buffer_bytes(buffer: types.BufferType, start: usize, max_size: usize, return_data: *?[*]u8, return_size: *usize) Status;
pub extern "env" fn proxy_set_buffer_bytes(buffer: types.BufferType, start: usize, size: usize, value_data: [*]const u8, value_size: usize) Status;
pub extern "env" fn proxy_get_buffer_status(buffer: types.BufferType, return_size: *usize, return_flags: *u32) Status;

// Header maps.
pub extern "env" fn proxy_get_header_map_pairs(map: types.MapType, return_data: *?[*]u8, return_size: *usize) Status;
pub extern "env" fn proxy_set_header_map_pairs(map: types.MapType, pairs_data: [*]const u8, pairs_size: usize) Status;
pub extern "env" fn proxy_get_header_map_size(map: types.MapType, return_size: *usize) Status;
pub extern "env" fn proxy_get_header_map_value(map: types.MapType, key_data: [*]const u8, key_size: usize, return_data: *?[*]u8, return_size: *usize) Status;
pub extern "env" fn proxy_add_header_map_value(map: types.MapType, key_data: [*]const u8, key_size: usize, value_data: [*]const u8, value_size: usize) Status;
pub extern "env" fn proxy_replace_header_map_value(map: types.MapType, key_data: [*]const u8, key_size: usize, value_data: [*]const u8, value_size: usize) Status;
pub extern "env" fn proxy_remove_header_map_value(map: types.MapType, key_data: [*]const u8, key_size: usize) Status;

// Properties.
pub extern "env" fn proxy_get_property(path_data: [*]const u8, path_size: usize, return_data: *?[*]u8, return_size: *usize) Status;
pub extern "env" fn proxy_set_property(path_data: [*]const u8, path_size: usize, value_data: [*]const u8, value_size: usize) Status;

// Stream control.
pub extern "env" fn proxy_send_local_response(status_code: u32, details_data: [*]const u8, details_size: usize, body_data: [*]const u8, body_size: usize, headers_data: [*]const u8, headers_size: usize, grpc_status: i32) Status;
pub extern "env" fn proxy_continue_stream(stream: types.StreamType) Status;
pub extern "env" fn proxy_close_stream(stream: types.StreamType) Status;
pub extern "env" fn proxy_get_status(return_code: *u32, return_message_data: *?[*]u8, return_message_size: *usize) Status;

// Context management.
pub extern "env" fn proxy_set_effective_context(context_id: u32) Status;
pub extern "env" fn proxy_done() Status;

// Shared data and queues.
pub extern "env" fn proxy_get_shared_data(key_data: [*]const u8, key_size: usize, return_data: *?[*]u8, return_size: *usize, return_cas: *u32) Status;
pub extern "env" fn proxy_set_shared_data(key_data: [*]const u8, key_size: usize, value_data: [*]const u8, value_size: usize, cas: u32) Status;
pub extern "env" fn proxy_register_shared_queue(name_data: [*]const u8, name_size: usize, return_queue_id: *u32) Status;
pub extern "env" fn proxy_resolve_shared_queue(vm_id_data: [*]const u8, vm_id_size: usize, name_data: [*]const u8, name_size: usize, return_queue_id: *u32) Status;
pub extern "env" fn proxy_enqueue_shared_queue(queue_id: u32, value_data: [*]const u8, value_size: usize) Status;
pub extern "env" fn proxy_dequeue_shared_queue(queue_id: u32, return_data: *?[*]u8, return_size: *usize) Status;

// HTTP and gRPC callouts.
pub extern "env" fn proxy_http_call(upstream_data: [*]const u8, upstream_size: usize, headers_data: [*]const u8, headers_size: usize, body_data: [*]const u8, body_size: usize, trailers_data: [*]const u8, trailers_size: usize, timeout_ms: u32, return_call_id: *u32) Status;
pub extern "env" fn proxy_grpc_call(upstream_data: [*]const u8, upstream_size: usize, service_data: [*]const u8, service_size: usize, method_data: [*]const u8, method_size: usize, metadata_data: [*]const u8, metadata_size: usize, message_data: [*]const u8, message_size: usize, timeout_ms: u32, return_call_id: *u32) Status;
pub extern "env" fn proxy_grpc_stream(upstream_data: [*]const u8, upstream_size: usize, service_data: [*]const u8, service_size: usize, method_data: [*]const u8, method_size: usize, metadata_data: [*]const u8, metadata_size: usize, return_stream_id: *u32) Status;
pub extern "env" fn proxy_grpc_send(stream_id: u32, message_data: [*]const u8, message_size: usize, end_stream: u32) Status;
pub extern "env" fn proxy_grpc_cancel(call_id: u32) Status;
pub extern "env" fn proxy_grpc_close(call_id: u32) Status;

// Metrics.
pub extern "env" fn proxy_define_metric(metric_type: types.MetricType, name_data: [*]const u8, name_size: usize, return_metric_id: *u32) Status;
pub extern "env" fn proxy_increment_metric(metric_id: u32, delta: i64) Status;
pub extern "env" fn proxy_record_metric(metric_id: u32, value: u64) Status;
pub extern "env" fn proxy_get_metric(metric_id: u32, return_value: *u64) Status;

// Foreign functions.
pub extern "env" fn proxy_call_foreign_function(name_data: [*]const u8, name_size: usize, arguments_data: [*]const u8, arguments_size: usize, return_data: *?[*]u8, return_size: *usize) Status;

//! Export dispatch: turns the host's callbacks into calls on a plugin's typed
//! contexts. A plugin is a struct with
//!   `Root`          root (plugin) context type, required: `fn init(context_id: u32) Root`
//!   `Http`          optional HTTP stream context: `fn init(root: *Root, context_id: u32) Http`
//!   `Tcp`           optional TCP stream context: `fn init(root: *Root, context_id: u32) Tcp`
//!   `streams_max`   optional bound on concurrent streams (default 1024)
//!   `roots_max`     optional bound on live root contexts (default 8)
//! Each context implements only the callbacks it needs (see the method names
//! below); a callback is exported only when some context implements it, so a
//! module's exports are exactly what it handles. Callout answers (HTTP, gRPC)
//! and queue, tick and foreign-function callbacks go to the root context. Streams become HTTP or TCP on
//! their first callback, so one module can serve as both filter kinds.

const std = @import("std");
const assert = std.debug.assert;
const types = @import("types.zig");
const host = @import("host.zig");
const memory = @import("memory.zig");
const registry_module = @import("registry.zig");

const Action = types.Action;

/// Exports every callback `Plugin` implements. Call from a `comptime` block.
pub fn exportPlugin(comptime Plugin: type) void {
    const D = Dispatcher(Plugin);
    const always = .{
        "proxy_abi_version_0_2_1", "proxy_on_memory_allocate", "proxy_on_context_create",
        "proxy_on_vm_start",       "proxy_on_configure",       "proxy_on_delete",
    };
    inline for (always) |name| @export(&@field(D, name), .{ .name = name });

    // The host skips an end-of-stream callback a module does not export (cpp-host:
    // no `proxy_on_done` means done), so a plugin that has nothing to do there is
    // not called into twice more per stream for nothing.
    const end_callbacks = .{
        .{ "proxy_on_done", "onDone" },
        .{ "proxy_on_log", "onLog" },
    };
    inline for (end_callbacks) |pair| {
        if (@hasDecl(D.Root, pair[1]) or @hasDecl(D.Http, pair[1]) or @hasDecl(D.Tcp, pair[1])) {
            @export(&@field(D, pair[0]), .{ .name = pair[0] });
        }
    }

    const root_callbacks = .{
        .{ "proxy_on_tick", "onTick" },
        .{ "proxy_on_queue_ready", "onQueueReady" },
        .{ "proxy_on_foreign_function", "onForeignFunction" },
    };
    inline for (root_callbacks) |pair| {
        if (@hasDecl(D.Root, pair[1])) @export(&@field(D, pair[0]), .{ .name = pair[0] });
    }
    const callout_callbacks = .{
        .{ "proxy_on_http_call_response", "onHttpCallResponse" },
        .{ "proxy_on_grpc_receive_initial_metadata", "onGrpcReceiveInitialMetadata" },
        .{ "proxy_on_grpc_receive", "onGrpcReceive" },
        .{ "proxy_on_grpc_receive_trailing_metadata", "onGrpcReceiveTrailingMetadata" },
        .{ "proxy_on_grpc_close", "onGrpcClose" },
    };
    inline for (callout_callbacks) |pair| {
        if (@hasDecl(D.Root, pair[1])) @export(&@field(D, pair[0]), .{ .name = pair[0] });
    }
    const http_callbacks = .{
        .{ "proxy_on_request_headers", "onRequestHeaders" },
        .{ "proxy_on_request_body", "onRequestBody" },
        .{ "proxy_on_request_trailers", "onRequestTrailers" },
        .{ "proxy_on_response_headers", "onResponseHeaders" },
        .{ "proxy_on_response_body", "onResponseBody" },
        .{ "proxy_on_response_trailers", "onResponseTrailers" },
    };
    inline for (http_callbacks) |pair| {
        if (@hasDecl(D.Http, pair[1])) @export(&@field(D, pair[0]), .{ .name = pair[0] });
    }
    const tcp_callbacks = .{
        .{ "proxy_on_new_connection", "onNewConnection" },
        .{ "proxy_on_downstream_data", "onDownstreamData" },
        .{ "proxy_on_downstream_connection_close", "onDownstreamConnectionClose" },
        .{ "proxy_on_upstream_data", "onUpstreamData" },
        .{ "proxy_on_upstream_connection_close", "onUpstreamConnectionClose" },
    };
    inline for (tcp_callbacks) |pair| {
        if (@hasDecl(D.Tcp, pair[1])) @export(&@field(D, pair[0]), .{ .name = pair[0] });
    }
}

/// Stands in for an absent Http or Tcp context type; it has no callbacks.
const NoContext = struct {
    fn init(root: anytype, context_id: u32) NoContext {
        _ = root;
        _ = context_id;
        return .{};
    }
};

fn Dispatcher(comptime Plugin: type) type {
    return struct {
        pub const Root = Plugin.Root;
        pub const Http = if (@hasDecl(Plugin, "Http")) Plugin.Http else NoContext;
        pub const Tcp = if (@hasDecl(Plugin, "Tcp")) Plugin.Tcp else NoContext;
        const streams_max: u32 = if (@hasDecl(Plugin, "streams_max")) Plugin.streams_max else 1024;
        const roots_max: u32 = if (@hasDecl(Plugin, "roots_max")) Plugin.roots_max else 8;

        const Stream = union(enum) {
            /// Created by the host; becomes HTTP or TCP on its first callback.
            pending: u32,
            http: Http,
            tcp: Tcp,
        };

        var registry: registry_module.Registry(roots_max, streams_max) = .{};
        var roots: [roots_max]Root = undefined;
        var streams: [streams_max]Stream = undefined;

        // -- Integration and memory ---------------------------------------

        pub fn proxy_abi_version_0_2_1() callconv(.c) void {}

        pub fn proxy_on_memory_allocate(size: usize) callconv(.c) ?[*]u8 {
            return memory.allocate(size);
        }

        // -- Lifecycle ------------------------------------------------------

        pub fn proxy_on_context_create(context_id: u32, parent_context_id: u32) callconv(.c) void {
            memory.resetCallArena();
            if (parent_context_id == 0) {
                const slot = registry.insert(context_id, .root) catch |err| {
                    host.logFmt(.err, "meshveil: root context {d} not created: {s}", .{ context_id, @errorName(err) });
                    return;
                };
                roots[slot] = Root.init(context_id);
                return;
            }
            const parent = registry.find(parent_context_id) orelse {
                host.logFmt(.err, "meshveil: stream {d} has unknown parent {d}", .{ context_id, parent_context_id });
                return;
            };
            assert(parent.kind == .root);
            const slot = registry.insert(context_id, .stream) catch |err| {
                // The stream goes unfiltered; the log says so, loudly.
                host.logFmt(.err, "meshveil: stream {d} not tracked: {s}", .{ context_id, @errorName(err) });
                return;
            };
            streams[slot] = .{ .pending = parent.slot };
        }

        pub fn proxy_on_vm_start(context_id: u32, configuration_size: usize) callconv(.c) u32 {
            memory.resetCallArena();
            const root = rootOf(context_id) orelse return 0;
            if (!@hasDecl(Root, "onVmStart")) return 1;
            const configuration = readBuffer(.vm_configuration, configuration_size) orelse return 0;
            return @intFromBool(root.onVmStart(configuration));
        }

        pub fn proxy_on_configure(context_id: u32, configuration_size: usize) callconv(.c) u32 {
            memory.resetCallArena();
            const root = rootOf(context_id) orelse return 0;
            if (!@hasDecl(Root, "onConfigure")) return 1;
            const configuration = readBuffer(.plugin_configuration, configuration_size) orelse return 0;
            return @intFromBool(root.onConfigure(configuration));
        }

        pub fn proxy_on_done(context_id: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const entry = registry.find(context_id) orelse return 1;
            switch (entry.kind) {
                .root => return @intFromBool(callOr(&roots[entry.slot], "onDone", .{}, true)),
                .stream => return switch (settle(context_id, &streams[entry.slot]).*) {
                    .pending => 1,
                    .http => |*http| @intFromBool(callOr(http, "onDone", .{}, true)),
                    .tcp => |*tcp| @intFromBool(callOr(tcp, "onDone", .{}, true)),
                },
            }
        }

        pub fn proxy_on_log(context_id: u32) callconv(.c) void {
            memory.resetCallArena();
            const entry = registry.find(context_id) orelse return;
            switch (entry.kind) {
                .root => callOr(&roots[entry.slot], "onLog", .{}, {}),
                .stream => switch (settle(context_id, &streams[entry.slot]).*) {
                    .pending => {},
                    .http => |*http| callOr(http, "onLog", .{}, {}),
                    .tcp => |*tcp| callOr(tcp, "onLog", .{}, {}),
                },
            }
        }

        pub fn proxy_on_delete(context_id: u32) callconv(.c) void {
            memory.resetCallArena();
            const entry = registry.find(context_id) orelse return;
            switch (entry.kind) {
                .root => callOr(&roots[entry.slot], "onDelete", .{}, {}),
                .stream => switch (streams[entry.slot]) {
                    .pending => {},
                    .http => |*http| callOr(http, "onDelete", .{}, {}),
                    .tcp => |*tcp| callOr(tcp, "onDelete", .{}, {}),
                },
            }
            registry.remove(context_id);
        }

        // -- Root-only callbacks --------------------------------------------

        pub fn proxy_on_tick(context_id: u32) callconv(.c) void {
            memory.resetCallArena();
            const root = rootOf(context_id) orelse return;
            root.onTick();
        }

        pub fn proxy_on_queue_ready(context_id: u32, queue_id: u32) callconv(.c) void {
            memory.resetCallArena();
            const root = rootOf(context_id) orelse return;
            root.onQueueReady(queue_id);
        }

        pub fn proxy_on_foreign_function(context_id: u32, function_id: u32, arguments_size: usize) callconv(.c) void {
            memory.resetCallArena();
            const root = rootOf(context_id) orelse return;
            const arguments = readBuffer(.foreign_function_arguments, arguments_size) orelse return;
            root.onForeignFunction(function_id, arguments);
        }

        // -- Callout responses ----------------------------------------------
        // Envoy places every callout on the caller's root context
        // (`contextOrEffectiveContext()->root_context()` in cpp-host's exports),
        // so answers arrive for the root; a root that serves streams maps the
        // call id back to its stream and uses `host.setEffectiveContext`.

        pub fn proxy_on_http_call_response(context_id: u32, call_id: u32, headers_count: u32, body_size: usize, trailers_count: u32) callconv(.c) void {
            memory.resetCallArena();
            forwardCallout("onHttpCallResponse", context_id, .{ call_id, headers_count, body_size, trailers_count });
        }

        pub fn proxy_on_grpc_receive_initial_metadata(context_id: u32, call_id: u32, elements_count: u32) callconv(.c) void {
            memory.resetCallArena();
            forwardCallout("onGrpcReceiveInitialMetadata", context_id, .{ call_id, elements_count });
        }

        pub fn proxy_on_grpc_receive(context_id: u32, call_id: u32, message_size: usize) callconv(.c) void {
            memory.resetCallArena();
            forwardCallout("onGrpcReceive", context_id, .{ call_id, message_size });
        }

        pub fn proxy_on_grpc_receive_trailing_metadata(context_id: u32, call_id: u32, elements_count: u32) callconv(.c) void {
            memory.resetCallArena();
            forwardCallout("onGrpcReceiveTrailingMetadata", context_id, .{ call_id, elements_count });
        }

        pub fn proxy_on_grpc_close(context_id: u32, call_id: u32, status_code: u32) callconv(.c) void {
            memory.resetCallArena();
            forwardCallout("onGrpcClose", context_id, .{ call_id, status_code });
        }

        fn forwardCallout(comptime method: []const u8, context_id: u32, args: anytype) void {
            const root = rootOf(context_id) orelse return;
            callOr(root, method, args, {});
        }

        // -- HTTP -----------------------------------------------------------

        pub fn proxy_on_request_headers(context_id: u32, headers_count: u32, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onRequestHeaders(headers_count, end_of_stream != 0));
        }

        pub fn proxy_on_request_body(context_id: u32, body_size: usize, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onRequestBody(body_size, end_of_stream != 0));
        }

        pub fn proxy_on_request_trailers(context_id: u32, trailers_count: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onRequestTrailers(trailers_count));
        }

        pub fn proxy_on_response_headers(context_id: u32, headers_count: u32, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onResponseHeaders(headers_count, end_of_stream != 0));
        }

        pub fn proxy_on_response_body(context_id: u32, body_size: usize, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onResponseBody(body_size, end_of_stream != 0));
        }

        pub fn proxy_on_response_trailers(context_id: u32, trailers_count: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const http = httpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(http.onResponseTrailers(trailers_count));
        }

        // -- TCP ------------------------------------------------------------

        pub fn proxy_on_new_connection(context_id: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const tcp = tcpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(tcp.onNewConnection());
        }

        pub fn proxy_on_downstream_data(context_id: u32, data_size: usize, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const tcp = tcpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(tcp.onDownstreamData(data_size, end_of_stream != 0));
        }

        pub fn proxy_on_downstream_connection_close(context_id: u32, peer: types.PeerType) callconv(.c) void {
            memory.resetCallArena();
            const tcp = tcpOf(context_id) orelse return;
            tcp.onDownstreamConnectionClose(peer);
        }

        pub fn proxy_on_upstream_data(context_id: u32, data_size: usize, end_of_stream: u32) callconv(.c) u32 {
            memory.resetCallArena();
            const tcp = tcpOf(context_id) orelse return @intFromEnum(Action.@"continue");
            return @intFromEnum(tcp.onUpstreamData(data_size, end_of_stream != 0));
        }

        pub fn proxy_on_upstream_connection_close(context_id: u32, peer: types.PeerType) callconv(.c) void {
            memory.resetCallArena();
            const tcp = tcpOf(context_id) orelse return;
            tcp.onUpstreamConnectionClose(peer);
        }

        // -- Lookup ---------------------------------------------------------

        fn rootOf(context_id: u32) ?*Root {
            const entry = registry.find(context_id) orelse return null;
            if (entry.kind != .root) return null;
            return &roots[entry.slot];
        }

        fn httpOf(context_id: u32) ?*Http {
            const stream = streamOf(context_id) orelse return null;
            switch (stream.*) {
                .pending => |root_slot| {
                    if (Http == NoContext) return null;
                    stream.* = .{ .http = Http.init(&roots[root_slot], context_id) };
                    return &stream.http;
                },
                .http => |*http| return http,
                .tcp => return null,
            }
        }

        fn tcpOf(context_id: u32) ?*Tcp {
            const stream = streamOf(context_id) orelse return null;
            switch (stream.*) {
                .pending => |root_slot| {
                    if (Tcp == NoContext) return null;
                    stream.* = .{ .tcp = Tcp.init(&roots[root_slot], context_id) };
                    return &stream.tcp;
                },
                .tcp => |*tcp| return tcp,
                .http => return null,
            }
        }

        /// A stream that ends before any filter callback reached it (an earlier
        /// filter replied locally) still gets done and log, as in Envoy; it takes
        /// the plugin's one stream kind, and stays pending when it has both.
        fn settle(context_id: u32, stream: *Stream) *Stream {
            const root_slot = switch (stream.*) {
                .pending => |slot| slot,
                else => return stream,
            };
            if (Http != NoContext and Tcp == NoContext) {
                stream.* = .{ .http = Http.init(&roots[root_slot], context_id) };
            } else if (Tcp != NoContext and Http == NoContext) {
                stream.* = .{ .tcp = Tcp.init(&roots[root_slot], context_id) };
            }
            return stream;
        }

        fn streamOf(context_id: u32) ?*Stream {
            const entry = registry.find(context_id) orelse return null;
            if (entry.kind != .stream) return null;
            return &streams[entry.slot];
        }

        fn readBuffer(buffer: types.BufferType, size: usize) ?[]const u8 {
            if (size == 0) return &.{};
            return host.getBufferBytes(buffer, 0, size) catch |err| {
                host.logFmt(.err, "meshveil: reading {s} failed: {s}", .{ @tagName(buffer), @errorName(err) });
                return null;
            };
        }

        /// Calls `method` on `context` when its type declares it, else answers `default`.
        fn callOr(context: anytype, comptime method: []const u8, args: anytype, default: anytype) @TypeOf(default) {
            const Context = @typeInfo(@TypeOf(context)).pointer.child;
            if (!@hasDecl(Context, method)) return default;
            return @call(.auto, @field(Context, method), .{context} ++ args);
        }
    };
}

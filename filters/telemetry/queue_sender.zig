//! A root context's sender for events another part of the filter queued (the DLP
//! filter's finding events in `meshveil.findings.v1`): configured from the `telemetry`
//! member of the filter's config, it drains the queue on ticks (or when a batch's worth
//! waits) and sends batches with `proxy_http_call`, stamping each event with its id and
//! the plugin name. Host-bound; the batching logic is `sender.zig`.

const std = @import("std");
const abi = @import("abi");
const sender = @import("sender.zig");
const settings = @import("settings.zig");
const host_env = @import("host_env.zig");

const host = abi.host;

/// How often an idle sender looks at its queue (and retries a failed batch).
pub const tick_ms: u32 = 1000;

// Configure-time parse scratch, one per VM: callbacks of a VM never overlap.
var scratch: [32 * 1024]u8 = undefined;

pub fn QueueSender(comptime options: sender.Options) type {
    comptime std.debug.assert(options.stamp_events);
    return struct {
        const Self = @This();
        pub const Env = host_env.HostEnv(options);
        pub const Pipeline = sender.Pipeline(Env, options);

        env: Env = .{},
        pipeline: Pipeline = undefined,
        running: bool = false,
        generation: ?u32 = null,

        /// Takes the `telemetry` member of an accepted config (`config_json`, the filter
        /// config's JSON document); `generation` says whether it changed at all.
        pub fn configure(self: *Self, context_id: u32, generation: u32, config_json: []const u8, queue_name: []const u8, depth_key: []const u8) void {
            if (self.generation == generation) return;
            self.generation = generation;
            // A new config abandons the batch in hand; the drop count says so.
            if (self.running) self.pipeline.abandonBatch();
            self.running = false;
            const wanted = switch (settings.member(config_json, &scratch)) {
                .absent => return,
                .invalid => |message| {
                    host.logFmt(.err, options.module_name ++ ": telemetry off: {s}; events stay in their queue", .{message});
                    return;
                },
                .present => |wanted| wanted,
            };
            self.env.define();
            const plugin = host.getProperty(&.{"plugin_name"}) catch null orelse "";
            const node = host.getProperty(&.{ "node", "id" }) catch null orelse "";
            var key_buffer: [256]u8 = undefined;
            const sequence_key = std.fmt.bufPrint(&key_buffer, "{s}/vm-sequence", .{queue_name}) catch queue_name;
            const nonce = host_env.vmNonce(sequence_key, plugin, context_id);
            self.pipeline = Pipeline.init(&self.env, wanted, queue_name, depth_key, node, plugin, nonce);
            self.running = true;
            host.setTickPeriodMilliseconds(tick_ms) catch |err| {
                host.logFmt(.err, options.module_name ++ ": no ticks ({s}): events are sent only when a batch's worth is queued", .{@errorName(err)});
            };
        }

        pub fn onTick(self: *Self) void {
            if (self.running) self.pipeline.flush();
        }

        pub fn onQueueReady(self: *Self, queue_id: u32) void {
            if (!self.running or self.pipeline.queue != queue_id) return;
            self.pipeline.onQueueReady();
        }

        /// True when the call was this sender's.
        pub fn onHttpCallResponse(self: *Self, call_id: u32, headers_count: u32) bool {
            if (!self.running) return false;
            return self.pipeline.onHttpResponse(call_id, host_env.calloutStatus(headers_count));
        }
    };
}

//! meshveil-dlp: finds sensitive data in requests and responses (headers, query,
//! cookies and bodies: JSON, forms, text, server-sent events, gRPC, gzip) and, per
//! route, counts it by detector, blocks, alerts or tags at the policy's thresholds,
//! and reports each message's findings as an event, a log line and Envoy counters.

const abi = @import("abi");
const pipeline = @import("pipeline");
const telemetry = @import("telemetry");
const Stream = @import("stream.zig").Stream;

pub const panic = abi.panic;

pub const module_name = "meshveil-dlp";
/// Stream contexts one VM tracks; each is small (two tallies), the body state lives in
/// the slot pool. Past it a stream goes unfiltered and the log says so loudly.
pub const stream_contexts_max: u32 = 512;
/// Streams inside a scanned body at once, per VM (see README "Memory").
pub const slots_max: u16 = 16;

/// Sends the finding events `Frame.Reporter` queues to the control plane's collector
/// (filters/telemetry/), when the config has a `telemetry` member.
pub const FindingsSender = telemetry.QueueSender(.{
    .module_name = module_name,
    .metric_prefix = "meshveil.dlp.telemetry",
    .event_bytes_max = pipeline.events.event_bytes_max,
    .stamp_events = true,
});

/// Filter-wide counters, by name; ids are defined on first use.
pub const Counter = enum {
    passed_unscanned,
    unscannable,
    slots_exhausted,
    blocked,

    pub fn name(self: Counter) []const u8 {
        return switch (self) {
            inline else => |which| "meshveil.dlp.bodies." ++ @tagName(which),
        };
    }
};

/// The shared root state: verified config, body slots, reporter, counters.
pub const Frame = pipeline.root.Root(.{
    .module_name = module_name,
    .filter = "dlp",
    .slot_bytes = pipeline.body.Detector.slot_bytes,
    .slots_max = slots_max,
    .Counter = Counter,
    .masks = false,
    .sends_events = true,
});

pub const RootContext = struct {
    frame: Frame,
    findings_sender: FindingsSender = .{},

    pub fn init(context_id: u32) RootContext {
        return .{ .frame = Frame.init(context_id) };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        if (!self.frame.configure(configuration)) return false;
        if (self.frame.configs.current) |loaded| {
            var problem = pipeline.config.Problem{};
            // The config was split and parsed once already; this cannot fail.
            const parts = pipeline.config.split(loaded.bytes, &problem) catch return true;
            self.findings_sender.configure(self.frame.context_id, loaded.generation, parts.json, pipeline.report.queue_name, pipeline.report.depth_key);
        }
        return true;
    }

    pub fn onTick(self: *RootContext) void {
        self.findings_sender.onTick();
    }

    pub fn onQueueReady(self: *RootContext, queue_id: u32) void {
        self.findings_sender.onQueueReady(queue_id);
    }

    pub fn onHttpCallResponse(self: *RootContext, call_id: u32, headers_count: u32, body_size: usize, trailers_count: u32) void {
        _ = body_size;
        _ = trailers_count;
        _ = self.findings_sender.onHttpCallResponse(call_id, headers_count);
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = Stream;
        pub const streams_max = stream_contexts_max;
    });
}

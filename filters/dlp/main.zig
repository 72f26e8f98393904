//! meshveil-dlp: finds sensitive data in requests and responses (headers, query,
//! cookies and bodies: JSON, forms, text, server-sent events, gRPC, gzip) and, per
//! route, counts it by detector, blocks, alerts or tags at the policy's thresholds,
//! and reports each message's findings as an event, a log line and Envoy counters.

const std = @import("std");
const abi = @import("abi");
const trust = @import("trust");
const pipeline = @import("pipeline");
const Stream = @import("stream.zig").Stream;

pub const panic = abi.panic;

pub const module_name = "meshveil-dlp";
/// Stream contexts one VM tracks; each is small (two tallies), the body state lives in
/// the slot pool. Past it a stream goes unfiltered and the log says so loudly.
pub const stream_contexts_max: u32 = 512;
/// Streams inside a scanned body at once, per VM (see README "Memory").
pub const slots_max: u16 = 16;

pub const Pool = pipeline.slots.Pool(pipeline.body.Detector.slot_bytes, slots_max);
pub const Reporter = pipeline.report.Reporter(module_name, "dlp", true);

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

pub const RootContext = struct {
    context_id: u32,
    /// The verified configuration this plugin serves (see filters/trust/).
    config: trust.Configured(module_name) = .{},
    configs: pipeline.loaded.Configs = .{ .allocator = std.heap.wasm_allocator },
    pool: Pool = .{},
    reporter: Reporter = .{},
    counters: [@typeInfo(Counter).@"enum".fields.len]?u32 = .{null} ** @typeInfo(Counter).@"enum".fields.len,

    pub fn init(context_id: u32) RootContext {
        return .{ .context_id = context_id };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        if (!self.config.apply(configuration)) return false;
        const active = self.config.current() orelse return false;
        const verified = pipeline.configure.Verified{ .bytes = active.bytes, .version = active.version, .generation = active.generation };
        if (!pipeline.configure.install(module_name, false, &self.configs, verified)) return false;
        self.reporter.open();
        return true;
    }

    pub fn count(self: *RootContext, counter: Counter) void {
        pipeline.host_io.increment(&self.counters[@intFromEnum(counter)], counter.name(), 1);
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = Stream;
        pub const streams_max = stream_contexts_max;
    });
}

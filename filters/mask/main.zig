//! meshveil-mask: rewrites sensitive data in requests and responses as the policy says
//! per detector (partial mask, labelled redaction, keyed hash token, format-preserving
//! replacement, dropping the JSON field or form pair), in headers, the query, cookies and
//! bodies (JSON, forms, text, server-sent events, gRPC, gzip), keeping every body valid:
//! JSON stays JSON, a gRPC frame keeps correct lengths, a gzip body is gzip again.

const std = @import("std");
const abi = @import("abi");
const trust = @import("trust");
const pipeline = @import("pipeline");
const Stream = @import("stream.zig").Stream;

pub const panic = abi.panic;

pub const module_name = "meshveil-mask";
/// Stream contexts one VM tracks (see meshveil-dlp); body state lives in the slots.
pub const stream_contexts_max: u32 = 512;
/// Streams inside a masked body at once, per VM (see README "Memory").
pub const slots_max: u16 = 8;

pub const Pool = pipeline.slots.Pool(pipeline.body.Masker.slot_bytes, slots_max);
pub const Reporter = pipeline.report.Reporter(module_name, "mask", false);

/// Filter-wide counters, by name; ids are defined on first use.
pub const Counter = enum {
    masked,
    dropped,
    unmasked,
    passed_unscanned,
    unscannable,
    slots_exhausted,

    pub fn name(self: Counter) []const u8 {
        return switch (self) {
            inline else => |which| "meshveil.mask.values." ++ @tagName(which),
        };
    }
};

pub const RootContext = struct {
    context_id: u32,
    /// The verified configuration this plugin serves (see filters/trust/).
    config: trust.Configured(module_name) = .{},
    configs: pipeline.loaded.Configs = .{ .allocator = std.heap.wasm_allocator },
    pool: Pool = .{},
    /// One masker for header values, used within a single callback.
    header_slot: ?[]align(16) u8 = null,
    reporter: Reporter = .{},
    counters: [@typeInfo(Counter).@"enum".fields.len]?u32 = .{null} ** @typeInfo(Counter).@"enum".fields.len,

    pub fn init(context_id: u32) RootContext {
        return .{ .context_id = context_id };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        if (!self.config.apply(configuration)) return false;
        const active = self.config.current() orelse return false;
        const verified = pipeline.configure.Verified{ .bytes = active.bytes, .version = active.version, .generation = active.generation };
        return pipeline.configure.install(module_name, true, &self.configs, verified);
    }

    pub fn count(self: *RootContext, counter: Counter, delta: u64) void {
        pipeline.host_io.increment(&self.counters[@intFromEnum(counter)], counter.name(), delta);
    }

    /// The header masker's memory, taken from linear memory on first use.
    pub fn headerSlot(self: *RootContext) ?[]align(16) u8 {
        if (self.header_slot == null) {
            self.header_slot = std.heap.wasm_allocator.alignedAlloc(u8, 16, pipeline.body.HeaderMasker.slot_bytes) catch null;
        }
        return self.header_slot;
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = Stream;
        pub const streams_max = stream_contexts_max;
    });
}

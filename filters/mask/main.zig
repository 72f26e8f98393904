//! meshveil-mask: rewrites sensitive data in requests and responses as the policy says
//! per detector (partial mask, labelled redaction, keyed hash token, format-preserving
//! replacement, dropping the JSON field or form pair), in headers, the query, cookies and
//! bodies (JSON, forms, text, server-sent events, gRPC, gzip), keeping every body valid:
//! JSON stays JSON, a gRPC frame keeps correct lengths, a gzip body is gzip again.

const std = @import("std");
const abi = @import("abi");
const pipeline = @import("pipeline");
const Stream = @import("stream.zig").Stream;

pub const panic = abi.panic;

pub const module_name = "meshveil-mask";
/// Stream contexts one VM tracks (see meshveil-dlp); body state lives in the slots.
pub const stream_contexts_max: u32 = 512;
/// Streams inside a masked body at once, per VM (see README "Memory").
pub const slots_max: u16 = 8;

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

/// The shared root state: verified config, body slots, reporter, counters.
pub const Frame = pipeline.root.Root(.{
    .module_name = module_name,
    .filter = "mask",
    .slot_bytes = pipeline.body.Masker.slot_bytes,
    .slots_max = slots_max,
    .Counter = Counter,
    .masks = true,
    .sends_events = false,
});

pub const RootContext = struct {
    frame: Frame,
    /// One masker for header values, used within a single callback.
    header_slot: ?[]align(16) u8 = null,

    pub fn init(context_id: u32) RootContext {
        return .{ .frame = Frame.init(context_id) };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        return self.frame.configure(configuration);
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

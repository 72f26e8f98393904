//! The root-context state meshveil-dlp and meshveil-mask share: the verified config
//! handed from the trust layer to `configure.install`, the body slot pool, the
//! findings reporter and the filter's own counters. Each filter's root context holds
//! one as `frame` and adds only what is its own (telemetry, a header masker).

const std = @import("std");
const trust = @import("trust");
const configure_module = @import("configure.zig");
const host_io = @import("host_io.zig");
const loaded = @import("loaded.zig");
const report = @import("report.zig");
const slots = @import("slots.zig");

const assert = std.debug.assert;

/// What tells one filter's frame from the other's, all known at compile time.
pub const Spec = struct {
    module_name: []const u8,
    /// The filter's name in finding events and rule metrics ("dlp", "mask").
    filter: []const u8,
    /// Bytes of one body processor's slot (`Detector.slot_bytes`, `Masker.slot_bytes`).
    slot_bytes: usize,
    /// Streams inside a processed body at once, per VM (see README "Memory").
    slots_max: u16,
    /// Filter-wide counters: an enum whose `name()` is the metric name.
    Counter: type,
    /// Whether the config's mask actions are built (and missing keys warned about).
    masks: bool,
    /// Whether findings go to the shared queue as events, not only to the log.
    sends_events: bool,
};

pub fn Root(comptime spec: Spec) type {
    comptime {
        assert(spec.module_name.len > 0);
        assert(spec.slot_bytes > 0);
        assert(spec.slots_max > 0);
        assert(@typeInfo(spec.Counter).@"enum".fields.len > 0);
    }
    const counters_len = @typeInfo(spec.Counter).@"enum".fields.len;

    return struct {
        const Self = @This();

        pub const module_name = spec.module_name;
        pub const Counter = spec.Counter;
        pub const Pool = slots.Pool(spec.slot_bytes, spec.slots_max);
        pub const Reporter = report.Reporter(spec.module_name, spec.filter, spec.sends_events);

        context_id: u32,
        /// The verified configuration this plugin serves (see filters/trust/).
        config: trust.Configured(spec.module_name) = .{},
        configs: loaded.Configs = .{ .allocator = std.heap.wasm_allocator },
        pool: Pool = .{},
        reporter: Reporter = .{},
        /// Metric ids, defined on first use.
        counters: [counters_len]?u32 = .{null} ** counters_len,

        pub fn init(context_id: u32) Self {
            return .{ .context_id = context_id };
        }

        /// `onConfigure`: verify the bundle, then build and install its config; true
        /// when there is a config to serve afterwards (the last good one, if need be).
        pub fn configure(self: *Self, configuration: []const u8) bool {
            if (!self.config.apply(configuration)) return false;
            const active = self.config.current() orelse return false;
            const verified = configure_module.Verified{ .bytes = active.bytes, .version = active.version, .generation = active.generation };
            if (!configure_module.install(spec.module_name, spec.masks, &self.configs, verified)) return false;
            self.reporter.open();
            return true;
        }

        pub fn count(self: *Self, counter: Counter, delta: u64) void {
            const index = @intFromEnum(counter);
            assert(index < counters_len);
            host_io.increment(&self.counters[index], counter.name(), delta);
        }
    };
}

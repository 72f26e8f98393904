//! The filter side of config verification: gathers the facts from the host, keeps the
//! VM-wide state (trust keys, and per plugin the running version and config), logs and
//! counts every decision.
//!
//! Why VM-wide: Envoy gives each new plugin configuration a new root context in the same
//! VM, so a root context alone could not know the version running before it (rollback)
//! or the keys a rotation moved to. Per plugin name, because several plugin configs of
//! one module may share a VM, each with its own version stream.
//!
//! What `onConfigure` returns: true when the plugin serves a verified config, either the
//! one just accepted or, after a refusal, the last good one of the same plugin in this
//! VM; false only when a refusal leaves nothing to serve. Envoy then rejects that config
//! (in its configuration canary, which runs in a fresh VM, every refusal lands here) and
//! keeps the previous filter config in service. A VM restart forgets rotations: the
//! statements travel with every config so the next configure re-applies them.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const anchors = @import("trust_anchors");
const limits = @import("limits.zig");
const key_set = @import("key_set.zig");
const verify_module = @import("verify.zig");
const reason_module = @import("reason.zig");

const Reason = reason_module.Reason;
const KeySet = key_set.KeySet;

/// Plugin configs of one module that one VM tracks.
const streams_max: usize = 4;
const page_size: usize = 64 * 1024;

const Stream = struct {
    name: [limits.name_bytes_max]u8,
    name_len: usize,
    version: u64,
    /// Index into `buffers` of the config this plugin serves.
    buffer: usize,
    config_len: usize,
    has_config: bool,
    /// Bumps on every accepted config, so filter logic can tell its cached view is stale.
    generation: u32,
};

var trust: KeySet = KeySet.fromAnchors(anchors);
/// The build id that names this module in config envelopes. `meshveil build` stamps it over
/// this placeholder after compiling: the SHA-256 of the module as Zig emitted it, with the
/// placeholder in place. It is read through a volatile pointer so the bytes stay in linear
/// memory, where the stamp finds them, instead of being folded into the code.
var build_id_storage: [32]u8 = "meshveil-build-id-placeholder-v1".*;
var streams: [streams_max]Stream = undefined;
var streams_len: usize = 0;
/// One config buffer per stream plus a spare that receives the next candidate; taken from
/// linear memory on first use (configure time), then reused.
var buffers: [streams_max + 1]?[]u8 = .{null} ** (streams_max + 1);
var spare: usize = streams_max;
var payload_buffer: ?[]u8 = null;
var json_scratch: [limits.json_scratch_bytes]u8 = undefined;

/// The verified config a plugin serves. `bytes` stay valid until the plugin's next
/// accepted configuration; compare `generation` to notice one.
pub const ActiveConfig = struct {
    bytes: []const u8,
    version: u64,
    generation: u32,
};

/// Embedded in a filter's root context: `apply` is its `onConfigure`.
pub fn Configured(comptime module_name: []const u8) type {
    return struct {
        const Self = @This();
        const metrics = Metrics(module_name);

        stream: ?usize = null,

        pub fn apply(self: *Self, configuration: []const u8) bool {
            self.stream = configure(module_name, metrics, configuration);
            return self.stream != null;
        }

        pub fn current(self: *const Self) ?ActiveConfig {
            const index = self.stream orelse return null;
            assert(index < streams_len);
            const stream = &streams[index];
            if (!stream.has_config) return null;
            const buffer = buffers[stream.buffer] orelse return null;
            return .{ .bytes = buffer[0..stream.config_len], .version = stream.version, .generation = stream.generation };
        }
    };
}

/// The stream now serving (accepted or last good), or null when nothing can be served.
fn configure(comptime module_name: []const u8, comptime metrics: type, raw: []const u8) ?usize {
    const facts = gatherFacts(module_name);
    const index = streamFor(facts.plugin_name orelse "") orelse {
        abi.host.logFmt(.err, "{s}: configuration refused: more than {d} plugins in one VM", .{ module_name, streams_max });
        return null;
    };
    const stream = &streams[index];
    const config_buffer = bufferAt(spare) orelse return outOfMemory(module_name, index);
    if (!anchors.verifies_configs) return acceptUnverified(module_name, metrics, index, raw, config_buffer);
    const payload = payloadBuffer() orelse return outOfMemory(module_name, index);
    const last_version: ?u64 = if (stream.has_config) stream.version else null;
    const work = verify_module.Work{ .json = &json_scratch, .payload = payload, .config = config_buffer };
    switch (verify_module.verify(raw, facts, &trust, last_version, work)) {
        .accepted => |accepted| {
            if (accepted.trust.version != trust.version) {
                abi.host.logFmt(.info, "{s}: trust keys moved from version {d} to {d}", .{ module_name, trust.version, accepted.trust.version });
            }
            trust = accepted.trust;
            commit(index, accepted.version, accepted.config.len);
            metrics.accepted(accepted.version);
            abi.host.logFmt(.info, "{s}: configuration version {d} accepted ({d} signatures, expires at {d})", .{
                module_name, accepted.version, accepted.signers, accepted.expires,
            });
            return index;
        },
        .refused => |refusal| return refused(module_name, metrics, index, refusal),
    }
}

fn refused(comptime module_name: []const u8, comptime metrics: type, index: usize, refusal: reason_module.Refusal) ?usize {
    metrics.refused(refusal.reason);
    const stream = &streams[index];
    var detail_buffer: [96]u8 = undefined;
    const detail = describe(&detail_buffer, refusal, stream);
    if (stream.has_config) {
        abi.host.logFmt(.warn, "{s}: configuration refused [{s}]: {s}{s}; keeping version {d}", .{
            module_name, @tagName(refusal.reason), refusal.reason.describe(), detail, stream.version,
        });
        return index;
    }
    abi.host.logFmt(.err, "{s}: configuration refused [{s}]: {s}{s}; no earlier configuration to keep", .{
        module_name, @tagName(refusal.reason), refusal.reason.describe(), detail,
    });
    return null;
}

fn describe(buffer: []u8, refusal: reason_module.Refusal, stream: *const Stream) []const u8 {
    return switch (refusal.reason) {
        .below_threshold => std.fmt.bufPrint(buffer, " ({d} of {d} needed)", .{ refusal.valid_signatures, refusal.threshold }),
        .rollback => std.fmt.bufPrint(buffer, " (version {d}, running {d})", .{ refusal.version, stream.version }),
        .wrong_module, .wrong_plugin, .wrong_target, .expired, .not_yet_valid => std.fmt.bufPrint(buffer, " (version {d})", .{refusal.version}),
        else => "",
    } catch "";
}

/// Modules built without a trust root take any config; they say so on every configure.
fn acceptUnverified(comptime module_name: []const u8, comptime metrics: type, index: usize, raw: []const u8, config_buffer: []u8) ?usize {
    if (raw.len > limits.config_bytes_max) return refused(module_name, metrics, index, .{ .reason = .too_large });
    @memcpy(config_buffer[0..raw.len], raw);
    commit(index, 0, raw.len);
    metrics.accepted(0);
    abi.host.logFmt(.warn, "{s}: configuration NOT verified: module built without --trust-root", .{module_name});
    return index;
}

/// The candidate in the spare buffer becomes the stream's config; its old buffer the spare.
fn commit(index: usize, version: u64, config_len: usize) void {
    const stream = &streams[index];
    assert(config_len <= limits.config_bytes_max);
    const previous = stream.buffer;
    stream.buffer = spare;
    spare = previous;
    stream.config_len = config_len;
    stream.version = version;
    stream.has_config = true;
    stream.generation +%= 1;
}

fn outOfMemory(comptime module_name: []const u8, index: usize) ?usize {
    abi.host.logFmt(.err, "{s}: configuration refused: no memory for verification buffers", .{module_name});
    return if (streams[index].has_config) index else null;
}

fn streamFor(name: []const u8) ?usize {
    assert(streams_len <= streams_max);
    for (streams[0..streams_len], 0..) |*stream, index| {
        if (std.mem.eql(u8, stream.name[0..stream.name_len], name)) return index;
    }
    if (streams_len == streams_max or name.len > limits.name_bytes_max) return null;
    const index = streams_len;
    streams[index] = .{
        .name = undefined,
        .name_len = name.len,
        .version = 0,
        .buffer = index,
        .config_len = 0,
        .has_config = false,
        .generation = 0,
    };
    @memcpy(streams[index].name[0..name.len], name);
    streams_len += 1;
    return index;
}

fn bufferAt(index: usize) ?[]u8 {
    assert(index < buffers.len);
    if (buffers[index] == null) buffers[index] = grow(limits.config_bytes_max);
    return buffers[index];
}

fn payloadBuffer() ?[]u8 {
    if (payload_buffer == null) payload_buffer = grow(limits.payload_bytes_max);
    return payload_buffer;
}

fn grow(bytes: usize) ?[]u8 {
    const pages = std.math.divCeil(usize, bytes, page_size) catch unreachable;
    const previous = @wasmMemoryGrow(0, pages);
    if (previous < 0) return null;
    const base: [*]u8 = @ptrFromInt(@as(usize, @intCast(previous)) * page_size);
    return base[0 .. pages * page_size];
}

fn gatherFacts(comptime module_name: []const u8) verify_module.Facts {
    const nanoseconds = abi.host.currentTimeNanoseconds() catch |err| blk: {
        abi.host.logFmt(.err, "{s}: no clock from the host ({s}); every config will look not yet valid", .{ module_name, @errorName(err) });
        break :blk 0;
    };
    return .{
        .module_name = module_name,
        .build_id = buildId(),
        .now_seconds = nanoseconds / std.time.ns_per_s,
        .node_id = property(&.{ "node", "id" }) orelse "",
        .namespace = property(&.{ "node", "metadata", "NAMESPACE" }) orelse "",
        .workload = property(&.{ "node", "metadata", "WORKLOAD_NAME" }) orelse "",
        .plugin_name = property(&.{"plugin_name"}),
    };
}

fn buildId() [32]u8 {
    const stored: *const volatile [32]u8 = &build_id_storage;
    return stored.*;
}

fn property(path: []const []const u8) ?[]const u8 {
    return abi.host.getProperty(path) catch null;
}

/// Envoy stats for config decisions: the version served, and counts per outcome.
fn Metrics(comptime module_name: []const u8) type {
    return struct {
        const prefix = module_name ++ ".config.";
        const reasons = @typeInfo(Reason).@"enum".fields;
        var version_gauge: ?u32 = null;
        var accepted_counter: ?u32 = null;
        var refused_counters: [reasons.len]?u32 = .{null} ** reasons.len;

        fn accepted(version: u64) void {
            const gauge = define(&version_gauge, .gauge, prefix ++ "version") orelse return;
            abi.host.recordMetric(gauge, version) catch {};
            const counter = define(&accepted_counter, .counter, prefix ++ "accepted") orelse return;
            abi.host.incrementMetric(counter, 1) catch {};
        }

        fn refused(reason: Reason) void {
            const slot = &refused_counters[@intFromEnum(reason)];
            var name_buffer: [prefix.len + 64]u8 = undefined;
            const name = std.fmt.bufPrint(&name_buffer, prefix ++ "refused.{s}", .{@tagName(reason)}) catch return;
            const counter = define(slot, .counter, name) orelse return;
            abi.host.incrementMetric(counter, 1) catch {};
        }

        fn define(slot: *?u32, metric_type: abi.MetricType, name: []const u8) ?u32 {
            if (slot.* == null) slot.* = abi.host.defineMetric(metric_type, name) catch null;
            return slot.*;
        }
    };
}

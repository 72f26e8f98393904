//! meshveil's proxy-Wasm ABI 0.2.1 layer: the one import filters use.
//! `exportPlugin` wires a plugin's typed contexts to the host's callbacks;
//! `host` is the typed host API; `header_map` (de)serialises header maps.

const std = @import("std");

pub const types = @import("types.zig");
pub const host = @import("host.zig");
pub const header_map = @import("header_map.zig");
pub const memory = @import("memory.zig");
pub const exportPlugin = @import("dispatch.zig").exportPlugin;

pub const Action = types.Action;
pub const LogLevel = types.LogLevel;
pub const BufferType = types.BufferType;
pub const MapType = types.MapType;
pub const StreamType = types.StreamType;
pub const MetricType = types.MetricType;
pub const PeerType = types.PeerType;

/// Filters set `pub const panic = abi.panic;` so a panic is logged (no data,
/// only the message) before the trap that makes the host apply its failure policy.
pub const panic = std.debug.FullPanic(logAndTrap);

fn logAndTrap(message: []const u8, first_trace_address: ?usize) noreturn {
    _ = first_trace_address;
    host.logFmt(.critical, "meshveil: panic: {s}", .{message});
    @trap();
}

test {
    _ = header_map;
    _ = @import("registry.zig");
}

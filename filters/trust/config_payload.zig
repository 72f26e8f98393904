//! The payload of a config envelope: which plugin, module and targets it is for, its
//! version and validity, who signs it, and the filter's own config (opaque, base64).

const std = @import("std");
const limits = @import("limits.zig");
const dsse = @import("dsse.zig");

pub const payload_type = "application/vnd.meshveil.config.v1+json";

const ModuleIdentity = struct {
    name: []const u8,
    build_id: []const u8,
    sha256: []const u8,
};

const Workload = struct {
    namespace: []const u8,
    name: []const u8,
};

const Targets = struct {
    nodes: []const []const u8,
    workloads: []const Workload,
};

/// The JSON shape of the payload; strings borrow from the decoded payload.
pub const Payload = struct {
    plugin: []const u8,
    version: u64,
    issued_at: u64,
    expires: u64,
    module: ModuleIdentity,
    targets: Targets,
    key_ids: []const []const u8,
    config: []const u8,
};

/// What the filter knows about itself and its host when it checks a config.
pub const Facts = struct {
    module_name: []const u8,
    build_id: [32]u8,
    now_seconds: u64,
    node_id: []const u8 = "",
    namespace: []const u8 = "",
    workload: []const u8 = "",
    /// Null when the host does not expose `plugin_name`; the plugin check is then skipped.
    plugin_name: ?[]const u8 = null,
};

/// Parses and checks the payload's own consistency (the control plane's rules).
pub fn parse(payload: []const u8, scratch: []u8) error{Malformed}!Payload {
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    const parsed = std.json.parseFromSliceLeaky(Payload, fba.allocator(), payload, .{}) catch return error.Malformed;
    if (parsed.version < 1 or parsed.version >= limits.version_limit) return error.Malformed;
    if (parsed.expires <= parsed.issued_at) return error.Malformed;
    if (!validName(parsed.plugin)) return error.Malformed;
    const targets = parsed.targets;
    if (targets.nodes.len == 0 and targets.workloads.len == 0) return error.Malformed;
    if (targets.nodes.len > limits.targets_max or targets.workloads.len > limits.targets_max) return error.Malformed;
    for (targets.nodes) |node| if (!validName(node)) return error.Malformed;
    for (targets.workloads) |workload| {
        if (!validName(workload.namespace) or !validName(workload.name)) return error.Malformed;
    }
    const config_size = dsse.decodedSize(parsed.config) orelse return error.Malformed;
    if (config_size > limits.config_bytes_max) return error.Malformed;
    return parsed;
}

fn validName(name: []const u8) bool {
    return name.len >= 1 and name.len <= limits.name_bytes_max;
}

pub fn listsSigner(payload: Payload, key_id_hex: []const u8) bool {
    for (payload.key_ids) |listed| {
        if (std.mem.eql(u8, listed, key_id_hex)) return true;
    }
    return false;
}

pub fn isForModule(payload: Payload, facts: Facts) bool {
    const build_id_hex = std.fmt.bytesToHex(facts.build_id, .lower);
    return std.mem.eql(u8, payload.module.name, facts.module_name) and
        std.mem.eql(u8, payload.module.build_id, &build_id_hex);
}

pub fn isForPlugin(payload: Payload, facts: Facts) bool {
    const plugin_name = facts.plugin_name orelse return true;
    return std.mem.eql(u8, payload.plugin, plugin_name);
}

/// A node listed by id, or a workload listed by namespace and name ("*": any name).
pub fn targetsThis(payload: Payload, facts: Facts) bool {
    for (payload.targets.nodes) |node| {
        if (std.mem.eql(u8, node, facts.node_id)) return true;
    }
    for (payload.targets.workloads) |workload| {
        if (!std.mem.eql(u8, workload.namespace, facts.namespace)) continue;
        if (std.mem.eql(u8, workload.name, "*") or std.mem.eql(u8, workload.name, facts.workload)) return true;
    }
    return false;
}

pub fn notYetValid(payload: Payload, now_seconds: u64) bool {
    return now_seconds +| limits.clock_skew_seconds < payload.issued_at;
}

pub fn expired(payload: Payload, now_seconds: u64) bool {
    return now_seconds >= payload.expires;
}

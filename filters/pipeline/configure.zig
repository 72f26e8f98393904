//! `onConfigure` of both filters after the trust layer has verified the bundle: build
//! the verified inner config into a `Loaded` and make it current, or say in one log
//! line why not (the last good config, if any, keeps serving).

const std = @import("std");
const abi = @import("abi");
const config = @import("config.zig");
const loaded_module = @import("loaded.zig");

const host = abi.host;

pub const Verified = struct {
    bytes: []const u8,
    version: u64,
    generation: u32,
};

/// True when the filter has a config to serve afterwards.
pub fn install(comptime module_name: []const u8, comptime masks: bool, configs: *loaded_module.Configs, verified: Verified) bool {
    if (configs.current) |current| {
        if (current.generation == verified.generation) return true;
    }
    var problem = config.Problem{};
    const next = loaded_module.Loaded.create(configs.allocator, verified.bytes, module_name, masks, verified.generation, &problem) catch |err| {
        const reason = if (err == error.OutOfMemory) "out of memory" else problem.text();
        host.logFmt(.err, module_name ++ ": configuration version {d} refused: {s}", .{ verified.version, reason });
        return configs.current != null;
    };
    if (!configs.install(next)) {
        host.logFmt(.err, module_name ++ ": configuration version {d} not installed: too many earlier ones still serve streams", .{verified.version});
        return true;
    }
    const policy = &next.policy;
    host.logFmt(.info, module_name ++ ": serving policy {s} (tenant {s}): {d} routes, {d} detectors, {d} bytes of matcher tables", .{
        policy.name, policy.tenant, policy.routes.len, policy.detectors.len, policy.tables.len,
    });
    if (masks) warnMissingKeys(module_name, policy);
    return true;
}

/// Keyed masks the control plane had no key for were compiled as redaction: say so.
fn warnMissingKeys(comptime module_name: []const u8, policy: *const config.Policy) void {
    for (policy.routes) |route| {
        for (route.rules) |rule| {
            if (rule.missing_key.len == 0) continue;
            host.logFmt(.warn, module_name ++ ": route {s}, detector {s}: key {s} was not available when the policy was compiled; values are redacted instead", .{
                route.name, policy.detectors[rule.detector].id, rule.missing_key,
            });
        }
    }
}

//! What both filters keep about one HTTP exchange: the config it started with (held
//! until the stream ends), its route, its request id and method, and whether the
//! filter has ended it.

const std = @import("std");
const assert = std.debug.assert;
const masking = @import("masking");
const walkers_protobuf = @import("walkers").protobuf;
const config = @import("config.zig");
const routes = @import("routes.zig");
const events = @import("events.zig");
const host_io = @import("host_io.zig");
const loaded_module = @import("loaded.zig");
const scan = @import("scan.zig");
const tally_module = @import("tally.zig");
const body = @import("body.zig");
const header_map = @import("abi").header_map;

const Loaded = loaded_module.Loaded;
pub const RouteScanner = scan.RouteScanner(masking.engine_scanner.EngineScanner);

pub const Exchange = struct {
    loaded: ?*Loaded = null,
    route: ?*config.Route = null,
    grpc: bool = false,
    /// The gRPC method's request and response message types in the config's field
    /// table; null when there is no table or it does not know the `:path`.
    grpc_roots: [2]?u16 = .{ null, null },
    request_id: [events.request_id_bytes_max]u8 = undefined,
    request_id_len: u8 = 0,
    method: [8]u8 = undefined,
    method_len: u8 = 0,
    /// Answered or ended by the filter: nothing more to do.
    ended: bool = false,

    /// Takes the current config for this exchange; false when the filter has none, or
    /// one without detectors (then the exchange passes and the host is not asked).
    pub fn hold(self: *Exchange, configs: *loaded_module.Configs) bool {
        const loaded = configs.acquire() orelse return false;
        self.loaded = loaded;
        return loaded.has_tables;
    }

    /// Picks the request's route (after `hold`); null when no route is for it.
    pub fn begin(self: *Exchange, facts: host_io.HeaderFacts) ?*config.Route {
        const loaded = self.loaded.?;
        assert(loaded.has_tables);
        const id = facts.request_id[0..@min(facts.request_id.len, self.request_id.len)];
        @memcpy(self.request_id[0..id.len], id);
        self.request_id_len = @intCast(id.len);
        const method = facts.method[0..@min(facts.method.len, self.method.len)];
        @memcpy(self.method[0..method.len], method);
        self.method_len = @intCast(method.len);
        self.grpc = std.mem.startsWith(u8, facts.content_type, "application/grpc");
        self.grpc_roots = .{ null, null };
        if (self.grpc) {
            if (loaded.policy.field_table) |*table| self.grpc_roots = grpcRoots(table, facts.target);
        }
        const index = routes.select(&loaded.policy, .{ .method = facts.method, .target = facts.target, .authority = facts.authority }) orelse return null;
        self.route = &loaded.policy.routes[index];
        return self.route;
    }

    /// Field names for this exchange's gRPC bodies in `direction`.
    pub fn grpcSchema(self: *const Exchange, direction: config.Direction) body.GrpcSchema {
        const root = self.grpc_roots[@intFromEnum(direction)] orelse return .{};
        const table = &self.loaded.?.policy.field_table.?;
        return .{ .fields = table, .root_message = root };
    }

    pub fn end(self: *Exchange, configs: *loaded_module.Configs) void {
        if (self.loaded) |loaded| configs.release(loaded);
        self.loaded = null;
        self.route = null;
    }

    /// The raw request id; `refuse` and reports clean it before it leaves the filter.
    pub fn requestId(self: *const Exchange) []const u8 {
        return self.request_id[0..self.request_id_len];
    }

    pub fn methodName(self: *const Exchange) []const u8 {
        return self.method[0..self.method_len];
    }

    pub fn scanner(self: *const Exchange, tally: *tally_module.Tally, where: tally_module.Where) RouteScanner {
        const loaded = self.loaded.?;
        return .{
            .inner = &loaded.scanner,
            .route = self.route.?,
            .tally = tally,
            .where = where,
            .fingerprint_key = loaded.policy.fingerprint_key,
            .min_match_bytes = loaded.min_match_bytes,
        };
    }

    /// Answers the stream (or ends it, when its response has begun) and marks it ended.
    pub fn refuse(self: *Exchange, comptime module_name: []const u8, direction: config.Direction, refusal: host_io.Refusal) void {
        var id_buffer: [events.request_id_bytes_max]u8 = undefined;
        const request_id = events.cleanRequestId(self.requestId(), &self.loaded.?.scanner, &id_buffer);
        host_io.refuse(module_name, refusal, request_id, self.grpc, direction);
        self.ended = true;
    }

    pub fn failure(self: *const Exchange) config.Failure {
        const loaded = self.loaded orelse return .fail_open;
        return loaded.policy.failure;
    }
};

/// The request and response message types of the method at `target` (a gRPC `:path`).
fn grpcRoots(table: *const walkers_protobuf.FieldTable, target: []const u8) [2]?u16 {
    const path = target[0 .. std.mem.indexOfScalar(u8, target, '?') orelse target.len];
    return .{ table.rootFor(path, false), table.rootFor(path, true) };
}

/// Headers worth scanning: everything but pseudo-headers (`:path` is walked for its
/// query), framing headers and meshveil's own.
pub fn scannedHeader(name: []const u8) bool {
    if (name.len == 0 or name[0] == ':') return false;
    const skipped = .{ "content-length", "content-type", "content-encoding", "transfer-encoding", "grpc-encoding", "te", "x-request-id" };
    inline for (skipped) |skip| if (header_map.nameIs(name, skip)) return false;
    return !std.mem.startsWith(u8, name, "x-meshveil-");
}

test "framing and our own headers are not scanned" {
    try std.testing.expect(scannedHeader("authorization"));
    try std.testing.expect(!scannedHeader(":authority"));
    try std.testing.expect(!scannedHeader("content-length"));
    try std.testing.expect(!scannedHeader("x-meshveil-findings"));
}

//! Which route of a policy a request falls under: the first whose paths, methods and
//! hosts all match, in policy order (the author orders specific routes first). The
//! response follows its request's route.

const std = @import("std");
const config = @import("config.zig");
const glob = @import("glob.zig");

pub const RequestFacts = struct {
    method: []const u8,
    /// The request target (`:path`), query included; only the path part is matched.
    target: []const u8,
    authority: []const u8,
};

pub fn select(policy: *const config.Policy, facts: RequestFacts) ?u16 {
    const path = glob.pathOf(facts.target);
    for (policy.routes, 0..) |*route, index| {
        if (matches(route, facts.method, path, facts.authority)) return @intCast(index);
    }
    return null;
}

fn matches(route: *const config.Route, method: []const u8, path: []const u8, authority: []const u8) bool {
    if (route.methods.len > 0 and !anyEqual(route.methods, method)) return false;
    if (route.hosts.len > 0) {
        for (route.hosts) |host| {
            if (glob.hostMatches(host, authority)) break;
        } else return false;
    }
    for (route.paths) |pattern| {
        if (glob.pathMatches(pattern, path)) return true;
    }
    return false;
}

fn anyEqual(list: []const []const u8, value: []const u8) bool {
    for (list) |item| if (std.mem.eql(u8, item, value)) return true;
    return false;
}

/// Whether the route scans a body of this `content-type` at all (its content types).
pub fn coversContentType(route: *const config.Route, content_type: []const u8) bool {
    for (route.content_types) |range| {
        if (glob.mediaMatches(range, content_type)) return true;
    }
    return false;
}

const testing = std.testing;

test "the first matching route wins; methods and hosts narrow it" {
    var rules = [_]config.Rule{};
    const empty: []const u8 = &.{};
    var routes = [_]config.Route{
        .{ .name = "exports", .paths = &.{"/v1/export/**"}, .methods = &.{"GET"}, .hosts = &.{"*.shop"}, .request = true, .response = true, .content_types = &.{"text/*"}, .body = .{}, .scan_numbers = false, .rules = &rules, .rule_of = empty },
        .{ .name = "all", .paths = &.{"/**"}, .methods = &.{}, .hosts = &.{}, .request = true, .response = false, .content_types = &.{"application/json"}, .body = .{}, .scan_numbers = false, .rules = &rules, .rule_of = empty },
    };
    const policy = config.Policy{ .name = "p", .tenant = "t", .failure = .fail_open, .detectors = &.{}, .fingerprint_key = null, .routes = &routes, .tables = "" };
    try testing.expectEqual(@as(?u16, 0), select(&policy, .{ .method = "GET", .target = "/v1/export/all?x=1", .authority = "api.shop" }));
    try testing.expectEqual(@as(?u16, 1), select(&policy, .{ .method = "POST", .target = "/v1/export/all", .authority = "api.shop" }));
    try testing.expectEqual(@as(?u16, 1), select(&policy, .{ .method = "GET", .target = "/v1/export/all", .authority = "other.example" }));
    try testing.expect(coversContentType(&routes[0], "text/csv"));
    try testing.expect(!coversContentType(&routes[1], "text/csv"));
}

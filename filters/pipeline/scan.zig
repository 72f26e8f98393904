//! The scanner the walkers and maskers call (`scan(value, from, out)`, see
//! masking/stream_masker.zig), narrowed to one route: the engine scans for every
//! detector of the config, and this keeps the findings of detectors the route runs,
//! at the confidence it asks for, and counts each one once in the message's tally.

const std = @import("std");
const assert = std.debug.assert;
const masking = @import("masking");
const walkers = @import("walkers");
const config = @import("config.zig");
const tally_module = @import("tally.zig");

const walker = walkers.walker;
const Finding = masking.stream_masker.Finding;
pub const findings_max = masking.stream_masker.findings_max;

pub fn RouteScanner(comptime Inner: type) type {
    return struct {
        const Self = @This();

        inner: *Inner,
        route: *const config.Route,
        tally: *tally_module.Tally,
        where: tally_module.Where,
        fingerprint_key: ?[]const u8,
        /// Values shorter than every pattern's shortest match are not scanned (most keys
        /// and small numbers in API traffic).
        min_match_bytes: u32 = 1,

        pub fn scan(self: *Self, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
            if (value.bytes.len < self.min_match_bytes) return out[0..0];
            var count: usize = 0;
            var next = from;
            // Each turn fills the room left or ends the value; the next one starts past
            // the last finding the engine gave, so it moves on.
            while (count < out.len) {
                const room = out[count..];
                const batch = self.inner.scan(value, next, room);
                assert(batch.len <= room.len);
                for (batch, 0..) |finding, index| {
                    // Compacting in place: the write index never passes the read index.
                    assert(count <= (out.len - room.len) + index);
                    if (!self.accept(value, finding)) continue;
                    out[count] = finding;
                    count += 1;
                }
                if (batch.len < room.len) break;
                const last_end = batch[batch.len - 1].end;
                // Findings of a batch start at or past `next` and are never empty.
                assert(last_end > next);
                next = last_end;
            }
            return out[0..count];
        }

        /// Whether the route takes this finding; a taken one is counted once, by the
        /// piece that owns it.
        fn accept(self: *Self, value: *const walker.Value, finding: Finding) bool {
            const rule = self.route.ruleIndex(finding.detector) orelse return false;
            if (finding.score < self.route.rules[rule].min_score) return false;
            if (value.owns(finding.end)) {
                self.tally.add(rule, self.where, value.path, value.bytes[finding.start..finding.end], self.fingerprint_key);
            }
            return true;
        }
    };
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

/// Scans decimal digit runs as detector 0 (score 900) and "secret" as detector 1
/// (score 400), in batches of at most `out.len`, like the engine adapter.
const StubScanner = struct {
    found: [64]Finding = undefined,
    found_len: usize = 0,

    pub fn scan(self: *StubScanner, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
        if (from == 0) self.collect(value.bytes);
        var count: usize = 0;
        for (self.found[0..self.found_len]) |finding| {
            if (count == out.len) break;
            if (finding.start < from) continue;
            out[count] = finding;
            count += 1;
        }
        return out[0..count];
    }

    fn collect(self: *StubScanner, bytes: []const u8) void {
        self.found_len = 0;
        var index: usize = 0;
        while (index < bytes.len) {
            if (std.ascii.isDigit(bytes[index])) {
                var end = index;
                while (end < bytes.len and std.ascii.isDigit(bytes[end])) end += 1;
                self.found[self.found_len] = .{ .detector = 0, .start = @intCast(index), .end = @intCast(end), .score = 900 };
                self.found_len += 1;
                index = end;
            } else if (std.mem.startsWith(u8, bytes[index..], "secret")) {
                self.found[self.found_len] = .{ .detector = 1, .start = @intCast(index), .end = @intCast(index + 6), .score = 400 };
                self.found_len += 1;
                index += 6;
            } else index += 1;
        }
    }
};

fn testRoute(rules: []config.Rule, rule_of: []const u8) config.Route {
    return .{ .name = "r", .paths = &.{"/**"}, .methods = &.{}, .hosts = &.{}, .request = true, .response = true, .content_types = &.{"text/*"}, .body = .{}, .scan_numbers = false, .rules = rules, .rule_of = rule_of };
}

test "only the route's detectors, at its confidence, each counted once" {
    var rules = [_]config.Rule{
        .{ .detector = 0, .min_score = 500, .threshold = 1, .verdict = .alert, .mask = null, .missing_key = "" },
        .{ .detector = 1, .min_score = 500, .threshold = 1, .verdict = .alert, .mask = null, .missing_key = "" },
    };
    const route = testRoute(&rules, &.{ 0, 1 });
    var stub = StubScanner{};
    var tally = tally_module.Tally{};
    var scanner = RouteScanner(StubScanner){ .inner = &stub, .route = &route, .tally = &tally, .where = .body, .fingerprint_key = null };
    const value = walker.Value{ .kind = .text, .encoding = .identity, .bytes = "1 secret 22 333 secret 4444", .path = "text", .raw = walker.RawMap.identity(0, 27), .token_start = 0, .token_end = 27 };
    // Batches of two: the masker asks again from the end of the last one.
    var out: [2]Finding = undefined;
    var from: u32 = 0;
    var seen: usize = 0;
    while (true) {
        const found = scanner.scan(&value, from, &out);
        for (found) |finding| try testing.expectEqual(@as(u16, 0), finding.detector);
        seen += found.len;
        if (found.len < out.len) break;
        from = found[found.len - 1].end;
    }
    try testing.expectEqual(@as(usize, 4), seen);
    try testing.expectEqual(@as(u32, 4), tally.count(0));
    try testing.expectEqual(@as(u32, 0), tally.count(1));
}

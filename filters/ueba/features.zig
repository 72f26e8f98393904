//! What one exchange contributes to an entity's behaviour (an `Observation`), the
//! running totals of the current window, the per-rule sliding counters, and the parse of
//! the DLP filter's findings tag.
//!
//! The findings tag (agreed with meshveil-dlp; see README "Filter tags"): the response
//! header `x-meshveil-findings` (name configurable) holds comma-separated
//! `detector=count` pairs, e.g. `credit_card=12, email=3`. Detector names are the DLP
//! policy's detector ids; counts are decimal. Malformed pairs are skipped, not guessed.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const limits = @import("limits.zig");

const Feature = config.Feature;
pub const feature_count = Feature.windowed_count;

/// One exchange's contribution. A rejected request contributes `requests` only; the end
/// of a response whose length was unknown at its headers contributes `response_bytes` only.
pub const Observation = struct {
    requests: u32 = 0,
    errors: u32 = 0,
    findings: u32 = 0,
    response_bytes: u64 = 0,
    /// Keyed hash of method and path; null when the observation is not a new request.
    endpoint: ?u64 = null,
    /// What each configured rule counts in this exchange (indexed like the rules).
    rule_amounts: [limits.rules_max]u64 = .{0} ** limits.rules_max,
};

/// Running totals of one window of `window_seconds`, aligned to the epoch.
pub const Window = extern struct {
    start_s: u64 = 0,
    response_bytes: u64 = 0,
    /// Linear-counting sketch of distinct endpoints (128 bits).
    endpoints: [2]u64 = .{ 0, 0 },
    requests: u32 = 0,
    errors: u32 = 0,
    findings: u32 = 0,
    reserved: u32 = 0,

    pub fn add(self: *Window, observation: *const Observation) void {
        self.requests +|= observation.requests;
        self.errors +|= observation.errors;
        self.findings +|= observation.findings;
        self.response_bytes +|= observation.response_bytes;
        if (observation.endpoint) |endpoint| {
            const bit: u7 = @truncate(endpoint);
            self.endpoints[bit >> 6] |= @as(u64, 1) << @as(u6, @truncate(bit));
        }
    }

    pub fn isActive(self: *const Window) bool {
        return self.requests > 0;
    }

    pub fn values(self: *const Window) [feature_count]f64 {
        return .{
            @floatFromInt(self.requests),
            @floatFromInt(self.response_bytes),
            @floatFromInt(self.findings),
            @floatFromInt(self.errors),
            self.distinctEndpoints(),
        };
    }

    /// Linear counting (Whang et al. 1990): n = -m ln(zero bits / m). A full sketch
    /// reads as m ln m (about 621), the most it can tell apart.
    pub fn distinctEndpoints(self: *const Window) f64 {
        const bits: f64 = 128;
        const set: u32 = @popCount(self.endpoints[0]) + @popCount(self.endpoints[1]);
        if (set == 0) return 0;
        const zero: f64 = @floatFromInt(128 - set);
        if (zero == 0) return bits * @log(bits);
        return -bits * @log(zero / bits);
    }
};

pub fn windowStart(now_s: u64, window_seconds: u32) u64 {
    assert(window_seconds > 0);
    return now_s - now_s % window_seconds;
}

/// A rule's count over a sliding window, estimated from two fixed buckets (the previous
/// bucket weighted by how much of it the sliding window still covers).
pub const RuleCounter = extern struct {
    /// Which rule this counter belongs to; a policy change that alters the rule resets it.
    rule_key: u32 = 0,
    reserved: u32 = 0,
    bucket_start_s: u64 = 0,
    current: u64 = 0,
    previous: u64 = 0,

    pub fn add(self: *RuleCounter, rule_key: u32, now_s: u64, window_seconds: u32, amount: u64) void {
        self.roll(rule_key, now_s, window_seconds);
        self.current +|= amount;
    }

    pub fn estimate(self: *const RuleCounter, rule_key: u32, now_s: u64, window_seconds: u32) f64 {
        var rolled = self.*;
        rolled.roll(rule_key, now_s, window_seconds);
        const elapsed: f64 = @floatFromInt(now_s - rolled.bucket_start_s);
        const span: f64 = @floatFromInt(window_seconds);
        const previous_weight = @max(0, 1 - elapsed / span);
        return @as(f64, @floatFromInt(rolled.previous)) * previous_weight + @as(f64, @floatFromInt(rolled.current));
    }

    fn roll(self: *RuleCounter, rule_key: u32, now_s: u64, window_seconds: u32) void {
        const start = windowStart(now_s, window_seconds);
        if (self.rule_key != rule_key) {
            self.* = .{ .rule_key = rule_key, .bucket_start_s = start };
            return;
        }
        if (start <= self.bucket_start_s) return;
        self.previous = if (start - self.bucket_start_s == window_seconds) self.current else 0;
        self.current = 0;
        self.bucket_start_s = start;
    }
};

/// A stable key of a rule's meaning, so counters survive a reload that keeps the rule.
pub fn ruleKey(rule: *const config.Rule) u32 {
    var hasher = std.hash.Fnv1a_32.init();
    hasher.update(rule.name.slice());
    hasher.update(&.{ 0, @intFromEnum(rule.feature) });
    hasher.update(rule.detector.slice());
    hasher.update(std.mem.asBytes(&rule.window_seconds));
    // 0 marks an unused counter.
    return hasher.final() | 1;
}

/// Findings in one response, as tagged by the DLP filter.
pub const Findings = struct {
    total: u32 = 0,
    pairs: [limits.findings_pairs_max]Pair = undefined,
    pairs_len: usize = 0,

    pub const Pair = struct { detector: []const u8, count: u32 };

    /// Parses a tag value; the pairs borrow from `value`.
    pub fn parse(value: []const u8) Findings {
        var findings = Findings{};
        var items = std.mem.splitScalar(u8, value, ',');
        while (items.next()) |item| {
            if (findings.pairs_len == limits.findings_pairs_max) break;
            const pair = parsePair(item) orelse continue;
            findings.pairs[findings.pairs_len] = pair;
            findings.pairs_len += 1;
            findings.total +|= pair.count;
        }
        return findings;
    }

    pub fn count(self: *const Findings, detector: []const u8) u32 {
        if (detector.len == 0) return self.total;
        var sum: u32 = 0;
        for (self.pairs[0..self.pairs_len]) |pair| {
            if (std.mem.eql(u8, pair.detector, detector)) sum +|= pair.count;
        }
        return sum;
    }

    fn parsePair(item: []const u8) ?Pair {
        const equals = std.mem.indexOfScalar(u8, item, '=') orelse return null;
        const detector = std.mem.trim(u8, item[0..equals], " \t");
        const digits = std.mem.trim(u8, item[equals + 1 ..], " \t");
        if (detector.len == 0 or detector.len > limits.name_bytes_max) return null;
        const number = std.fmt.parseUnsigned(u32, digits, 10) catch return null;
        return .{ .detector = detector, .count = number };
    }
};

/// What each rule counts in an exchange.
pub fn ruleAmounts(settings: *const config.Settings, observation: *Observation, findings: *const Findings) void {
    for (settings.ruleList(), 0..) |*rule, index| {
        observation.rule_amounts[index] = switch (rule.feature) {
            .requests => observation.requests,
            .response_bytes => observation.response_bytes,
            .findings => findings.count(rule.detector.slice()),
            .errors => observation.errors,
            // Refused by the config: distinct counts do not add up across buckets.
            .endpoints, .hour_of_day => unreachable,
        };
    }
}

/// Takes what was already counted (`findings` and `rule_amounts` at an earlier callback)
/// off `observation`, an exchange's later totals; false when nothing new is left.
pub fn subtractCounted(observation: *Observation, findings: u32, rule_amounts: *const [limits.rules_max]u64) bool {
    observation.findings -|= findings;
    var added = observation.findings > 0;
    for (&observation.rule_amounts, rule_amounts) |*amount, counted| {
        amount.* -|= counted;
        added = added or amount.* > 0;
    }
    return added;
}

const testing = std.testing;

test "later totals count only what the earlier tag did not" {
    var counted = [_]u64{0} ** limits.rules_max;
    counted[0] = 2;
    var later = Observation{ .findings = 7 };
    later.rule_amounts[0] = 5;
    later.rule_amounts[1] = 1;
    try testing.expect(subtractCounted(&later, 3, &counted));
    try testing.expectEqual(@as(u32, 4), later.findings);
    try testing.expectEqual(@as(u64, 3), later.rule_amounts[0]);
    try testing.expectEqual(@as(u64, 1), later.rule_amounts[1]);
    var same = Observation{ .findings = 3 };
    same.rule_amounts[0] = 2;
    try testing.expect(!subtractCounted(&same, 3, &counted));
    try testing.expectEqual(@as(u32, 0), same.findings);
}

test "the findings tag is read pair by pair; junk is skipped" {
    const findings = Findings.parse("credit_card=12, email=3,bogus, =4,ssn=x,credit_card=1");
    try testing.expectEqual(@as(u32, 16), findings.total);
    try testing.expectEqual(@as(u32, 13), findings.count("credit_card"));
    try testing.expectEqual(@as(u32, 3), findings.count("email"));
    try testing.expectEqual(@as(u32, 16), findings.count(""));
    try testing.expectEqual(@as(u32, 0), findings.count("iban"));
    try testing.expectEqual(@as(u32, 0), Findings.parse("").total);
}

test "a window sums observations and estimates distinct endpoints" {
    var window = Window{};
    var index: u64 = 0;
    while (index < 40) : (index += 1) {
        // Two requests to each of 20 endpoints.
        const endpoint = std.hash.Wyhash.hash(0, std.mem.asBytes(&(index % 20)));
        window.add(&.{ .requests = 1, .findings = 2, .response_bytes = 100, .endpoint = endpoint });
    }
    const values = window.values();
    try testing.expectEqual(@as(f64, 40), values[0]);
    try testing.expectEqual(@as(f64, 4000), values[1]);
    try testing.expectEqual(@as(f64, 80), values[2]);
    try testing.expectApproxEqAbs(@as(f64, 20), values[4], 4);
    try testing.expect(window.isActive());
}

test "rule counters slide over two buckets and reset when the rule changes" {
    var counter = RuleCounter{};
    counter.add(7, 3600, 3600, 400);
    try testing.expectEqual(@as(f64, 400), counter.estimate(7, 3600 + 10, 3600));
    // Half-way through the next hour, half of the previous bucket still counts.
    counter.add(7, 7200 + 1800, 3600, 100);
    try testing.expectApproxEqAbs(@as(f64, 300), counter.estimate(7, 7200 + 1800, 3600), 1e-9);
    // Two hours later nothing is left.
    try testing.expectEqual(@as(f64, 0), counter.estimate(7, 7200 * 2 + 10, 3600));
    // Another rule in the same slot starts from zero.
    try testing.expectEqual(@as(f64, 0), counter.estimate(9, 7200 + 1800, 3600));
}

//! Scores one exchange from its entity's state: a z-score per feature against the
//! entity's own baseline once it is warm (until then against its peer group's, once
//! that is warm), the hour-of-day score, and the policy's threshold rules. The score is
//! the largest z; the action is the higher of the score band's and every rule hit's.
//! Every feature at or above the lowest band and every rule hit is kept as a reason,
//! with the baseline it was measured against, for the anomaly event.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const limits = @import("limits.zig");
const baseline_module = @import("baseline.zig");
const features = @import("features.zig");
const record_module = @import("record.zig");
const hours = @import("hours.zig");

const Action = config.Action;
const Feature = config.Feature;
const Baseline = baseline_module.Baseline;

pub const Scope = enum(u8) { entity, group };

pub const Reason = union(enum) {
    zscore: struct {
        feature: Feature,
        value: f64,
        scope: Scope,
        mean: f64,
        stddev: f64,
        windows: u32,
        z: f64,
    },
    hour: struct { hour: u8, share: f64, z: f64 },
    rule: struct { index: u8, value: f64 },
};

pub const reasons_max = Feature.windowed_count + 1 + limits.rules_max;

pub const Verdict = struct {
    score: f64 = 0,
    action: Action = .none,
    reasons: [reasons_max]Reason = undefined,
    reasons_len: usize = 0,

    pub fn reasonList(self: *const Verdict) []const Reason {
        return self.reasons[0..self.reasons_len];
    }

    fn add(self: *Verdict, reason: Reason) void {
        assert(self.reasons_len < reasons_max);
        self.reasons[self.reasons_len] = reason;
        self.reasons_len += 1;
    }
};

pub const Inputs = struct {
    settings: *const config.Settings,
    /// The entity after this exchange was added to its window and rule counters.
    record: *const record_module.EntityRecord,
    group: ?*const Baseline,
    /// The hour score and the hour's share of activity, taken before this exchange
    /// entered the histogram.
    hour_z: f64,
    hour_share: f64 = 0,
    now_s: u64,
};

pub fn evaluate(inputs: Inputs) Verdict {
    const settings = inputs.settings;
    var verdict = Verdict{};
    const report_from = if (settings.bands_len > 0) settings.bands[0].min_score else std.math.inf(f64);
    const values = inputs.record.window.values();
    inline for (0..Feature.windowed_count) |index| {
        const feature: Feature = @enumFromInt(index);
        if (settings.scores(feature)) {
            if (reference(settings, &inputs.record.baseline, inputs.group)) |ref| {
                const ewma = ref.baseline.features[index];
                const z = baseline_module.zAbove(ewma, values[index], settings.min_stddev[index]);
                verdict.score = @max(verdict.score, z);
                if (z >= report_from) verdict.add(.{ .zscore = .{
                    .feature = feature,
                    .value = values[index],
                    .scope = ref.scope,
                    .mean = ewma.mean,
                    .stddev = ewma.stddev(),
                    .windows = ref.baseline.windows,
                    .z = z,
                } });
            }
        }
    }
    if (settings.scores(.hour_of_day)) {
        verdict.score = @max(verdict.score, inputs.hour_z);
        if (inputs.hour_z >= report_from) {
            const hour = hours.hourOf(inputs.now_s);
            verdict.add(.{ .hour = .{ .hour = @intCast(hour), .share = inputs.hour_share, .z = inputs.hour_z } });
        }
    }
    verdict.action = settings.bandAction(verdict.score);
    for (settings.ruleList(), 0..) |*rule, index| {
        const value = inputs.record.rules[index].estimate(features.ruleKey(rule), inputs.now_s, rule.window_seconds);
        if (value > @as(f64, @floatFromInt(rule.threshold))) {
            verdict.action = verdict.action.max(rule.action);
            verdict.add(.{ .rule = .{ .index = @intCast(index), .value = value } });
        }
    }
    return verdict;
}

const Reference = struct { baseline: *const Baseline, scope: Scope };

fn reference(settings: *const config.Settings, own: *const Baseline, group: ?*const Baseline) ?Reference {
    if (own.isWarm(settings.warmup_windows)) return .{ .baseline = own, .scope = .entity };
    const peers = group orelse return null;
    if (peers.isWarm(settings.warmup_windows)) return .{ .baseline = peers, .scope = .group };
    return null;
}

const testing = std.testing;
var test_scratch: [limits.config_scratch_bytes]u8 = undefined;

fn settingsForTest() !config.Settings {
    var settings: config.Settings = undefined;
    var problem = config.Problem{};
    config.parse(
        \\{"identity_key": "000102030405060708090a0b0c0d0e0f", "entity_sources": [{"source": "source_ip"}],
        \\ "warmup_windows": 3, "score_features": ["findings", "requests"],
        \\ "rules": [{"name": "cards", "feature": "findings", "detector": "credit_card",
        \\            "threshold": 500, "window_seconds": 3600, "action": "block"}]}
    , &test_scratch, &settings, &problem) catch {
        std.debug.print("{s}\n", .{problem.text()});
        return error.TestUnexpectedResult;
    };
    return settings;
}

fn warmRecord(settings: *const config.Settings) record_module.EntityRecord {
    var record = record_module.EntityRecord.fresh(.{1} ** 16, .source_ip, 0, 60);
    for (0..5) |index| {
        const wobble: f64 = @floatFromInt(index % 2);
        record.baseline.learn(.{ 10 + wobble, 5000, 20 + 2 * wobble, 0, 3 }, settings.ewma_alpha);
    }
    return record;
}

test "a 50x rise in findings scores far above the bands and names its baseline" {
    const settings = try settingsForTest();
    var record = warmRecord(&settings);
    record.window.requests = 2;
    record.window.findings = 1000;
    const verdict = evaluate(.{ .settings = &settings, .record = &record, .group = null, .hour_z = 0, .now_s = 100 });
    try testing.expect(verdict.score > 20);
    try testing.expectEqual(Action.block, verdict.action);
    const reason = verdict.reasonList()[0].zscore;
    try testing.expectEqual(Feature.findings, reason.feature);
    try testing.expectEqual(Scope.entity, reason.scope);
    try testing.expectApproxEqAbs(@as(f64, 20.8), reason.mean, 1);
}

test "normal traffic scores low; unscored features and cold baselines do not count" {
    const settings = try settingsForTest();
    var record = warmRecord(&settings);
    record.window.requests = 11;
    record.window.findings = 21;
    // response_bytes is not in score_features: a byte flood does not score here.
    record.window.response_bytes = 10_000_000;
    const verdict = evaluate(.{ .settings = &settings, .record = &record, .group = null, .hour_z = 9, .now_s = 100 });
    try testing.expect(verdict.score < 2);
    try testing.expectEqual(Action.none, verdict.action);
    var cold = record_module.EntityRecord.fresh(.{2} ** 16, .source_ip, 0, 60);
    cold.window.findings = 1000;
    const unscored = evaluate(.{ .settings = &settings, .record = &cold, .group = null, .hour_z = 0, .now_s = 100 });
    try testing.expectEqual(@as(f64, 0), unscored.score);
}

test "a new identity is scored against its warm peer group" {
    const settings = try settingsForTest();
    const group = warmRecord(&settings).baseline;
    var newcomer = record_module.EntityRecord.fresh(.{3} ** 16, .source_ip, 0, 60);
    newcomer.window.findings = 500;
    const verdict = evaluate(.{ .settings = &settings, .record = &newcomer, .group = &group, .hour_z = 0, .now_s = 100 });
    try testing.expectEqual(Scope.group, verdict.reasonList()[0].zscore.scope);
    try testing.expect(verdict.action.atLeast(.throttle));
}

test "a rule over its threshold acts whatever the score" {
    const settings = try settingsForTest();
    var record = record_module.EntityRecord.fresh(.{4} ** 16, .source_ip, 0, 60);
    const key = features.ruleKey(&settings.ruleList()[0]);
    record.rules[0].add(key, 3600, 3600, 501);
    const verdict = evaluate(.{ .settings = &settings, .record = &record, .group = null, .hour_z = 0, .now_s = 3700 });
    try testing.expectEqual(Action.block, verdict.action);
    try testing.expectEqual(@as(u8, 0), verdict.reasonList()[0].rule.index);
    try testing.expectEqual(@as(f64, 501), verdict.reasonList()[0].rule.value);
}

//! What one exchange does to its entity's record, as pure functions of the record: close
//! the window that ended (its totals teach the baseline), add the exchange, score it, set
//! a penalty and decide whether an anomaly event goes out. `state.zig` runs these inside
//! its CAS loop, so each runs again, from the freshly read record, after a lost race.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const entity = @import("entity.zig");
const features = @import("features.zig");
const baseline_module = @import("baseline.zig");
const record_module = @import("record.zig");
const scoring = @import("scoring.zig");
const hours = @import("hours.zig");

const Action = config.Action;
const EntityRecord = record_module.EntityRecord;
const GroupRecord = record_module.GroupRecord;

pub const WindowValues = [features.feature_count]f64;

/// Closes the record's window when `now_s` is past it. An active window's totals teach
/// the entity baseline and are returned (the group learns them too); a window length
/// that changed since the record was written restarts the learning.
pub fn rollWindow(record: *EntityRecord, settings: *const config.Settings, now_s: u64) ?WindowValues {
    const start = features.windowStart(now_s, settings.window_seconds);
    if (record.window_seconds != settings.window_seconds) {
        record.window_seconds = settings.window_seconds;
        record.window = .{ .start_s = start };
        record.baseline = .{};
        return null;
    }
    // Equal: the same window. Earlier: a worker whose clock read lags; count it in the current one.
    if (start <= record.window.start_s) return null;
    const closed: ?WindowValues = if (record.window.isActive()) record.window.values() else null;
    if (closed) |values| learn(&record.baseline, settings, values);
    record.window = .{ .start_s = start };
    return closed;
}

pub fn learn(baseline: *baseline_module.Baseline, settings: *const config.Settings, values: WindowValues) void {
    baseline.learnCapped(values, settings.ewma_alpha, settings.warmup_windows, settings.learning_cap_z, settings.min_stddev);
}

/// One exchange applied to its entity (see `state.SlotTable.update`).
pub const ExchangeMutation = struct {
    settings: *const config.Settings,
    identity: *const entity.Identity,
    group: ?*const entity.Identity,
    observation: *const features.Observation,
    /// The group's baseline as read before the update (null: no group, or not known yet).
    group_baseline: ?*const baseline_module.Baseline,
    now_s: u64,
    /// False for a request refused by a penalty and for a late byte count: counted, not scored.
    score: bool,

    // Results of the attempt that was written (each attempt overwrites them).
    verdict: scoring.Verdict = .{},
    closed: ?WindowValues = null,
    emit_event: bool = false,
    /// The window as scored, for the anomaly event.
    window: features.Window = .{},

    pub fn fresh(self: *const ExchangeMutation) EntityRecord {
        return EntityRecord.fresh(self.identity.id, self.identity.kind, self.now_s, self.settings.window_seconds);
    }

    pub fn apply(self: *ExchangeMutation, record: *EntityRecord) void {
        const settings = self.settings;
        self.verdict = .{};
        self.emit_event = false;
        self.closed = rollWindow(record, settings, self.now_s);
        record.last_seen_s = @max(record.last_seen_s, self.now_s);
        if (self.group) |group| {
            record.group = group.id;
            record.group_kind = @intFromEnum(group.kind);
            record.has_group = 1;
        }
        const hour_z = self.hourScore(record);
        const hour_share = record.hours.share(hours.hourOf(self.now_s));
        if (self.observation.requests > 0) {
            record.hours.observe(self.now_s, @as(u64, settings.hour_of_day.half_life_hours) * 3600);
        }
        record.window.add(self.observation);
        self.window = record.window;
        for (settings.ruleList(), 0..) |*rule, index| {
            record.rules[index].add(features.ruleKey(rule), self.now_s, rule.window_seconds, self.observation.rule_amounts[index]);
        }
        if (!self.score) return;
        self.verdict = scoring.evaluate(.{
            .settings = settings,
            .record = record,
            .group = self.group_baseline,
            .hour_z = hour_z,
            .hour_share = hour_share,
            .now_s = self.now_s,
        });
        applyPenalty(record, settings, self.verdict.action, self.now_s);
        self.emit_event = gateEvent(record, settings, self.verdict.action, self.now_s);
    }

    fn hourScore(self: *const ExchangeMutation, record: *const EntityRecord) f64 {
        const settings = self.settings;
        if (!self.score or !settings.scores(.hour_of_day)) return 0;
        const history_s = @as(u64, settings.hour_of_day.history_hours) * 3600;
        if (self.now_s < record.first_seen_s + history_s) return 0;
        return record.hours.zscore(self.now_s, settings.hour_of_day.sample_cap);
    }
};

/// Throttle and block hold for the policy's duration; a stronger or longer one already in
/// force is kept.
fn applyPenalty(record: *EntityRecord, settings: *const config.Settings, action: Action, now_s: u64) void {
    if (!action.atLeast(.throttle)) return;
    const seconds: u64 = if (action == .block) settings.block_seconds else settings.throttle_seconds;
    const current: Action = if (record.penaltyAt(now_s)) |penalty| penalty.action else .none;
    record.penalty = @intFromEnum(current.max(action));
    record.penalty_until_s = @max(record.penalty_until_s, now_s + seconds);
}

/// One anomaly event per entity per `event_interval_seconds`, unless the action escalates,
/// so a sustained anomaly does not flood the collector.
fn gateEvent(record: *EntityRecord, settings: *const config.Settings, action: Action, now_s: u64) bool {
    if (!action.atLeast(.record)) return false;
    const recent = now_s < record.last_event_s + settings.event_interval_seconds;
    const last: Action = @enumFromInt(record.last_event_action);
    if (recent and last.atLeast(action)) return false;
    record.last_event_s = now_s;
    record.last_event_action = @intFromEnum(action);
    return true;
}

/// A closed entity window teaching its group (see `state.SlotTable.update`).
pub const GroupLearning = struct {
    settings: *const config.Settings,
    id: entity.Id,
    values: WindowValues,
    now_s: u64,

    pub fn fresh(self: *const GroupLearning) GroupRecord {
        return GroupRecord.fresh(self.id, self.now_s, self.settings.window_seconds);
    }

    pub fn apply(self: *GroupLearning, record: *GroupRecord) void {
        if (record.window_seconds != self.settings.window_seconds) {
            record.window_seconds = self.settings.window_seconds;
            record.baseline = .{};
        }
        learn(&record.baseline, self.settings, self.values);
        record.last_seen_s = @max(record.last_seen_s, self.now_s);
    }
};

/// A tick's ageing of one entity: closes a window that ended without a later request, so
/// baselines (and the group) learn from identities that went quiet.
pub const EntityAging = struct {
    settings: *const config.Settings,
    now_s: u64,
    closed: ?WindowValues = null,
    group: ?entity.Id = null,

    pub fn apply(self: *EntityAging, record: *EntityRecord) bool {
        self.closed = null;
        self.group = null;
        const before = record.window.start_s;
        self.closed = rollWindow(record, self.settings, self.now_s);
        if (self.closed != null and record.has_group != 0) self.group = record.group;
        return record.window.start_s != before;
    }
};

/// Groups have no window of their own; ticks only expire them (by TTL, in `state.zig`).
pub const GroupAging = struct {
    pub fn apply(_: *GroupAging, _: *GroupRecord) bool {
        return false;
    }
};

// -- Tests ----------------------------------------------------------------------

const testing = std.testing;
const limits = @import("limits.zig");
var test_scratch: [limits.config_scratch_bytes]u8 = undefined;

fn settingsForTest(json: []const u8) !config.Settings {
    var settings: config.Settings = undefined;
    var problem = config.Problem{};
    config.parse(json, &test_scratch, &settings, &problem) catch {
        std.debug.print("{s}\n", .{problem.text()});
        return error.TestUnexpectedResult;
    };
    return settings;
}

const test_config =
    \\{"identity_key": "000102030405060708090a0b0c0d0e0f", "entity_sources": [{"source": "source_ip"}],
    \\ "warmup_windows": 3, "score_features": ["findings"], "throttle_seconds": 30, "event_interval_seconds": 120}
;

fn exchange(settings: *const config.Settings, record: *EntityRecord, identity: *const entity.Identity, findings: u32, now_s: u64) ExchangeMutation {
    const observation = features.Observation{ .requests = 1, .findings = findings };
    var mutation = ExchangeMutation{
        .settings = settings,
        .identity = identity,
        .group = null,
        .observation = &observation,
        .group_baseline = null,
        .now_s = now_s,
        .score = true,
    };
    mutation.apply(record);
    return mutation;
}

test "windows close into the baseline, then a surge is scored, penalised and reported once" {
    const settings = try settingsForTest(test_config);
    const identity = entity.Identity{ .kind = .source_ip, .id = .{5} ** 16 };
    var record = EntityRecord.fresh(identity.id, identity.kind, 0, 60);
    // Five quiet minutes: ten requests with two findings each per minute.
    var now: u64 = 0;
    while (now < 300) : (now += 6) {
        const result = exchange(&settings, &record, &identity, 2, now);
        try testing.expectEqual(Action.none, result.verdict.action);
    }
    try testing.expectEqual(@as(u32, 4), record.baseline.windows);
    try testing.expectApproxEqAbs(@as(f64, 20), record.baseline.features[2].mean, 0.01);
    // A surge: 100 findings in one response.
    const surge = exchange(&settings, &record, &identity, 100, 301);
    // (102 - 20) / 2 = 41 standard deviations: past the top band.
    try testing.expectEqual(Action.block, surge.verdict.action);
    try testing.expect(surge.emit_event);
    try testing.expectEqual(Action.block, record.penaltyAt(302).?.action);
    try testing.expectEqual(@as(u64, 300 - 1), record.penaltyAt(302).?.remaining_s);
    // The same level again soon after: no second event.
    const again = exchange(&settings, &record, &identity, 100, 302);
    try testing.expectEqual(Action.block, again.verdict.action);
    try testing.expect(!again.emit_event);
    // After the event interval the anomaly is reported again.
    try testing.expect(exchange(&settings, &record, &identity, 100, 301 + 120).emit_event);
}

test "a tick closes a window the entity left, and a changed window length starts over" {
    var settings = try settingsForTest(test_config);
    const identity = entity.Identity{ .kind = .source_ip, .id = .{6} ** 16 };
    var record = EntityRecord.fresh(identity.id, identity.kind, 0, 60);
    _ = exchange(&settings, &record, &identity, 2, 10);
    record.has_group = 1;
    record.group = .{9} ** 16;
    var aging = EntityAging{ .settings = &settings, .now_s = 130 };
    try testing.expect(aging.apply(&record));
    try testing.expectEqual(@as(f64, 2), aging.closed.?[2]);
    try testing.expectEqual(@as(u8, 9), aging.group.?[0]);
    try testing.expectEqual(@as(u32, 1), record.baseline.windows);
    settings.window_seconds = 300;
    _ = exchange(&settings, &record, &identity, 2, 140);
    try testing.expectEqual(@as(u32, 0), record.baseline.windows);
    try testing.expectEqual(@as(u32, 300), record.window_seconds);
}

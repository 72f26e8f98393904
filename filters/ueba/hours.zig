//! When an identity is usually active: a 24-bucket histogram of its requests by UTC hour,
//! with counts that halve every `half_life_hours` so old habits fade.
//!
//! The score of a request at hour h compares that hour's share p_h of the identity's
//! activity with the share a uniform day would give (p0 = 1/24), as a one-sided test on a
//! proportion: z = (p0 - p_h) / sqrt(p0 (1 - p0) / n), with n the (decayed) count capped
//! at the policy's `sample_cap`, so a very busy identity is not flagged for an hour that
//! is merely quieter than the rest. An hour it never works in scores about
//! 0.204 * sqrt(n): 6.5 at the default cap of 1000.

const std = @import("std");
const assert = std.debug.assert;

pub const hours_per_day = 24;
const uniform_share: f64 = 1.0 / @as(f64, hours_per_day);

pub const Hours = extern struct {
    counts: [hours_per_day]f32 = .{0} ** hours_per_day,
    decayed_at_s: u64 = 0,

    pub fn observe(self: *Hours, now_s: u64, half_life_s: u64) void {
        self.decay(now_s, half_life_s);
        self.counts[hourOf(now_s)] += 1;
    }

    pub fn total(self: *const Hours) f64 {
        var sum: f64 = 0;
        for (self.counts) |count| sum += count;
        return sum;
    }

    pub fn share(self: *const Hours, hour: usize) f64 {
        assert(hour < hours_per_day);
        const sum = self.total();
        if (sum == 0) return 0;
        return self.counts[hour] / sum;
    }

    /// How unusual the hour of `now_s` is for this identity (0 when it is not unusual).
    pub fn zscore(self: *const Hours, now_s: u64, sample_cap: u32) f64 {
        const sum = self.total();
        if (sum < hours_per_day) return 0;
        const n = @min(sum, @as(f64, @floatFromInt(sample_cap)));
        const spread = @sqrt(uniform_share * (1 - uniform_share) / n);
        const z = (uniform_share - self.share(hourOf(now_s))) / spread;
        return if (z > 0) z else 0;
    }

    fn decay(self: *Hours, now_s: u64, half_life_s: u64) void {
        assert(half_life_s > 0);
        if (now_s <= self.decayed_at_s) return;
        const elapsed: f64 = @floatFromInt(now_s - self.decayed_at_s);
        const factor: f32 = @floatCast(std.math.exp2(-elapsed / @as(f64, @floatFromInt(half_life_s))));
        for (&self.counts) |*count| count.* *= factor;
        self.decayed_at_s = now_s;
    }
};

pub fn hourOf(now_s: u64) usize {
    return @intCast((now_s / 3600) % hours_per_day);
}

const testing = std.testing;

test "an identity that only works office hours is flagged at night, not at noon" {
    var hours = Hours{};
    const day: u64 = 86400;
    var index: u64 = 0;
    while (index < 30) : (index += 1) {
        var hour: u64 = 9;
        while (hour < 17) : (hour += 1) {
            var request: u64 = 0;
            while (request < 20) : (request += 1) hours.observe(index * day + hour * 3600 + request * 60, 168 * 3600);
        }
    }
    const last_day = 30 * day;
    try testing.expectEqual(@as(f64, 0), hours.zscore(last_day + 12 * 3600, 1000));
    try testing.expect(hours.zscore(last_day + 3 * 3600, 1000) > 6);
}

test "counts decay by half every half-life and uniform activity is never unusual" {
    var hours = Hours{};
    var hour: u64 = 0;
    while (hour < 48) : (hour += 1) hours.observe(hour * 3600, 1_000_000_000);
    try testing.expect(hours.zscore(49 * 3600, 1000) < 0.01);
    const before = hours.total();
    hours.observe(47 * 3600 + 100, 100);
    try testing.expectApproxEqRel(before * 0.5 + 1, hours.total(), 0.01);
}

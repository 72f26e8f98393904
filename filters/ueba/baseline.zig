//! Exponentially weighted mean and variance of each windowed feature, and the z-score
//! of a value against them.
//!
//! The update is the incremental EWMA/EWMVar of Finch ("Incremental calculation of
//! weighted mean and variance", 2009): with `diff = x - mean`,
//! `mean += alpha * diff` and `variance = (1 - alpha) * (variance + alpha * diff^2)`.
//! The first window seeds the mean with zero variance. Baselines learn from closed
//! windows in which the entity was active, so they describe "a typical busy minute" of
//! that identity; idle stretches are covered by the hour-of-day feature.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");

pub const feature_count = config.Feature.windowed_count;

pub const Ewma = extern struct {
    mean: f64 = 0,
    variance: f64 = 0,

    pub fn learn(self: *Ewma, value: f64, alpha: f64, first: bool) void {
        assert(alpha > 0 and alpha <= 1);
        assert(value >= 0);
        if (first) {
            self.* = .{ .mean = value, .variance = 0 };
            return;
        }
        const diff = value - self.mean;
        const increment = alpha * diff;
        self.mean += increment;
        self.variance = (1 - alpha) * (self.variance + diff * increment);
        assert(self.variance >= 0);
    }

    pub fn stddev(self: *const Ewma) f64 {
        return @sqrt(self.variance);
    }
};

pub const Baseline = extern struct {
    features: [feature_count]Ewma = [_]Ewma{.{}} ** feature_count,
    /// Closed windows learnt, saturating; warm once it reaches the policy's warm-up.
    windows: u32 = 0,
    reserved: u32 = 0,

    pub fn learn(self: *Baseline, values: [feature_count]f64, alpha: f64) void {
        const first = self.windows == 0;
        for (&self.features, values) |*feature, value| feature.learn(value, alpha, first);
        self.windows +|= 1;
    }

    /// Learns `values`, each first capped at `cap_z` floored standard deviations above
    /// the mean once the baseline is warm: an anomaly teaches the baseline only as much
    /// as a borderline window would, so a surge cannot quickly become the new normal.
    pub fn learnCapped(self: *Baseline, values: [feature_count]f64, alpha: f64, warmup_windows: u32, cap_z: f64, min_stddev: [feature_count]f64) void {
        assert(cap_z > 0);
        var capped = values;
        if (self.isWarm(warmup_windows)) {
            for (&capped, self.features, min_stddev) |*value, feature, floor| {
                value.* = @min(value.*, feature.mean + cap_z * @max(feature.stddev(), floor));
            }
        }
        self.learn(capped, alpha);
    }

    pub fn isWarm(self: *const Baseline, warmup_windows: u32) bool {
        return self.windows >= warmup_windows;
    }
};

/// How far `value` sits above the baseline, in (floored) standard deviations. Only rises
/// count: a quiet identity is not an anomaly, and window values are running totals that
/// only grow as the window fills.
pub fn zAbove(ewma: Ewma, value: f64, min_stddev: f64) f64 {
    assert(min_stddev > 0);
    const spread = @max(ewma.stddev(), min_stddev);
    const z = (value - ewma.mean) / spread;
    return if (z > 0) z else 0;
}

const testing = std.testing;

test "the mean follows the values and the variance their spread" {
    var ewma = Ewma{};
    ewma.learn(10, 0.1, true);
    try testing.expectEqual(@as(f64, 10), ewma.mean);
    try testing.expectEqual(@as(f64, 0), ewma.variance);
    var index: u32 = 0;
    while (index < 200) : (index += 1) {
        ewma.learn(if (index % 2 == 0) 8 else 12, 0.1, false);
    }
    try testing.expectApproxEqAbs(@as(f64, 10), ewma.mean, 0.3);
    // Alternating +-2 around the mean: a standard deviation of about 2.
    try testing.expectApproxEqAbs(@as(f64, 2), ewma.stddev(), 0.3);
}

test "z-scores count rises only and respect the floor" {
    const ewma = Ewma{ .mean = 20, .variance = 4 };
    try testing.expectApproxEqAbs(@as(f64, 40), zAbove(ewma, 100, 1), 1e-9);
    try testing.expectEqual(@as(f64, 0), zAbove(ewma, 5, 1));
    // A floor above the learnt spread damps the score.
    try testing.expectApproxEqAbs(@as(f64, 8), zAbove(ewma, 100, 10), 1e-9);
}

test "a surge teaches a warm baseline no more than the cap" {
    var baseline = Baseline{};
    for (0..3) |_| baseline.learn(.{ 10, 10, 10, 10, 10 }, 0.1);
    const floors = [_]f64{ 1, 1, 1, 1, 1 };
    baseline.learnCapped(.{ 1000, 10, 10, 10, 10 }, 0.1, 3, 4, floors);
    // Learnt as 10 + 4 * 1 = 14, not 1000.
    try testing.expectApproxEqAbs(@as(f64, 10.4), baseline.features[0].mean, 1e-9);
    var cold = Baseline{};
    cold.learnCapped(.{ 1000, 10, 10, 10, 10 }, 0.1, 3, 4, floors);
    try testing.expectEqual(@as(f64, 1000), cold.features[0].mean);
}

test "warm-up counts learnt windows" {
    var baseline = Baseline{};
    try testing.expect(!baseline.isWarm(2));
    baseline.learn(.{ 1, 2, 3, 4, 5 }, 0.5);
    baseline.learn(.{ 1, 2, 3, 4, 5 }, 0.5);
    try testing.expect(baseline.isWarm(2));
    try testing.expectEqual(@as(f64, 3), baseline.features[2].mean);
}

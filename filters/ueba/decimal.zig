//! Fixed-point decimal text for scores and baselines (three decimals). Written by hand
//! because std's shortest-float formatting pulls tens of kilobytes of tables into the
//! module, and three decimals are what analysts read anyway.

const std = @import("std");

/// Formats as `-12.345`; magnitudes past 10^15 print as 10^15 (no score gets near).
pub const Fixed3 = struct {
    value: f64,

    pub fn format(self: Fixed3, comptime _: []const u8, _: std.fmt.FormatOptions, writer: anytype) !void {
        const limit: f64 = 1e15;
        const magnitude = @min(@abs(self.value), limit);
        const thousandths: u64 = @intFromFloat(@round(magnitude * 1000));
        if (self.value < 0 and thousandths != 0) try writer.writeByte('-');
        try writer.print("{d}.{d:0>3}", .{ thousandths / 1000, thousandths % 1000 });
    }
};

test "three decimals, rounded, signed" {
    var buffer: [32]u8 = undefined;
    try std.testing.expectEqualStrings("41.000", try std.fmt.bufPrint(&buffer, "{}", .{Fixed3{ .value = 41 }}));
    try std.testing.expectEqualStrings("0.125", try std.fmt.bufPrint(&buffer, "{}", .{Fixed3{ .value = 0.1245 }}));
    try std.testing.expectEqualStrings("-2.500", try std.fmt.bufPrint(&buffer, "{}", .{Fixed3{ .value = -2.5 }}));
    try std.testing.expectEqualStrings("0.000", try std.fmt.bufPrint(&buffer, "{}", .{Fixed3{ .value = -0.0001 }}));
}

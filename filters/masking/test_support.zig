//! A stand-in scanner and policy for the masking tests, so they do not depend
//! on the engine: digit runs (9+ digits, single '-' or ' ' between them) are
//! detector 1, the word "secret" is detector 2, and any value under an "email"
//! key that contains '@' is detector 3 (a context rule).

const std = @import("std");
const walker = @import("walkers").walker;
const actions = @import("actions.zig");
const Finding = @import("stream_masker.zig").Finding;

pub const digits_detector: u16 = 1;
pub const secret_detector: u16 = 2;
pub const email_detector: u16 = 3;

pub const TestScanner = struct {
    values_seen: u32 = 0,

    pub fn scan(self: *TestScanner, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
        self.values_seen += 1;
        var count: usize = 0;
        const bytes = value.bytes;
        if (std.mem.eql(u8, value.context_key, "email") and std.mem.indexOfScalar(u8, bytes, '@') != null and bytes.len > 0) {
            if (from > 0) return out[0..0];
            out[count] = .{ .detector = email_detector, .start = 0, .end = @intCast(bytes.len) };
            return out[0..1];
        }
        var index: usize = from;
        while (index < bytes.len and count < out.len) {
            if (std.ascii.isDigit(bytes[index])) {
                const end = digitRunEnd(bytes, index);
                if (countDigits(bytes[index..end]) >= 9) {
                    out[count] = .{ .detector = digits_detector, .start = @intCast(index), .end = @intCast(end) };
                    count += 1;
                }
                index = end;
                continue;
            }
            if (std.mem.startsWith(u8, bytes[index..], "secret")) {
                out[count] = .{ .detector = secret_detector, .start = @intCast(index), .end = @intCast(index + 6) };
                count += 1;
                index += 6;
                continue;
            }
            index += 1;
        }
        return out[0..count];
    }
};

fn digitRunEnd(bytes: []const u8, start: usize) usize {
    var end = start;
    while (end < bytes.len) {
        if (std.ascii.isDigit(bytes[end])) {
            end += 1;
        } else if ((bytes[end] == '-' or bytes[end] == ' ') and end + 1 < bytes.len and std.ascii.isDigit(bytes[end + 1])) {
            end += 1;
        } else break;
    }
    return end;
}

fn countDigits(bytes: []const u8) usize {
    var count: usize = 0;
    for (bytes) |byte| count += @intFromBool(std.ascii.isDigit(byte));
    return count;
}

/// One action per test detector; null leaves a detector unmasked.
pub const TestPolicy = struct {
    digits: ?actions.Action = .{ .partial = .{} },
    secret: ?actions.Action = .{ .redact = .{ .placeholder = "[REDACTED:SECRET]" } },
    email: ?actions.Action = .{ .redact = .{ .placeholder = "[REDACTED:EMAIL]" } },

    pub fn actionFor(self: *const TestPolicy, detector: u16) ?actions.Action {
        return switch (detector) {
            digits_detector => self.digits,
            secret_detector => self.secret,
            email_detector => self.email,
            else => null,
        };
    }
};

pub const test_key = "0123456789abcdef0123456789abcdef";

/// Checks `bytes` is one valid JSON document.
pub fn expectValidJson(bytes: []const u8) !void {
    const parsed = std.json.parseFromSlice(std.json.Value, std.testing.allocator, bytes, .{}) catch |err| {
        std.debug.print("not valid JSON ({s}): {s}\n", .{ @errorName(err), bytes });
        return err;
    };
    parsed.deinit();
}

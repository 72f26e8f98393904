//! Character classes the mask operations share. A "character" is a UTF-8
//! sequence; a byte that does not start a valid sequence counts as one
//! character, so masking never produces invalid UTF-8 from valid input and
//! never loops on invalid input.

const std = @import("std");

pub const Class = enum { digit, lower, upper, other_letter, separator };

/// Length of the character starting at `bytes[0]` (1 for an invalid byte).
pub fn length(bytes: []const u8) usize {
    std.debug.assert(bytes.len > 0);
    const len = std.unicode.utf8ByteSequenceLength(bytes[0]) catch return 1;
    if (len > bytes.len) return 1;
    _ = std.unicode.utf8Decode(bytes[0..len]) catch return 1;
    return len;
}

/// ASCII digits and letters keep their class; any other non-ASCII character
/// counts as a letter (names, scripts), ASCII punctuation and space as a separator.
pub fn classify(character: []const u8) Class {
    std.debug.assert(character.len > 0);
    const byte = character[0];
    if (byte >= 0x80) return .other_letter;
    if (std.ascii.isDigit(byte)) return .digit;
    if (std.ascii.isLower(byte)) return .lower;
    if (std.ascii.isUpper(byte)) return .upper;
    return .separator;
}

/// An iterator over characters with their class.
pub const Iterator = struct {
    bytes: []const u8,
    index: usize = 0,

    pub const Character = struct { start: usize, bytes: []const u8, class: Class };

    pub fn next(self: *Iterator) ?Character {
        if (self.index >= self.bytes.len) return null;
        const start = self.index;
        const len = length(self.bytes[start..]);
        self.index += len;
        const bytes = self.bytes[start .. start + len];
        return .{ .start = start, .bytes = bytes, .class = classify(bytes) };
    }
};

/// Characters that count for keep-first/keep-last: every character, or only
/// non-separators when separators are kept as they are.
pub fn countMaskable(bytes: []const u8, keep_separators: bool) usize {
    var count: usize = 0;
    var characters = Iterator{ .bytes = bytes };
    while (characters.next()) |character| {
        if (!keep_separators or character.class != .separator) count += 1;
    }
    return count;
}

test "classes and invalid bytes" {
    var characters = Iterator{ .bytes = "a1-\xc3\xa9\xff" };
    const expected = [_]Class{ .lower, .digit, .separator, .other_letter, .other_letter };
    for (expected) |class| try std.testing.expectEqual(class, characters.next().?.class);
    try std.testing.expect(characters.next() == null);
    try std.testing.expectEqual(@as(usize, 4), countMaskable("a1-\xc3\xa9\xff", true));
    try std.testing.expectEqual(@as(usize, 5), countMaskable("a1-\xc3\xa9\xff", false));
}

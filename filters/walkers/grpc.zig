//! gRPC message framing over HTTP/2 bodies: each message is a 5-byte prefix
//! (a compressed flag, then the length as a 32-bit big-endian integer) and the
//! message bytes. Frames arrive split across body chunks and several to a
//! chunk; the framer hands each complete message to its handler, in order.
//!
//! A frame wholly inside one chunk is handed over in place (no copy); a frame
//! split across chunks is collected in caller-provided storage, whose size is
//! the largest message accepted: a longer one is refused with
//! `error.MessageTooLarge` before any of it is buffered, so the policy's
//! buffer limit applies (gRPC's own default limit is 4 MiB).

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");

pub const prefix_bytes = 5;

pub const Error = error{ MalformedFrame, MessageTooLarge, Incomplete };

pub const Frame = struct {
    compressed: bool,
    message: []const u8,
    /// Absolute offset of the frame's prefix in the body.
    start: u64,
};

pub const GrpcFramer = struct {
    storage: []u8,
    prefix: [prefix_bytes]u8 = undefined,
    prefix_len: u8 = 0,
    message_len: u32 = 0,
    received: u32 = 0,
    frame_start: u64 = 0,
    /// Absolute offset of the next byte.
    position: u64 = 0,
    frames: u64 = 0,
    diagnostic: walker.Diagnostic = .{},

    pub fn init(storage: []u8) GrpcFramer {
        return .{ .storage = storage };
    }

    /// Feeds a chunk; `handler.onFrame(frame: Frame)` is called per complete message.
    pub fn feed(self: *GrpcFramer, chunk: []const u8, handler: anytype) !void {
        var rest = chunk;
        while (rest.len > 0) {
            if (self.prefix_len == 0 and rest.len >= prefix_bytes) {
                const len = try self.checkPrefix(rest[0..prefix_bytes].*, self.position);
                if (rest.len - prefix_bytes >= len) {
                    // Whole frame in this chunk: hand it over in place.
                    const frame_len = prefix_bytes + len;
                    try self.deliver(rest[0] == 1, rest[prefix_bytes..frame_len], self.position, handler);
                    self.position += frame_len;
                    rest = rest[frame_len..];
                    continue;
                }
            }
            const consumed = try self.collect(rest, handler);
            assert(consumed > 0);
            self.position += consumed;
            rest = rest[consumed..];
        }
    }

    /// End of stream: a frame cut short is an error, not a message.
    pub fn finish(self: *GrpcFramer) Error!void {
        if (self.prefix_len == 0) return;
        self.diagnostic.set(self.frame_start, "the body ended inside a gRPC frame");
        return error.Incomplete;
    }

    /// Where the unfinished frame starts (held back), or the stream position.
    pub fn holdFrom(self: *const GrpcFramer) u64 {
        return if (self.prefix_len > 0) self.frame_start else self.position;
    }

    /// Copies prefix or message bytes of a frame that spans chunks.
    fn collect(self: *GrpcFramer, rest: []const u8, handler: anytype) !usize {
        if (self.prefix_len < prefix_bytes) {
            if (self.prefix_len == 0) self.frame_start = self.position;
            const take = @min(rest.len, prefix_bytes - self.prefix_len);
            @memcpy(self.prefix[self.prefix_len .. self.prefix_len + take], rest[0..take]);
            self.prefix_len += @intCast(take);
            if (self.prefix_len == prefix_bytes) {
                self.message_len = try self.checkPrefix(self.prefix, self.frame_start);
                self.received = 0;
                if (self.message_len == 0) try self.completeCollected(handler);
            }
            return take;
        }
        const take: u32 = @intCast(@min(rest.len, self.message_len - self.received));
        @memcpy(self.storage[self.received .. self.received + take], rest[0..take]);
        self.received += take;
        if (self.received == self.message_len) try self.completeCollected(handler);
        return take;
    }

    fn completeCollected(self: *GrpcFramer, handler: anytype) !void {
        const message = self.storage[0..self.message_len];
        self.prefix_len = 0;
        try self.deliver(self.prefix[0] == 1, message, self.frame_start, handler);
    }

    fn deliver(self: *GrpcFramer, compressed: bool, message: []const u8, start: u64, handler: anytype) !void {
        self.frames += 1;
        try handler.onFrame(.{ .compressed = compressed, .message = message, .start = start });
    }

    fn checkPrefix(self: *GrpcFramer, prefix: [prefix_bytes]u8, start: u64) Error!u32 {
        if (prefix[0] > 1) {
            self.diagnostic.set(start, "gRPC frame flag is neither 0 nor 1");
            return error.MalformedFrame;
        }
        const len = std.mem.readInt(u32, prefix[1..5], .big);
        if (len > self.storage.len) {
            self.diagnostic.set(start, "gRPC message is larger than the buffer limit");
            return error.MessageTooLarge;
        }
        return len;
    }
};

/// Writes a frame prefix for a message of `len` bytes.
pub fn writePrefix(compressed: bool, len: u32) [prefix_bytes]u8 {
    var prefix: [prefix_bytes]u8 = undefined;
    prefix[0] = @intFromBool(compressed);
    std.mem.writeInt(u32, prefix[1..5], len, .big);
    return prefix;
}

const testing = std.testing;

const Collector = struct {
    messages: [8][64]u8 = undefined,
    lens: [8]usize = undefined,
    starts: [8]u64 = undefined,
    count: usize = 0,

    pub fn onFrame(self: *Collector, frame: Frame) !void {
        @memcpy(self.messages[self.count][0..frame.message.len], frame.message);
        self.lens[self.count] = frame.message.len;
        self.starts[self.count] = frame.start;
        self.count += 1;
    }

    fn message(self: *const Collector, index: usize) []const u8 {
        return self.messages[index][0..self.lens[index]];
    }
};

const three_frames = writePrefix(false, 5) ++ "hello".* ++ writePrefix(false, 0) ++ writePrefix(true, 3) ++ "xyz".*;

test "frames split at every offset are delivered whole, in order" {
    var split: usize = 0;
    while (split <= three_frames.len) : (split += 1) {
        var storage: [64]u8 = undefined;
        var framer = GrpcFramer.init(&storage);
        var collector = Collector{};
        try framer.feed(three_frames[0..split], &collector);
        if (split > 0 and split < three_frames.len and collector.count < 3) {
            try testing.expect(framer.holdFrom() <= split);
        }
        try framer.feed(three_frames[split..], &collector);
        try framer.finish();
        try testing.expectEqual(@as(usize, 3), collector.count);
        try testing.expectEqualStrings("hello", collector.message(0));
        try testing.expectEqualStrings("", collector.message(1));
        try testing.expectEqualStrings("xyz", collector.message(2));
        try testing.expectEqual(@as(u64, 10), collector.starts[1]);
    }
    // One byte at a time.
    var storage: [64]u8 = undefined;
    var framer = GrpcFramer.init(&storage);
    var collector = Collector{};
    for (three_frames) |byte| try framer.feed(&.{byte}, &collector);
    try testing.expectEqual(@as(usize, 3), collector.count);
}

test "an oversized message is refused before it is buffered; bad flags and cut frames too" {
    var storage: [4]u8 = undefined;
    var framer = GrpcFramer.init(&storage);
    var collector = Collector{};
    try testing.expectError(error.MessageTooLarge, framer.feed(&writePrefix(false, 5), &collector));
    var flagged = GrpcFramer.init(&storage);
    try testing.expectError(error.MalformedFrame, flagged.feed("\x02\x00\x00\x00\x00", &collector));
    var cut = GrpcFramer.init(&storage);
    try cut.feed("\x00\x00\x00", &collector);
    try testing.expectError(error.Incomplete, cut.finish());
}

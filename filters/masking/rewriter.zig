//! Applies edits (raw byte ranges and their replacements) to a body that
//! arrives in chunks, holding back only the tail a walker may still rewrite.
//!
//! For each chunk the caller does:
//!
//!     rewriter.beginChunk(chunk)
//!     walker.feed(chunk, sink)     // the sink calls rewriter.addEdit / addDrop,
//!                                  // and rewriter.flushTo(walker.holdFrom()) when
//!                                  // `needsFlush()` says edit space runs low
//!     rewriter.finishChunk(walker.holdFrom(), out)  // hold null at end of stream
//!
//! Output is the stream with edits applied, up to the hold point; the bytes
//! from the hold point on are copied into the tail and come out with a later
//! chunk. A chunk with no edits and nothing held back is reported `.unchanged`
//! and nothing is copied. The tail, the edit list and the replacement bytes
//! have fixed capacities; exceeding one is an error the policy handles, never
//! a silent pass-through.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walkers").walker;

/// Edits waiting on held-back bytes; a flush is asked for before this fills.
pub const edits_max: u32 = 256;
/// Replacement bytes waiting with them.
pub const replacement_bytes_max: u32 = 64 * 1024;
/// Room kept free so one more value's edits always fit after a flush.
const edits_reserve: u32 = 64;
const replacement_reserve: u32 = 32 * 1024;

pub const Error = error{
    /// The walker asked to hold back more than `walker.hold_bytes_max` bytes.
    TailOverflow,
    /// An edit for bytes already passed on; counted as unmasked by the caller.
    AlreadyEmitted,
    /// No room for another edit even after a flush.
    EditsFull,
};

pub const Result = enum {
    /// The chunk passes as it is; nothing was written to `out`.
    unchanged,
    /// `out` holds what replaces the chunk.
    rewritten,
};

const Edit = struct {
    start: u64,
    end: u64,
    replacement_offset: u32,
    replacement_len: u32,
    /// A dropped first member: this separator after it goes too (0: none).
    separator_after: u8,
};

/// What a dropped first member left to remove: whitespace, one separator, whitespace.
const Strip = enum(u8) { none, separator, after_separator };

pub const Rewriter = struct {
    tail: [walker.hold_bytes_max]u8 = undefined,
    tail_len: u32 = 0,
    /// Absolute offset of `tail[0]`: everything before it has been output.
    tail_start: u64 = 0,
    edits: [edits_max]Edit = undefined,
    edits_len: u32 = 0,
    replacements: [replacement_bytes_max]u8 = undefined,
    replacements_used: u32 = 0,
    strip: Strip = .none,
    strip_separator: u8 = 0,
    /// The chunk being walked; set by `beginChunk`, cleared by `finishChunk`.
    chunk: []const u8 = "",
    /// Output written by mid-chunk flushes of this chunk.
    flushed_this_chunk: bool = false,
    bytes_in: u64 = 0,
    bytes_out: u64 = 0,

    pub fn beginChunk(self: *Rewriter, chunk: []const u8) void {
        self.chunk = chunk;
        self.flushed_this_chunk = false;
    }

    /// Absolute offset past the last byte of the chunk being walked.
    pub fn streamEnd(self: *const Rewriter) u64 {
        return self.tail_start + self.tail_len + self.chunk.len;
    }

    /// The earliest raw offset a new edit may start at.
    pub fn editableFrom(self: *const Rewriter) u64 {
        if (self.edits_len == 0) return self.tail_start;
        return @max(self.tail_start, self.edits[self.edits_len - 1].end);
    }

    /// True when raw `[from, to)` lies wholly inside edits not yet passed on (an
    /// earlier finding's that overlapped it).
    pub fn covers(self: *const Rewriter, from: u64, to: u64) bool {
        if (from < self.tail_start) return false;
        var at = from;
        for (self.edits[0..self.edits_len]) |edit| {
            if (at >= to) break;
            if (edit.end <= at) continue;
            if (edit.start > at) return false;
            at = edit.end;
        }
        return at >= to;
    }

    /// True when edit space is low enough that the sink should flush first.
    pub fn needsFlush(self: *const Rewriter) bool {
        return self.edits_len + edits_reserve > edits_max or
            self.replacements_used + replacement_reserve > replacement_bytes_max;
    }

    /// Room for the next replacement; write into it and pass its length to `addEdit`.
    pub fn replacementSpace(self: *Rewriter) []u8 {
        return self.replacements[self.replacements_used..];
    }

    /// Replaces raw `[start, end)` with the first `replacement_len` bytes of
    /// `replacementSpace()`. Edits come in stream order and do not overlap.
    pub fn addEdit(self: *Rewriter, start: u64, end: u64, replacement_len: usize) Error!void {
        assert(start <= end);
        if (start < self.tail_start) return error.AlreadyEmitted;
        assert(start >= self.editableFrom());
        assert(end <= self.streamEnd());
        return self.push(start, end, replacement_len, 0);
    }

    /// Removes raw `[start, end)` (a whole member), absorbing edits inside it;
    /// `separator_after` (a first member's) is removed from the bytes that follow.
    pub fn addDrop(self: *Rewriter, start: u64, end: u64, separator_after: ?u8) Error!void {
        assert(start < end and end <= self.streamEnd());
        if (start < self.tail_start) return error.AlreadyEmitted;
        while (self.edits_len > 0 and self.edits[self.edits_len - 1].start >= start) {
            self.edits_len -= 1;
            self.replacements_used = self.edits[self.edits_len].replacement_offset;
        }
        if (self.edits_len > 0) assert(self.edits[self.edits_len - 1].end <= start);
        return self.push(start, end, 0, separator_after orelse 0);
    }

    fn push(self: *Rewriter, start: u64, end: u64, replacement_len: usize, separator_after: u8) Error!void {
        if (self.edits_len == edits_max) return error.EditsFull;
        assert(self.replacements_used + replacement_len <= replacement_bytes_max);
        self.edits[self.edits_len] = .{
            .start = start,
            .end = end,
            .replacement_offset = self.replacements_used,
            .replacement_len = @intCast(replacement_len),
            .separator_after = separator_after,
        };
        self.edits_len += 1;
        self.replacements_used += @intCast(replacement_len);
    }

    /// Outputs everything before `hold_from` now, mid-chunk, to free edit space.
    pub fn flushTo(self: *Rewriter, hold_from: u64, out: anytype) !void {
        const cut = self.cutFor(hold_from);
        if (cut == self.tail_start) return;
        try self.emit(cut, out);
        self.flushed_this_chunk = true;
        self.retire(cut);
    }

    /// Finishes the chunk: outputs up to `hold_from` (everything when null, at
    /// end of stream) and keeps the rest as the tail.
    pub fn finishChunk(self: *Rewriter, hold_from: ?u64, out: anytype) !Result {
        const stream_end = self.streamEnd();
        const cut = self.cutFor(hold_from orelse stream_end);
        if (stream_end - cut > self.tail.len) return error.TailOverflow;
        const untouched = !self.flushed_this_chunk and self.tail_len == 0 and self.edits_len == 0 and
            self.strip == .none and cut == stream_end;
        self.bytes_in += self.chunk.len;
        if (untouched) {
            self.bytes_out += self.chunk.len;
            self.tail_start = stream_end;
            self.chunk = "";
            return .unchanged;
        }
        try self.emit(cut, out);
        self.retire(cut);
        self.keepTail(stream_end);
        return .rewritten;
    }

    /// The cut for a hold point: never inside an edit, never before the tail.
    fn cutFor(self: *const Rewriter, hold_from: u64) u64 {
        var cut = @min(@max(hold_from, self.tail_start), self.streamEnd());
        for (self.edits[0..self.edits_len]) |edit| {
            if (edit.start < cut and edit.end > cut) {
                cut = edit.start;
                break;
            }
        }
        return cut;
    }

    /// Writes `[tail_start, cut)` with edits applied.
    fn emit(self: *Rewriter, cut: u64, out: anytype) !void {
        var position = self.tail_start;
        for (self.edits[0..self.edits_len]) |edit| {
            if (edit.start >= cut) break;
            assert(edit.end <= cut);
            try self.emitRaw(position, edit.start, out);
            const replacement = self.replacements[edit.replacement_offset..][0..edit.replacement_len];
            if (replacement.len > 0) {
                self.strip = .none;
                try out.write(replacement);
                self.bytes_out += replacement.len;
            }
            if (edit.separator_after != 0) {
                self.strip = .separator;
                self.strip_separator = edit.separator_after;
            }
            position = edit.end;
        }
        try self.emitRaw(position, cut, out);
    }

    /// Writes raw `[from, to)` from the tail and the chunk, dropping the
    /// separator a dropped first member left behind.
    fn emitRaw(self: *Rewriter, from: u64, to: u64, out: anytype) !void {
        var position = from;
        while (position < to) {
            const segment = self.rawSegment(position, to);
            var bytes = segment;
            while (self.strip != .none and bytes.len > 0) {
                const byte = bytes[0];
                if (byte == ' ' or byte == '\t' or byte == '\n' or byte == '\r') {
                    bytes = bytes[1..];
                } else if (byte == self.strip_separator and self.strip == .separator) {
                    bytes = bytes[1..];
                    self.strip = .after_separator;
                } else {
                    self.strip = .none;
                }
            }
            if (bytes.len > 0) try out.write(bytes);
            self.bytes_out += bytes.len;
            position += segment.len;
        }
    }

    /// The longest contiguous run of raw bytes at `position` (tail or chunk), up to `to`.
    fn rawSegment(self: *const Rewriter, position: u64, to: u64) []const u8 {
        assert(position >= self.tail_start and to <= self.streamEnd());
        const tail_end = self.tail_start + self.tail_len;
        if (position < tail_end) {
            const from: usize = @intCast(position - self.tail_start);
            const until: usize = @intCast(@min(to, tail_end) - self.tail_start);
            return self.tail[from..until];
        }
        const from: usize = @intCast(position - tail_end);
        const until: usize = @intCast(to - tail_end);
        return self.chunk[from..until];
    }

    /// Forgets edits before `cut` and moves the output point to it.
    fn retire(self: *Rewriter, cut: u64) void {
        var done: u32 = 0;
        while (done < self.edits_len and self.edits[done].start < cut) : (done += 1) {
            assert(self.edits[done].end <= cut);
        }
        const kept = self.edits_len - done;
        if (done > 0) {
            const first_kept_offset = if (kept > 0) self.edits[done].replacement_offset else self.replacements_used;
            const kept_bytes = self.replacements_used - first_kept_offset;
            std.mem.copyForwards(u8, self.replacements[0..kept_bytes], self.replacements[first_kept_offset..self.replacements_used]);
            std.mem.copyForwards(Edit, self.edits[0..kept], self.edits[done..self.edits_len]);
            for (self.edits[0..kept]) |*edit| edit.replacement_offset -= first_kept_offset;
            self.edits_len = kept;
            self.replacements_used = kept_bytes;
        }
        // Drop the consumed part of the tail; the chunk part stays where it is.
        const tail_end = self.tail_start + self.tail_len;
        if (cut <= tail_end) {
            const consumed: u32 = @intCast(cut - self.tail_start);
            std.mem.copyForwards(u8, self.tail[0 .. self.tail_len - consumed], self.tail[consumed..self.tail_len]);
            self.tail_len -= consumed;
            self.tail_start = cut;
        } else {
            // Past the tail, into the chunk: the tail is all out; remember how
            // much of the chunk is too.
            const chunk_consumed: usize = @intCast(cut - tail_end);
            self.chunk = self.chunk[chunk_consumed..];
            self.tail_len = 0;
            self.tail_start = cut;
        }
    }

    /// Copies the unemitted rest of the chunk into the tail.
    fn keepTail(self: *Rewriter, stream_end: u64) void {
        assert(stream_end - self.tail_start <= self.tail.len);
        const rest = self.chunk;
        @memcpy(self.tail[self.tail_len .. self.tail_len + rest.len], rest);
        self.tail_len += @intCast(rest.len);
        self.chunk = "";
        assert(self.tail_start + self.tail_len == stream_end);
    }
};

/// An output that appends to a fixed buffer; `error.OutputFull` past it.
pub const FixedOutput = struct {
    buffer: []u8,
    len: usize = 0,

    pub fn write(self: *FixedOutput, bytes: []const u8) error{OutputFull}!void {
        if (self.len + bytes.len > self.buffer.len) return error.OutputFull;
        @memcpy(self.buffer[self.len .. self.len + bytes.len], bytes);
        self.len += bytes.len;
    }

    pub fn written(self: *const FixedOutput) []const u8 {
        return self.buffer[0..self.len];
    }
};

const testing = std.testing;

fn addTestEdit(rewriter: *Rewriter, start: u64, end_offset: u64, replacement: []const u8) !void {
    @memcpy(rewriter.replacementSpace()[0..replacement.len], replacement);
    try rewriter.addEdit(start, end_offset, replacement.len);
}

test "edits apply across the held-back tail" {
    var rewriter = Rewriter{};
    var buffer: [256]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    // Stream: "name=ada&card=4111111111111111&x=1", chunked in two.
    rewriter.beginChunk("name=ada&card=4111");
    try testing.expectEqual(Result.rewritten, try rewriter.finishChunk(14, &out)); // hold from the card value
    try testing.expectEqualStrings("name=ada&card=", out.written());
    rewriter.beginChunk("111111111111&x=1");
    try addTestEdit(&rewriter, 14, 30, "************1111");
    try testing.expectEqual(Result.rewritten, try rewriter.finishChunk(null, &out));
    try testing.expectEqualStrings("name=ada&card=************1111&x=1", out.written());
    try testing.expectEqual(@as(u64, 34), rewriter.bytes_in);
}

test "a chunk with nothing to do passes unchanged, without copying" {
    var rewriter = Rewriter{};
    var buffer: [8]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    rewriter.beginChunk("a chunk longer than the output buffer");
    try testing.expectEqual(Result.unchanged, try rewriter.finishChunk(null, &out));
    try testing.expectEqual(@as(usize, 0), out.len);
}

test "a cut never splits an edit" {
    var rewriter = Rewriter{};
    var buffer: [64]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    rewriter.beginChunk("0123456789");
    try addTestEdit(&rewriter, 4, 8, "X");
    _ = try rewriter.finishChunk(6, &out);
    try testing.expectEqualStrings("0123", out.written());
    rewriter.beginChunk("abc");
    _ = try rewriter.finishChunk(null, &out);
    try testing.expectEqualStrings("0123X89abc", out.written());
}

test "dropping a first member takes the separator after it" {
    var rewriter = Rewriter{};
    var buffer: [64]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    const body = "{\"ssn\": \"1\" , \"a\": 2}";
    rewriter.beginChunk(body[0..12]);
    try addTestEdit(&rewriter, 9, 10, "*"); // absorbed by the drop below
    try rewriter.addDrop(1, 11, ',');
    _ = try rewriter.finishChunk(null, &out);
    rewriter.beginChunk(body[12..]);
    _ = try rewriter.finishChunk(null, &out);
    try testing.expectEqualStrings("{\"a\": 2}", out.written());
}

test "an edit behind the output is refused" {
    var rewriter = Rewriter{};
    var buffer: [64]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    rewriter.beginChunk("abcdef");
    _ = try rewriter.finishChunk(null, &out);
    rewriter.beginChunk("ghi");
    try testing.expectError(error.AlreadyEmitted, rewriter.addEdit(2, 3, 0));
}

test "mid-chunk flushes free edit space" {
    var rewriter = Rewriter{};
    var buffer: [4096]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    const chunk = "x" ** 1000;
    rewriter.beginChunk(chunk);
    var index: u64 = 0;
    while (index < 1000) : (index += 2) {
        if (rewriter.needsFlush()) try rewriter.flushTo(index, &out);
        try addTestEdit(&rewriter, index, index + 1, "y");
    }
    _ = try rewriter.finishChunk(null, &out);
    try testing.expectEqualStrings("yx" ** 500, out.written());
}

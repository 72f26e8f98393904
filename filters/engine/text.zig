//! The bytes a scanner can read: the kept tail of earlier chunks followed by the
//! current chunk, addressed by absolute stream offset. Reading a byte that has not
//! arrived is `error.NeedInput`: the scanner stops before the event and resumes it
//! when the next chunk comes, so every chunking finds what one pass finds.

const std = @import("std");
const assert = std.debug.assert;

pub const NeedInput = error{NeedInput};

pub const Text = struct {
    tail: []const u8,
    /// Stream offset of `tail[0]`; the chunk follows the tail directly.
    tail_start: u64,
    chunk: []const u8,
    /// No bytes follow the chunk: the end of the chunk is the end of the text.
    final: bool,

    pub fn chunkStart(self: *const Text) u64 {
        return self.tail_start + self.tail.len;
    }

    pub fn end(self: *const Text) u64 {
        return self.chunkStart() + self.chunk.len;
    }

    pub fn at(self: *const Text, offset: u64) NeedInput!u8 {
        assert(offset >= self.tail_start); // never before the kept history
        const chunk_start = self.chunkStart();
        if (offset >= chunk_start) {
            const index = offset - chunk_start;
            if (index >= self.chunk.len) return error.NeedInput;
            return self.chunk[@intCast(index)];
        }
        return self.tail[@intCast(offset - self.tail_start)];
    }

    /// True at the end of the text; `error.NeedInput` while more bytes may still come.
    pub fn atEnd(self: *const Text, offset: u64) NeedInput!bool {
        if (offset < self.end()) return false;
        if (self.final) return true;
        return error.NeedInput;
    }

    /// `[start, end)` as one slice: in place when it lies in one part, else copied to `scratch`.
    pub fn span(self: *const Text, start: u64, stop: u64, scratch: []u8) NeedInput![]const u8 {
        assert(start <= stop and start >= self.tail_start);
        if (stop > self.end()) return error.NeedInput;
        const chunk_start = self.chunkStart();
        if (start >= chunk_start) return self.chunk[@intCast(start - chunk_start)..@intCast(stop - chunk_start)];
        if (stop <= chunk_start) return self.tail[@intCast(start - self.tail_start)..@intCast(stop - self.tail_start)];
        const length: usize = @intCast(stop - start);
        assert(length <= scratch.len);
        const head = self.tail[@intCast(start - self.tail_start)..];
        @memcpy(scratch[0..head.len], head);
        @memcpy(scratch[head.len..length], self.chunk[0 .. length - head.len]);
        return scratch[0..length];
    }
};

//! Resumable DEFLATE decoder (RFC 1951) with the gzip (RFC 1952) and zlib
//! (RFC 1950) containers, for compressed bodies and gRPC messages.
//!
//! Zig's std.compress.flate pulls its input from a reader and cannot pause
//! when a body chunk ends mid-symbol, so bodies that arrive in chunks need a
//! decoder driven the other way: `decode(input, output)` consumes what it can,
//! writes what fits, keeps every partial state (bit buffer, Huffman tables,
//! the 32 KiB window, a match being copied) in the struct, and picks up with the
//! next call. Nothing is allocated; the struct is about 40 KiB.
//!
//! Decompression bombs are refused: the decoder stops with
//! `error.OutputTooLarge` past `Limits.output_bytes_max`, and with
//! `error.RatioTooHigh` when, past `ratio_floor_bytes` of output, the output
//! exceeds `ratio_max` times the input consumed.
//!
//! Checks: gzip header fields and CRC-32/ISIZE trailer, zlib header check and
//! Adler-32 trailer; a zlib preset dictionary is refused (HTTP never uses one).
//! Concatenated gzip members decode as one stream, as gzip(1) does.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const in_place = @import("in_place.zig");

pub const Container = enum {
    gzip,
    zlib,
    raw,
    /// HTTP's "deflate" should be zlib but some servers send raw DEFLATE:
    /// the first two bytes decide.
    zlib_or_raw,
};

pub const Limits = struct {
    output_bytes_max: u64 = 64 * 1024 * 1024,
    ratio_max: u32 = 200,
    /// Output below this never counts as a bomb, however well it compressed.
    ratio_floor_bytes: u64 = 1024 * 1024,
};

pub const Error = error{ InvalidData, OutputTooLarge, RatioTooHigh, Truncated };

pub const Progress = struct {
    consumed: usize,
    produced: usize,
};

const window_bytes: u32 = 32 * 1024;
const window_mask: u32 = window_bytes - 1;
const fast_bits: u5 = 9;

const State = enum(u8) {
    container_start,
    gzip_header,
    gzip_extra_length,
    gzip_extra,
    gzip_name,
    gzip_comment,
    gzip_header_crc,
    zlib_header,
    block_header,
    stored_header,
    stored_copy,
    dynamic_counts,
    code_length_codes,
    code_lengths,
    block_data,
    match_copy,
    trailer,
    member_end,
};

pub const Inflate = struct {
    container: Container,
    limits: Limits,
    state: State = .container_start,
    bits: u64 = 0,
    bit_count: u32 = 0,
    final_block: bool = false,
    /// Bytes of a header or trailer field still to read.
    field_remaining: u32 = 0,
    gzip_flags: u8 = 0,
    /// XLEN of a gzip FEXTRA field, read a byte at a time.
    extra_length: u32 = 0,
    stored_remaining: u32 = 0,
    literal_count: u32 = 0,
    distance_count: u32 = 0,
    code_length_count: u32 = 0,
    lengths_read: u32 = 0,
    code_length_lengths: [19]u8 = undefined,
    lengths: [288 + 32]u8 = undefined,
    code_length_code: Huffman(19) = .{},
    literal_code: Huffman(288) = .{},
    distance_code: Huffman(32) = .{},
    copy_remaining: u32 = 0,
    copy_distance: u32 = 0,
    window: [window_bytes]u8 = undefined,
    window_position: u32 = 0,
    member_out: u64 = 0,
    total_in: u64 = 0,
    total_out: u64 = 0,
    crc: std.hash.Crc32 = std.hash.Crc32.init(),
    adler: std.hash.Adler32 = std.hash.Adler32.init(),
    trailer: [8]u8 = undefined,
    members: u32 = 0,
    diagnostic: walker.Diagnostic = .{},

    pub fn init(container: Container, limits: Limits) Inflate {
        return .{ .container = container, .limits = limits };
    }

    /// `init` where the decoder lives: its 32 KiB window and code tables are
    /// scratch, and no copy of them goes on the wasm stack.
    pub fn reset(self: *Inflate, container: Container, limits: Limits) void {
        in_place.initDefaults(self);
        self.container = container;
        self.limits = limits;
        assert(self.state == .container_start and self.total_out == 0);
    }

    /// True once a complete stream (every gzip member so far) has been read.
    pub fn atEnd(self: *const Inflate) bool {
        return self.state == .member_end;
    }

    /// End of input: anything but a complete stream is `error.Truncated`.
    pub fn finish(self: *Inflate) Error!void {
        if (self.state == .member_end) return;
        if (self.state == .container_start and self.members == 0 and self.total_in == 0) return;
        self.diagnostic.set(self.total_in, "the compressed body ended before its end");
        return error.Truncated;
    }

    /// Consumes input and writes output until the input is used up, the
    /// output is full or the stream ends. Call again with the rest.
    pub fn decode(self: *Inflate, input: []const u8, output: []u8) Error!Progress {
        var cursor = Cursor{ .input = input, .output = output };
        // Clamp the output so crossing the absolute bound is noticed right away.
        const allowance = self.limits.output_bytes_max -| self.total_out;
        if (cursor.output.len > allowance + 1) cursor.output = cursor.output[0..@intCast(allowance + 1)];
        // Each turn changes state, consumes input or produces output, and a few
        // state changes at most come between two of the others.
        const turns_max = 8 * (input.len + cursor.output.len) + 64;
        var turns: usize = 0;
        while (try self.step(&cursor)) : (turns += 1) assert(turns < turns_max);
        self.hashOutput(&cursor);
        self.total_in += cursor.consumed;
        try self.checkLimits();
        return .{ .consumed = cursor.consumed, .produced = cursor.produced };
    }

    fn checkLimits(self: *Inflate) Error!void {
        if (self.total_out > self.limits.output_bytes_max) {
            self.diagnostic.set(self.total_in, "decompressed body is larger than the limit");
            return error.OutputTooLarge;
        }
        if (self.total_out > self.limits.ratio_floor_bytes and self.total_out / @max(self.total_in, 1) > self.limits.ratio_max) {
            self.diagnostic.set(self.total_in, "compression ratio is beyond the limit (a decompression bomb?)");
            return error.RatioTooHigh;
        }
    }

    fn fail(self: *Inflate, reason: []const u8) Error {
        self.diagnostic.set(self.total_in, reason);
        return error.InvalidData;
    }

    /// One unit of work; false when it needs more input or output room.
    fn step(self: *Inflate, cursor: *Cursor) Error!bool {
        return switch (self.state) {
            .container_start => self.containerStart(cursor),
            .gzip_header => self.gzipHeader(cursor),
            .gzip_extra_length => self.gzipExtraLength(cursor),
            .gzip_extra => self.skipBytes(cursor, .gzip_name),
            .gzip_name => self.skipZeroTerminated(cursor, 8, .gzip_comment),
            .gzip_comment => self.skipZeroTerminated(cursor, 16, .gzip_header_crc),
            .gzip_header_crc => self.gzipHeaderCrc(cursor),
            .zlib_header => self.zlibHeader(cursor),
            .block_header => self.blockHeader(cursor),
            .stored_header => self.storedHeader(cursor),
            .stored_copy => self.storedCopy(cursor),
            .dynamic_counts => self.dynamicCounts(cursor),
            .code_length_codes => self.codeLengthCodes(cursor),
            .code_lengths => self.codeLengths(cursor),
            .block_data => self.blockData(cursor),
            .match_copy => self.matchCopy(cursor),
            .trailer => self.readTrailer(cursor),
            .member_end => self.memberEnd(cursor),
        };
    }

    // ------------------------------------------------------------ bit input

    /// Pulls whole input bytes into the bit buffer while there is room.
    fn refill(self: *Inflate, cursor: *Cursor) void {
        while (self.bit_count <= 56 and cursor.consumed < cursor.input.len) {
            self.bits |= @as(u64, cursor.input[cursor.consumed]) << @intCast(self.bit_count);
            self.bit_count += 8;
            cursor.consumed += 1;
        }
    }

    fn need(self: *Inflate, cursor: *Cursor, count: u32) bool {
        assert(count <= 57);
        if (self.bit_count < count) self.refill(cursor);
        return self.bit_count >= count;
    }

    fn peek(self: *const Inflate, count: u32) u64 {
        assert(count <= self.bit_count);
        if (count == 0) return 0;
        return self.bits & ((@as(u64, 1) << @intCast(count)) - 1);
    }

    fn drop(self: *Inflate, count: u32) void {
        assert(count <= self.bit_count);
        self.bits = if (count == 64) 0 else self.bits >> @intCast(count);
        self.bit_count -= count;
    }

    fn take(self: *Inflate, count: u32) u64 {
        const value = self.peek(count);
        self.drop(count);
        return value;
    }

    fn alignToByte(self: *Inflate) void {
        self.drop(self.bit_count % 8);
    }

    /// The next whole byte (the bit buffer is byte-aligned in containers).
    fn byte(self: *Inflate, cursor: *Cursor) ?u8 {
        assert(self.bit_count % 8 == 0);
        if (!self.need(cursor, 8)) return null;
        return @intCast(self.take(8));
    }

    // ------------------------------------------------------------ containers

    fn containerStart(self: *Inflate, cursor: *Cursor) Error!bool {
        switch (self.container) {
            .gzip => {
                self.state = .gzip_header;
                self.field_remaining = 10;
            },
            .zlib => self.state = .zlib_header,
            .raw => self.state = .block_header,
            .zlib_or_raw => {
                if (!self.need(cursor, 16)) return false;
                const header: u16 = @intCast(self.peek(16));
                const cmf: u16 = header & 0xff;
                const flg: u16 = header >> 8;
                self.container = if (cmf & 0x0f == 8 and (cmf * 256 + flg) % 31 == 0) .zlib else .raw;
                return true;
            },
        }
        self.resetMember();
        return true;
    }

    fn resetMember(self: *Inflate) void {
        self.final_block = false;
        self.member_out = 0;
        self.crc = std.hash.Crc32.init();
        self.adler = std.hash.Adler32.init();
    }

    fn gzipHeader(self: *Inflate, cursor: *Cursor) Error!bool {
        const value = self.byte(cursor) orelse return false;
        const index = 10 - self.field_remaining;
        self.field_remaining -= 1;
        switch (index) {
            0 => if (value != 0x1f) return self.fail("not a gzip stream (bad magic)"),
            1 => if (value != 0x8b) return self.fail("not a gzip stream (bad magic)"),
            2 => if (value != 8) return self.fail("gzip compression method is not deflate"),
            3 => {
                if (value & 0xe0 != 0) return self.fail("gzip header has reserved flags set");
                self.gzip_flags = value;
            },
            else => {},
        }
        if (self.field_remaining == 0) {
            self.state = .gzip_extra_length;
            self.field_remaining = if (self.gzip_flags & 4 != 0) 2 else 0;
            self.extra_length = 0;
        }
        return true;
    }

    fn gzipExtraLength(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.field_remaining == 0) {
            self.state = .gzip_extra;
            self.field_remaining = self.extra_length;
            return true;
        }
        const value = self.byte(cursor) orelse return false;
        // XLEN is little-endian: the first byte is the low one.
        self.extra_length |= @as(u32, value) << @intCast(8 * (2 - self.field_remaining));
        self.field_remaining -= 1;
        return true;
    }

    fn skipBytes(self: *Inflate, cursor: *Cursor, next: State) Error!bool {
        if (self.field_remaining == 0) {
            self.state = next;
            return true;
        }
        _ = self.byte(cursor) orelse return false;
        self.field_remaining -= 1;
        return true;
    }

    fn skipZeroTerminated(self: *Inflate, cursor: *Cursor, flag: u8, next: State) Error!bool {
        if (self.gzip_flags & flag == 0) {
            self.state = next;
            return true;
        }
        const value = self.byte(cursor) orelse return false;
        if (value == 0) self.gzip_flags &= ~flag;
        return true;
    }

    /// The optional header CRC-16 is skipped: the trailer's CRC-32 covers the data.
    fn gzipHeaderCrc(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.gzip_flags & 2 != 0) {
            if (!self.need(cursor, 16)) return false;
            self.drop(16);
        }
        self.state = .block_header;
        return true;
    }

    fn zlibHeader(self: *Inflate, cursor: *Cursor) Error!bool {
        if (!self.need(cursor, 16)) return false;
        const cmf: u16 = @intCast(self.take(8));
        const flg: u16 = @intCast(self.take(8));
        if (cmf & 0x0f != 8 or cmf >> 4 > 7) return self.fail("zlib compression method is not deflate");
        if ((cmf * 256 + flg) % 31 != 0) return self.fail("zlib header check failed");
        if (flg & 0x20 != 0) return self.fail("zlib preset dictionaries are not supported");
        self.state = .block_header;
        return true;
    }

    fn readTrailer(self: *Inflate, cursor: *Cursor) Error!bool {
        const size: u32 = switch (self.container) {
            .gzip => 8,
            .zlib => 4,
            .raw, .zlib_or_raw => 0,
        };
        while (self.field_remaining < size) {
            self.trailer[self.field_remaining] = self.byte(cursor) orelse return false;
            self.field_remaining += 1;
        }
        self.hashOutput(cursor);
        switch (self.container) {
            .gzip => {
                const crc = std.mem.readInt(u32, self.trailer[0..4], .little);
                const size_mod = std.mem.readInt(u32, self.trailer[4..8], .little);
                if (crc != self.crc.final()) return self.fail("gzip CRC-32 does not match the data");
                if (size_mod != @as(u32, @truncate(self.member_out))) return self.fail("gzip length does not match the data");
            },
            .zlib => {
                if (std.mem.readInt(u32, self.trailer[0..4], .big) != self.adler.adler) {
                    return self.fail("zlib Adler-32 does not match the data");
                }
            },
            .raw, .zlib_or_raw => {},
        }
        self.members += 1;
        self.state = .member_end;
        return true;
    }

    /// After a complete member: another gzip member may follow; anything
    /// after the end of a zlib or raw stream is refused.
    fn memberEnd(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.bit_count == 0 and cursor.consumed == cursor.input.len) return false;
        if (self.container != .gzip) return self.fail("data after the end of the compressed stream");
        self.state = .container_start;
        return true;
    }

    // ------------------------------------------------------------ blocks

    fn blockHeader(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.final_block) {
            self.alignToByte();
            self.state = .trailer;
            self.field_remaining = 0;
            return true;
        }
        if (!self.need(cursor, 3)) return false;
        self.final_block = self.take(1) == 1;
        switch (self.take(2)) {
            0 => {
                self.alignToByte();
                self.state = .stored_header;
            },
            1 => {
                buildFixedCodes(&self.literal_code, &self.distance_code);
                self.state = .block_data;
            },
            2 => self.state = .dynamic_counts,
            else => return self.fail("invalid DEFLATE block type"),
        }
        return true;
    }

    fn storedHeader(self: *Inflate, cursor: *Cursor) Error!bool {
        if (!self.need(cursor, 32)) return false;
        const len: u32 = @intCast(self.take(16));
        const nlen: u32 = @intCast(self.take(16));
        if (len != (~nlen & 0xffff)) return self.fail("stored block length check failed");
        self.stored_remaining = len;
        self.state = .stored_copy;
        return true;
    }

    fn storedCopy(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.stored_remaining == 0) {
            self.state = .block_header;
            return true;
        }
        if (cursor.roomLeft() == 0) return false;
        // Whole bytes still in the bit buffer come first.
        if (self.bit_count >= 8) {
            self.emit(cursor, @intCast(self.take(8)));
            self.stored_remaining -= 1;
            return true;
        }
        const available = cursor.input.len - cursor.consumed;
        if (available == 0) return false;
        const count: u32 = @intCast(@min(@min(available, cursor.roomLeft()), self.stored_remaining));
        self.emitSlice(cursor, cursor.input[cursor.consumed..][0..count]);
        cursor.consumed += count;
        self.stored_remaining -= count;
        return true;
    }

    fn dynamicCounts(self: *Inflate, cursor: *Cursor) Error!bool {
        if (!self.need(cursor, 14)) return false;
        self.literal_count = @as(u32, @intCast(self.take(5))) + 257;
        self.distance_count = @as(u32, @intCast(self.take(5))) + 1;
        self.code_length_count = @as(u32, @intCast(self.take(4))) + 4;
        if (self.literal_count > 286 or self.distance_count > 30) return self.fail("invalid dynamic block code counts");
        @memset(&self.code_length_lengths, 0);
        self.lengths_read = 0;
        self.state = .code_length_codes;
        return true;
    }

    fn codeLengthCodes(self: *Inflate, cursor: *Cursor) Error!bool {
        const order = [19]u8{ 16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15 };
        while (self.lengths_read < self.code_length_count) {
            if (!self.need(cursor, 3)) return false;
            self.code_length_lengths[order[self.lengths_read]] = @intCast(self.take(3));
            self.lengths_read += 1;
        }
        self.code_length_code.build(&self.code_length_lengths) catch return self.fail("invalid code length code");
        self.lengths_read = 0;
        self.state = .code_lengths;
        return true;
    }

    fn codeLengths(self: *Inflate, cursor: *Cursor) Error!bool {
        const total = self.literal_count + self.distance_count;
        while (self.lengths_read < total) {
            self.refill(cursor);
            const symbol = self.code_length_code.decode(self.bits, self.bit_count) catch return self.fail("invalid code length symbol");
            const found = symbol orelse return false;
            const extra: u32 = switch (found.symbol) {
                16 => 2,
                17 => 3,
                18 => 7,
                else => 0,
            };
            if (self.bit_count < found.length + extra) return false;
            self.drop(found.length);
            const repeat_extra: u32 = @intCast(self.take(extra));
            var value: u8 = 0;
            var repeat: u32 = 1;
            switch (found.symbol) {
                0...15 => value = @intCast(found.symbol),
                16 => {
                    if (self.lengths_read == 0) return self.fail("length repeat with no previous length");
                    value = self.lengths[self.lengths_read - 1];
                    repeat = 3 + repeat_extra;
                },
                17 => repeat = 3 + repeat_extra,
                18 => repeat = 11 + repeat_extra,
                else => return self.fail("invalid code length symbol"),
            }
            if (self.lengths_read + repeat > total) return self.fail("code lengths run past their count");
            @memset(self.lengths[self.lengths_read .. self.lengths_read + repeat], value);
            self.lengths_read += repeat;
        }
        if (self.lengths[256] == 0) return self.fail("dynamic block has no end-of-block code");
        self.literal_code.build(self.lengths[0..self.literal_count]) catch return self.fail("invalid literal/length code");
        self.distance_code.build(self.lengths[self.literal_count..total]) catch return self.fail("invalid distance code");
        self.state = .block_data;
        return true;
    }

    /// Decodes one literal, end of block, or whole length/distance pair.
    fn blockData(self: *Inflate, cursor: *Cursor) Error!bool {
        self.refill(cursor);
        const literal = self.literal_code.decode(self.bits, self.bit_count) catch return self.fail("invalid literal/length code");
        const found = literal orelse return false;
        if (found.symbol < 256) {
            if (cursor.roomLeft() == 0) return false;
            self.drop(found.length);
            self.emit(cursor, @intCast(found.symbol));
            return true;
        }
        if (found.symbol == 256) {
            self.drop(found.length);
            self.state = .block_header;
            return true;
        }
        if (found.symbol > 285) return self.fail("invalid length symbol");
        const length_index = found.symbol - 257;
        const length_extra = length_extra_bits[length_index];
        var used = found.length + length_extra;
        if (self.bit_count < used) return false;
        const length = length_base[length_index] + @as(u32, @intCast((self.bits >> @intCast(found.length)) & ((@as(u64, 1) << @intCast(length_extra)) - 1)));
        const distance_found = self.distance_code.decode(self.bits >> @intCast(used), self.bit_count - used) catch return self.fail("invalid distance code");
        const distance_symbol = distance_found orelse return false;
        if (distance_symbol.symbol > 29) return self.fail("invalid distance symbol");
        const distance_extra = distance_extra_bits[distance_symbol.symbol];
        if (self.bit_count < used + distance_symbol.length + distance_extra) return false;
        used += distance_symbol.length;
        const distance = distance_base[distance_symbol.symbol] + @as(u32, @intCast((self.bits >> @intCast(used)) & ((@as(u64, 1) << @intCast(distance_extra)) - 1)));
        used += distance_extra;
        if (distance > self.member_out or distance > window_bytes) return self.fail("match distance reaches before the start of the data");
        self.drop(used);
        self.copy_remaining = length;
        self.copy_distance = distance;
        self.state = .match_copy;
        return true;
    }

    fn matchCopy(self: *Inflate, cursor: *Cursor) Error!bool {
        if (self.copy_remaining == 0) {
            self.state = .block_data;
            return true;
        }
        if (cursor.roomLeft() == 0) return false;
        const count = @min(self.copy_remaining, @as(u32, @intCast(cursor.roomLeft())));
        const out = cursor.output[cursor.produced..][0..count];
        // Byte by byte: a match may overlap the bytes it is copying (distance < length).
        for (out) |*value| {
            value.* = self.window[(self.window_position -% self.copy_distance) & window_mask];
            self.window[self.window_position] = value.*;
            self.window_position = (self.window_position + 1) & window_mask;
        }
        cursor.produced += count;
        self.member_out += count;
        self.total_out += count;
        self.copy_remaining -= count;
        return true;
    }

    // ------------------------------------------------------------ output

    fn emit(self: *Inflate, cursor: *Cursor, value: u8) void {
        self.emitSlice(cursor, &.{value});
    }

    fn emitSlice(self: *Inflate, cursor: *Cursor, bytes: []const u8) void {
        assert(bytes.len <= cursor.roomLeft());
        @memcpy(cursor.output[cursor.produced..][0..bytes.len], bytes);
        cursor.produced += bytes.len;
        for (bytes) |value| {
            self.window[self.window_position] = value;
            self.window_position = (self.window_position + 1) & window_mask;
        }
        self.member_out += bytes.len;
        self.total_out += bytes.len;
    }

    /// Checksums the output written since the last call, in one pass.
    fn hashOutput(self: *Inflate, cursor: *Cursor) void {
        const bytes = cursor.output[cursor.hashed..cursor.produced];
        switch (self.container) {
            .gzip => self.crc.update(bytes),
            .zlib => self.adler.update(bytes),
            .raw, .zlib_or_raw => {},
        }
        cursor.hashed = cursor.produced;
    }
};

const Cursor = struct {
    input: []const u8,
    output: []u8,
    consumed: usize = 0,
    produced: usize = 0,
    /// Output up to here is in the running checksum.
    hashed: usize = 0,

    fn roomLeft(self: *const Cursor) usize {
        return self.output.len - self.produced;
    }
};

const length_base = [29]u32{ 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
const length_extra_bits = [29]u32{ 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
const distance_base = [30]u32{ 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577 };
const distance_extra_bits = [30]u32{ 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

fn buildFixedCodes(literal: *Huffman(288), distance: *Huffman(32)) void {
    var lengths: [288]u8 = undefined;
    @memset(lengths[0..144], 8);
    @memset(lengths[144..256], 9);
    @memset(lengths[256..280], 7);
    @memset(lengths[280..288], 8);
    literal.build(&lengths) catch unreachable;
    const distance_lengths = [_]u8{5} ** 30;
    distance.build(&distance_lengths) catch unreachable;
}

pub const Symbol = struct { symbol: u16, length: u32 };

/// A canonical Huffman code: a 9-bit lookup table for short codes, and the
/// canonical walk (one bit at a time, 15 at most) for longer ones.
fn Huffman(comptime symbols_max: usize) type {
    return struct {
        const Self = @This();
        counts: [16]u16 = [_]u16{0} ** 16,
        symbols: [symbols_max]u16 = undefined,
        /// `symbol << 4 | length`, or 0 when the code is longer than `fast_bits`.
        fast: [1 << fast_bits]u16 = undefined,

        fn build(self: *Self, lengths: []const u8) error{Oversubscribed}!void {
            assert(lengths.len <= symbols_max);
            @memset(&self.counts, 0);
            for (lengths) |length| self.counts[length] += 1;
            self.counts[0] = 0;
            // Over-subscription check (RFC 1951 3.2.2); incomplete codes are
            // allowed and fail only if an unassigned code is read.
            var left: i32 = 1;
            for (self.counts[1..]) |count| {
                left = left * 2 - count;
                if (left < 0) return error.Oversubscribed;
            }
            var offsets: [16]u16 = undefined;
            offsets[1] = 0;
            for (1..15) |length| offsets[length + 1] = offsets[length] + self.counts[length];
            for (lengths, 0..) |length, symbol| {
                if (length == 0) continue;
                self.symbols[offsets[length]] = @intCast(symbol);
                offsets[length] += 1;
            }
            self.buildFast(lengths);
        }

        fn buildFast(self: *Self, lengths: []const u8) void {
            @memset(&self.fast, 0);
            // First canonical code of each length (RFC 1951 3.2.2).
            var next_code: [16]u32 = undefined;
            var code: u32 = 0;
            for (1..16) |length| {
                next_code[length] = code;
                code = (code + self.counts[length]) << 1;
            }
            for (lengths, 0..) |length, symbol| {
                if (length == 0) continue;
                const assigned = next_code[length];
                next_code[length] += 1;
                if (length > fast_bits) continue;
                const reversed = @bitReverse(@as(u16, @intCast(assigned))) >> @intCast(16 - @as(u32, length));
                var index: u32 = reversed;
                while (index < (1 << fast_bits)) : (index += @as(u32, 1) << @intCast(length)) {
                    self.fast[index] = @intCast((symbol << 4) | length);
                }
            }
        }

        /// The symbol at the front of `bits` (LSB first), null when more bits
        /// are needed, an error for a code that is not in the table.
        fn decode(self: *const Self, bits: u64, bit_count: u32) error{InvalidCode}!?Symbol {
            const entry = self.fast[@intCast(bits & ((1 << fast_bits) - 1))];
            if (entry != 0) {
                const length: u32 = entry & 0xf;
                if (length <= bit_count) return .{ .symbol = entry >> 4, .length = length };
                return null;
            }
            var code: i32 = 0;
            var first: i32 = 0;
            var index: i32 = 0;
            var length: u32 = 1;
            while (length <= 15) : (length += 1) {
                if (length > bit_count) return null;
                code |= @intCast((bits >> @intCast(length - 1)) & 1);
                const count: i32 = self.counts[length];
                if (code - first < count) return .{ .symbol = self.symbols[@intCast(index + code - first)], .length = length };
                index += count;
                first += count;
                first <<= 1;
                code <<= 1;
            }
            return error.InvalidCode;
        }
    };
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

/// Compresses with Zig's std (the reference encoder) for the tests.
fn stdCompress(comptime container: @Type(.enum_literal), data: []const u8, out: []u8, level: std.compress.flate.deflate.Level) ![]const u8 {
    var input = std.io.fixedBufferStream(data);
    var output = std.io.fixedBufferStream(out);
    try std.compress.flate.deflate.compress(container, input.reader(), output.writer(), .{ .level = level });
    return output.getWritten();
}

fn decodeAll(inflate: *Inflate, compressed: []const u8, chunk_len: usize, out: []u8) ![]const u8 {
    var produced: usize = 0;
    var offset: usize = 0;
    while (true) {
        const end = @min(offset + chunk_len, compressed.len);
        var input = compressed[offset..end];
        while (true) {
            const progress = try inflate.decode(input, out[produced..]);
            produced += progress.produced;
            input = input[progress.consumed..];
            if (input.len == 0 and progress.produced == 0) break;
        }
        offset = end;
        if (offset == compressed.len) break;
    }
    try inflate.finish();
    return out[0..produced];
}

fn sampleText(out: []u8) []const u8 {
    var prng = std.Random.DefaultPrng.init(42);
    const random = prng.random();
    const words = [_][]const u8{ "card ", "4111 1111 1111 1111 ", "the ", "ssn 123-45-6789 ", "{\"a\": [1, 2]} ", "\n" };
    var len: usize = 0;
    while (len + 32 < out.len) {
        if (random.int(u8) < 40) {
            out[len] = random.int(u8);
            len += 1;
            continue;
        }
        const word = words[random.uintLessThan(usize, words.len)];
        @memcpy(out[len .. len + word.len], word);
        len += word.len;
    }
    return out[0..len];
}

test "gzip, zlib and raw streams from std decode at every chunk size" {
    var text_buffer: [40_000]u8 = undefined;
    const text = sampleText(&text_buffer);
    var compressed: [60_000]u8 = undefined;
    var out: [50_000]u8 = undefined;
    const containers = .{
        .{ .gzip, Container.gzip },
        .{ .zlib, Container.zlib },
        .{ .raw, Container.raw },
        .{ .zlib, Container.zlib_or_raw },
        .{ .raw, Container.zlib_or_raw },
    };
    inline for (containers) |case| {
        for ([_]std.compress.flate.deflate.Level{ .fast, .best }) |level| {
            const data = try stdCompress(case[0], text, &compressed, level);
            for ([_]usize{ 1, 7, 1000, data.len }) |chunk_len| {
                var inflate = Inflate.init(case[1], .{});
                const decoded = try decodeAll(&inflate, data, chunk_len, &out);
                try testing.expectEqualSlices(u8, text, decoded);
            }
        }
    }
}

test "stored and fixed-Huffman blocks, and concatenated gzip members" {
    var compressed: [256]u8 = undefined;
    var out: [256]u8 = undefined;
    var input = std.io.fixedBufferStream("stored block bytes");
    var output = std.io.fixedBufferStream(&compressed);
    try std.compress.flate.deflate.store.compress(.gzip, input.reader(), output.writer());
    const first_len = output.getWritten().len;
    var second_input = std.io.fixedBufferStream(" and a huffman-only member");
    try std.compress.flate.deflate.huffman.compress(.gzip, second_input.reader(), output.writer());
    var inflate = Inflate.init(.gzip, .{});
    const decoded = try decodeAll(&inflate, output.getWritten(), 5, &out);
    try testing.expectEqualStrings("stored block bytes and a huffman-only member", decoded);
    try testing.expectEqual(@as(u32, 2), inflate.members);
    try testing.expect(first_len > 0);
}

test "gzip headers with extra field, name, comment and header CRC" {
    const text = "payload with a gzip header that carries every optional field";
    var raw_buffer: [256]u8 = undefined;
    const raw = try stdCompress(.raw, text, &raw_buffer, .default);
    var stream: [512]u8 = undefined;
    var len: usize = 0;
    const header = [_]u8{ 0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 3 } ++ [_]u8{ 3, 0, 'a', 'b', 'c' } ++ "name.json\x00".* ++ "a comment\x00".* ++ [_]u8{ 0xaa, 0xbb };
    for ([_][]const u8{ &header, raw }) |part| {
        @memcpy(stream[len .. len + part.len], part);
        len += part.len;
    }
    std.mem.writeInt(u32, stream[len..][0..4], std.hash.Crc32.hash(text), .little);
    std.mem.writeInt(u32, stream[len + 4 ..][0..4], text.len, .little);
    len += 8;
    var out: [256]u8 = undefined;
    for ([_]usize{ 1, 3, len }) |chunk_len| {
        var inflate = Inflate.init(.gzip, .{});
        try testing.expectEqualStrings(text, try decodeAll(&inflate, stream[0..len], chunk_len, &out));
    }
}

test "a small output buffer resumes inside matches" {
    const text = "abcabcabcabcabcabcabcabcabcabcabcabcabcabc" ** 50;
    var compressed: [512]u8 = undefined;
    const data = try stdCompress(.gzip, text, &compressed, .best);
    var inflate = Inflate.init(.gzip, .{});
    var out: [text.len]u8 = undefined;
    var produced: usize = 0;
    var input: []const u8 = data;
    var turns: usize = 0;
    while (turns < 10_000) : (turns += 1) {
        const progress = try inflate.decode(input, out[produced..@min(produced + 3, out.len)]);
        produced += progress.produced;
        input = input[progress.consumed..];
        if (inflate.atEnd()) break;
    }
    try inflate.finish();
    try testing.expectEqualStrings(text, out[0..produced]);
}

test "corrupt streams are refused: CRC, truncation, bad header, trailing data" {
    var compressed: [256]u8 = undefined;
    var out: [256]u8 = undefined;
    const data = try stdCompress(.gzip, "hello hello hello", &compressed, .default);
    var copy: [256]u8 = undefined;
    @memcpy(copy[0..data.len], data);
    copy[data.len - 6] ^= 1; // inside the CRC
    var bad_crc = Inflate.init(.gzip, .{});
    try testing.expectError(error.InvalidData, decodeAll(&bad_crc, copy[0..data.len], 64, &out));
    try testing.expectEqualStrings("gzip CRC-32 does not match the data", bad_crc.diagnostic.reason);
    var truncated = Inflate.init(.gzip, .{});
    try testing.expectError(error.Truncated, decodeAll(&truncated, data[0 .. data.len - 3], 64, &out));
    var not_gzip = Inflate.init(.gzip, .{});
    try testing.expectError(error.InvalidData, decodeAll(&not_gzip, "plain text, not gzip", 64, &out));
    const zlib_data = try stdCompress(.zlib, "hello", &compressed, .default);
    @memcpy(copy[0..zlib_data.len], zlib_data);
    copy[zlib_data.len] = 'x';
    var trailing = Inflate.init(.zlib, .{});
    try testing.expectError(error.InvalidData, decodeAll(&trailing, copy[0 .. zlib_data.len + 1], 64, &out));
}

test "a gzip bomb is refused by ratio, and by absolute size" {
    // 8 MiB of zeros compresses to about 8 KiB: a ratio near 1000.
    var compressed: [64 * 1024]u8 = undefined;
    var output = std.io.fixedBufferStream(&compressed);
    var compressor = try std.compress.flate.deflate.compressor(.gzip, output.writer(), .{ .level = .fast });
    const zeros = [_]u8{0} ** 4096;
    var written: usize = 0;
    while (written < 8 * 1024 * 1024) : (written += zeros.len) _ = try compressor.write(&zeros);
    try compressor.finish();
    const bomb = output.getWritten();
    try testing.expect(bomb.len < 64 * 1024);

    var out: [16 * 1024]u8 = undefined;
    var by_ratio = Inflate.init(.gzip, .{ .ratio_max = 100, .output_bytes_max = 1 << 40 });
    try testing.expectError(error.RatioTooHigh, drain(&by_ratio, bomb, &out));
    try testing.expect(by_ratio.total_out < 2 * 1024 * 1024 + out.len);
    var by_size = Inflate.init(.gzip, .{ .ratio_max = 1 << 30, .output_bytes_max = 1024 * 1024 });
    try testing.expectError(error.OutputTooLarge, drain(&by_size, bomb, &out));
    try testing.expect(by_size.total_out <= 1024 * 1024 + 1);
}

/// Decodes everything, discarding the output.
fn drain(inflate: *Inflate, compressed: []const u8, out: []u8) !void {
    var input = compressed;
    var turns: usize = 0;
    while (turns < 1_000_000) : (turns += 1) {
        const progress = try inflate.decode(input, out);
        input = input[progress.consumed..];
        if (inflate.atEnd() and input.len == 0) return;
        if (progress.consumed == 0 and progress.produced == 0) return inflate.finish();
    }
}

test "huffman tables: over-subscribed codes are refused" {
    var code = Huffman(4){};
    try testing.expectError(error.Oversubscribed, code.build(&.{ 1, 1, 1 }));
    try code.build(&.{ 1, 2, 2 });
    // Codes: 0 -> symbol 0, 10 -> symbol 1, 11 -> symbol 2 (bits read LSB first).
    try testing.expectEqual(@as(u16, 1), (try code.decode(0b01, 2)).?.symbol);
    try testing.expectEqual(@as(u16, 2), (try code.decode(0b11, 2)).?.symbol);
    try testing.expect((try code.decode(0b1, 1)) == null);
}

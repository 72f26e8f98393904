//! Re-encodes a masked body as gzip, streaming: every `write` passes
//! uncompressed bytes to Zig's std deflate compressor, whose output goes
//! straight to the caller's output (no intermediate buffer); `finish` ends the
//! stream with the CRC-32 and length trailer.
//!
//! Two strategies, chosen by the policy: `lz77` (std level "fast": LZ77 and
//! Huffman, about 400 KiB of state per stream) and `huffman` (Huffman only:
//! larger output, about 70 KiB of state). The struct holds a pointer to itself
//! once started, so it is started in place and never moved while in use.

const std = @import("std");
const assert = std.debug.assert;
const flate = std.compress.flate;

pub const Strategy = enum { lz77, huffman };

/// Uncompressed bytes handed to the compressor per call, which bounds how much
/// it can emit in one burst.
const write_slice_bytes = 16 * 1024;

/// RFC 1952 member header: deflate, no flags, no time, OS unknown-Unix (as std writes it).
const gzip_header = [10]u8{ 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03 };

/// Where compressed bytes go during one call: the caller's output, type-erased.
const Forward = struct {
    context: ?*anyopaque = null,
    write_fn: ?*const fn (*anyopaque, []const u8) anyerror!void = null,
    bytes_out: u64 = 0,

    fn write(self: *Forward, bytes: []const u8) anyerror!usize {
        try self.write_fn.?(self.context.?, bytes);
        self.bytes_out += bytes.len;
        return bytes.len;
    }
};

const ForwardWriter = std.io.GenericWriter(*Forward, anyerror, Forward.write);

pub fn GzipEncoder(comptime strategy: Strategy) type {
    const Compressor = switch (strategy) {
        .lz77 => flate.deflate.Compressor(.gzip, ForwardWriter),
        .huffman => flate.deflate.huffman.Compressor(.gzip, ForwardWriter),
    };
    return struct {
        const Self = @This();

        forward: Forward = .{},
        compressor: Compressor = undefined,
        started: bool = false,
        finished: bool = false,
        bytes_in: u64 = 0,

        /// Starts the stream in place; the gzip header goes to `out.write`.
        pub fn start(self: *Self, out: anytype) !void {
            assert(!self.started);
            self.bind(out);
            defer self.unbind();
            const writer = ForwardWriter{ .context = &self.forward };
            initInPlace(&self.compressor, writer);
            try writer.writeAll(&gzip_header);
            self.started = true;
        }

        /// What std's `Compressor.init` does, field by field: `init` builds the
        /// whole struct as a local and returns it, which needs 77 KiB (Huffman)
        /// or 400 KiB (LZ77) of stack, more than a wasm module's 384 KiB. The
        /// test below checks the output matches std's own init byte for byte.
        fn initInPlace(compressor: *Compressor, writer: ForwardWriter) void {
            const BlockWriter = @FieldType(Compressor, "block_writer");
            compressor.wrt = writer;
            compressor.block_writer = BlockWriter.init(writer);
            compressor.hasher = .{};
            switch (strategy) {
                .lz77 => {
                    // Lookup's fields are hash chains that start all zero.
                    @memset(std.mem.asBytes(&compressor.lookup), 0);
                    compressor.win.wp = 0;
                    compressor.win.rp = 0;
                    compressor.win.fp = 0;
                    compressor.tokens.pos = 0;
                    compressor.level = @FieldType(Compressor, "level").get(.fast);
                    compressor.prev_match = null;
                    compressor.prev_literal = null;
                },
                .huffman => compressor.wp = 0,
            }
        }

        /// Compresses `bytes`; compressed output goes to `out.write`.
        pub fn write(self: *Self, bytes: []const u8, out: anytype) !void {
            assert(self.started and !self.finished);
            self.bind(out);
            defer self.unbind();
            var rest = bytes;
            while (rest.len > 0) {
                const take = @min(rest.len, write_slice_bytes);
                _ = try self.compressor.write(rest[0..take]);
                rest = rest[take..];
            }
            self.bytes_in += bytes.len;
        }

        /// Ends the stream: last block and trailer go to `out.write`.
        pub fn finish(self: *Self, out: anytype) !void {
            assert(self.started and !self.finished);
            self.bind(out);
            defer self.unbind();
            try self.compressor.finish();
            self.finished = true;
        }

        pub fn bytesOut(self: *const Self) u64 {
            return self.forward.bytes_out;
        }

        fn bind(self: *Self, out: anytype) void {
            const Out = @TypeOf(out);
            const Adapter = struct {
                fn write(context: *anyopaque, bytes: []const u8) anyerror!void {
                    const target: Out = @ptrCast(@alignCast(context));
                    try target.write(bytes);
                }
            };
            self.forward.context = @ptrCast(out);
            self.forward.write_fn = Adapter.write;
        }

        fn unbind(self: *Self) void {
            self.forward.context = null;
            self.forward.write_fn = null;
        }
    };
}

test "in-place start writes exactly what std's own compressor writes" {
    const testing = std.testing;
    var text: [100_000]u8 = undefined;
    var prng = std.Random.DefaultPrng.init(7);
    for (&text, 0..) |*byte, index| byte.* = if (index % 7 == 0) prng.random().int(u8) else "card 4111 1111 "[index % 15];
    inline for (.{ Strategy.lz77, Strategy.huffman }) |strategy| {
        const Encoder = GzipEncoder(strategy);
        const encoder = try testing.allocator.create(Encoder);
        defer testing.allocator.destroy(encoder);
        encoder.* = .{};
        var ours = ListOutput{ .list = std.ArrayList(u8).init(testing.allocator) };
        defer ours.list.deinit();
        try encoder.start(&ours);
        try encoder.write(text[0..33_333], &ours);
        try encoder.write(text[33_333..], &ours);
        try encoder.finish(&ours);

        var reference = std.ArrayList(u8).init(testing.allocator);
        defer reference.deinit();
        var input = std.io.fixedBufferStream(&text);
        switch (strategy) {
            .lz77 => try flate.deflate.compress(.gzip, input.reader(), reference.writer(), .{ .level = .fast }),
            .huffman => try flate.deflate.huffman.compress(.gzip, input.reader(), reference.writer()),
        }
        try testing.expectEqualSlices(u8, reference.items, ours.list.items);
        try testing.expectEqual(@as(u64, ours.list.items.len), encoder.bytesOut());
    }
}

const ListOutput = struct {
    list: std.ArrayList(u8),

    pub fn write(self: *ListOutput, bytes: []const u8) !void {
        try self.list.appendSlice(bytes);
    }
};

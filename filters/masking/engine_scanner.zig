//! The scanning engine (filters/engine) behind the maskers' scanner interface
//! (`scan(value, from, out)`, see stream_masker.zig).
//!
//! Each value piece is scanned on its own, as one final chunk, so findings are
//! in the value's coordinates and a value split across body chunks is scanned
//! whole (the walker joined it). The piece is preceded by its key name and
//! ": ", so a detector's context words see the key as the word before the
//! value: a nine-digit value under "ssn" is found by a pattern that requires
//! SSN context, the same digits under "id" are not. A match that starts in
//! that prefix is cut to the value; one wholly inside it is not reported.
//!
//! A piece whose text the prefilter (prefilter.zig) rules out for every scan
//! automaton (too short, or without a byte every match needs) holds no finding
//! and is not handed to the engine; otherwise the engine steps only the automata
//! not ruled out (`Scanner.startWhole` sets up just those). For an automaton no
//! match of which can span the separator, the value alone decides, so the
//! separator's ':' does not wake the IP/date automaton for every keyed value.
//!
//! Findings are collected whole per piece and sorted by start (the engine
//! reports them automaton by automaton). A piece with more than
//! `piece_findings_max` findings keeps the first ones and counts the piece in
//! `overflowed`, for the policy to treat like any other incomplete scan.

const std = @import("std");
const assert = std.debug.assert;
const engine = @import("engine");
const walkers = @import("walkers");
const walker = walkers.walker;
const Finding = @import("stream_masker.zig").Finding;
const prefilter_module = @import("prefilter.zig");
const Prefilter = prefilter_module.Prefilter;

pub const piece_findings_max: u32 = 256;
const separator = prefilter_module.key_separator;

pub const EngineScanner = struct {
    tables: *const engine.Tables,
    engine_scanner: *engine.Scanner,
    found: [piece_findings_max]engine.Finding = undefined,
    found_len: u32 = 0,
    prefix_len: u32 = 0,
    /// The key, separator and piece as scanned.
    text: [walker.context_key_bytes_max + separator.len + walker.piece_bytes_max]u8 = undefined,
    /// Pieces with more findings than `piece_findings_max`.
    overflowed: u32 = 0,
    /// Built for `tables` by the owner; without one every piece is scanned.
    prefilter: ?*const Prefilter = null,

    pub fn init(tables: *const engine.Tables, engine_scanner: *engine.Scanner) EngineScanner {
        return .{ .tables = tables, .engine_scanner = engine_scanner };
    }

    /// Findings of `value` starting at or after `from`, sorted by start; a new
    /// value (from 0) is scanned, later batches are served from that scan.
    pub fn scan(self: *EngineScanner, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
        assert(value.bytes.len <= walker.piece_bytes_max);
        if (from == 0) self.scanPiece(value);
        var count: usize = 0;
        for (self.found[0..self.found_len]) |found| {
            if (count == out.len) break;
            const end: u32 = @intCast(found.end - self.prefix_len);
            const start: u32 = @intCast(@max(found.start, self.prefix_len) - self.prefix_len);
            if (start < from) continue;
            out[count] = .{ .detector = found.detector, .start = start, .end = end, .score = found.score };
            count += 1;
        }
        return out[0..count];
    }

    fn scanPiece(self: *EngineScanner, value: *const walker.Value) void {
        const key = value.context_key;
        assert(key.len <= walker.context_key_bytes_max);
        var len: usize = 0;
        if (key.len > 0) {
            for ([_][]const u8{ key, separator }) |part| {
                @memcpy(self.text[len .. len + part.len], part);
                len += part.len;
            }
        }
        self.prefix_len = @intCast(len);
        self.found_len = 0;
        var candidates: u64 = std.math.maxInt(u64);
        if (self.prefilter) |prefilter| {
            candidates = prefilter.possibleKeyed(self.text[0..len], value.bytes);
            if (candidates == 0) return;
        }
        @memcpy(self.text[len .. len + value.bytes.len], value.bytes);
        len += value.bytes.len;

        self.engine_scanner.startWhole(self.tables, self.text[0..len], candidates);
        var kept: u32 = 0;
        // Each batch fills the room left or ends the scan; when the room is gone
        // the rest are drained into a scratch batch and counted, not kept.
        var scratch: [32]engine.Finding = undefined;
        while (true) {
            const room = self.found[kept..];
            const batch = self.engine_scanner.collect(if (room.len > 0) room else &scratch);
            if (room.len > 0) {
                kept += @intCast(batch.count);
            } else if (batch.count > 0) {
                self.overflowed += 1;
            }
            if (batch.done) break;
        }
        // Keep only findings that reach into the value.
        var index: u32 = 0;
        while (index < kept) : (index += 1) {
            const found = self.found[index];
            if (found.end <= self.prefix_len) continue;
            self.found[self.found_len] = found;
            self.found_len += 1;
        }
        std.mem.sort(engine.Finding, self.found[0..self.found_len], {}, startsBefore);
    }
};

fn startsBefore(_: void, a: engine.Finding, b: engine.Finding) bool {
    if (a.start != b.start) return a.start < b.start;
    return a.end > b.end;
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const stream_masker = @import("stream_masker.zig");
const actions = @import("actions.zig");
const FixedOutput = @import("rewriter.zig").FixedOutput;

/// The engine's fixture tables (filters/engine/testdata, compiled by the real
/// compiler): detector 0 is credit-card, 1 email-address, 2 us-ssn.
const fixture = @import("engine_fixture");

/// Masks every detector: cards keep their last four, the rest is redacted.
const FixturePolicy = struct {
    pub fn actionFor(_: *const FixturePolicy, detector: u16) ?actions.Action {
        return switch (detector) {
            0 => .{ .partial = .{} },
            else => .{ .redact = .{ .placeholder = "[REDACTED]" } },
        };
    }
};

fn maskWithEngine(body: []const u8, out: *FixedOutput, filtered: bool) !stream_masker.Stats {
    const tables = try testing.allocator.create(engine.Tables);
    defer testing.allocator.destroy(tables);
    var where: u32 = 0;
    try tables.load(&fixture.tables, &where);
    const engine_scanner = try testing.allocator.create(engine.Scanner);
    defer testing.allocator.destroy(engine_scanner);
    const scanner = try testing.allocator.create(EngineScanner);
    defer testing.allocator.destroy(scanner);
    const prefilter = try testing.allocator.create(Prefilter);
    defer testing.allocator.destroy(prefilter);
    try prefilter.init(tables, testing.allocator);
    scanner.* = EngineScanner.init(tables, engine_scanner);
    if (filtered) scanner.prefilter = prefilter;
    const Masker = stream_masker.StreamMasker(walkers.json.JsonWalker);
    const masker = try testing.allocator.create(Masker);
    defer testing.allocator.destroy(masker);
    masker.* = Masker.init(walkers.json.JsonWalker.init(.{}));
    const policy = FixturePolicy{};
    // Two chunks, cut inside the card number.
    const cut = std.mem.indexOf(u8, body, "1111").? + 2;
    for ([_][]const u8{ body[0..cut], body[cut..] }) |chunk| {
        if (try masker.feed(chunk, scanner, &policy, out) == .unchanged) try out.write(chunk);
    }
    _ = try masker.finish(scanner, &policy, out);
    return masker.stats;
}

test "the engine finds and the masker masks, with key names as context" {
    const body =
        \\{"card": "4111 1111 1111 1111", "ssn": "536221234", "id": "536221234",
        \\ "contact": {"email": "jane.doe@example.com"}, "note": "SSN: 536-22-1234"}
    ;
    const expected =
        \\{"card": "**** **** **** 1111", "ssn": "[REDACTED]", "id": "536221234",
        \\ "contact": {"email": "[REDACTED]"}, "note": "SSN: [REDACTED]"}
    ;
    // The prefilter only spares the engine pieces without findings.
    for ([_]bool{ false, true }) |filtered| {
        var buffer: [1024]u8 = undefined;
        var out = FixedOutput{ .buffer = &buffer };
        const stats = try maskWithEngine(body, &out, filtered);
        try testing.expectEqualStrings(expected, out.written());
        try testing.expectEqual(@as(u32, 4), stats.masked);
    }
}

//! The engine against the reference scanner's findings on a small fixture compiled
//! by the real compiler (tests/engine/fixture.py writes testdata/ and checks it is
//! current), across chunkings and output sizes, and refusals of damaged tables.

const std = @import("std");
const testing = std.testing;
const tables_module = @import("tables.zig");
const scanner_module = @import("scanner.zig");

const Tables = tables_module.Tables;
const Scanner = scanner_module.Scanner;
const Finding = scanner_module.Finding;

const fixture_tables align(8) = @embedFile("testdata/small.mvmt").*;
const fixture_text = @embedFile("testdata/small_text.txt");
const fixture_expected = @embedFile("testdata/small_expected.txt");

const findings_max = 256;

fn loadFixture(tables: *Tables) !void {
    var where: u32 = 0;
    try tables.load(&fixture_tables, &where);
}

fn expectedFindings(out: []Finding) !usize {
    var count: usize = 0;
    var lines = std.mem.tokenizeScalar(u8, fixture_expected, '\n');
    while (lines.next()) |line| : (count += 1) {
        var fields = std.mem.tokenizeScalar(u8, line, ' ');
        out[count] = .{
            .detector = try std.fmt.parseInt(u16, fields.next().?, 10),
            .pattern = try std.fmt.parseInt(u16, fields.next().?, 10),
            .score = try std.fmt.parseInt(u16, fields.next().?, 10),
            .start = try std.fmt.parseInt(u64, fields.next().?, 10),
            .end = try std.fmt.parseInt(u64, fields.next().?, 10),
        };
    }
    return count;
}

fn lessThan(_: void, a: Finding, b: Finding) bool {
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end < b.end;
    return a.pattern < b.pattern;
}

/// Scans `text` cut at `cuts`, collecting `batch` findings at a time; sorted like the fixture.
fn scanChunked(scanner: *Scanner, tables: *const Tables, text: []const u8, cuts: []const usize, batch: usize, out: []Finding) usize {
    scanner.init(tables);
    var count: usize = 0;
    var previous: usize = 0;
    for (0..cuts.len + 1) |index| {
        const cut = if (index < cuts.len) cuts[index] else text.len;
        scanner.feed(text[previous..cut], index == cuts.len);
        previous = cut;
        while (true) {
            const result = scanner.collect(out[count..@min(out.len, count + batch)]);
            count += result.count;
            if (result.done) break;
        }
    }
    std.mem.sort(Finding, out[0..count], {}, lessThan);
    return count;
}

var test_tables: Tables = .{};
var test_scanner: Scanner = undefined;

test "one pass finds what the reference scanner finds" {
    try loadFixture(&test_tables);
    var expected: [findings_max]Finding = undefined;
    const expected_count = try expectedFindings(&expected);
    try testing.expect(expected_count > 10);
    var found: [findings_max]Finding = undefined;
    const count = scanChunked(&test_scanner, &test_tables, fixture_text, &.{}, findings_max, &found);
    try testing.expectEqualSlices(Finding, expected[0..expected_count], found[0..count]);
}

test "every two-chunk split and a one-finding output find the same" {
    try loadFixture(&test_tables);
    var expected: [findings_max]Finding = undefined;
    const expected_count = try expectedFindings(&expected);
    var found: [findings_max]Finding = undefined;
    for (0..fixture_text.len + 1) |cut| {
        const count = scanChunked(&test_scanner, &test_tables, fixture_text, &.{cut}, 1 + cut % 3, &found);
        testing.expectEqualSlices(Finding, expected[0..expected_count], found[0..count]) catch |err| {
            std.debug.print("cut at {d}\n", .{cut});
            return err;
        };
    }
}

test "a byte at a time finds the same" {
    try loadFixture(&test_tables);
    var expected: [findings_max]Finding = undefined;
    const expected_count = try expectedFindings(&expected);
    var cuts: [fixture_text.len]usize = undefined;
    for (&cuts, 0..) |*cut, index| cut.* = index;
    var found: [findings_max]Finding = undefined;
    const count = scanChunked(&test_scanner, &test_tables, fixture_text, &cuts, 1, &found);
    try testing.expectEqualSlices(Finding, expected[0..expected_count], found[0..count]);
}

fn expectRefused(blob: []const u8, expected: tables_module.LoadError) !void {
    var where: u32 = 0;
    try testing.expectError(expected, test_tables.load(blob, &where));
    try testing.expectEqual(@as(u32, 0), test_tables.scan_count);
}

var damaged: [fixture_tables.len]u8 align(8) = undefined;

test "damaged tables are refused before use" {
    damaged = fixture_tables;
    try expectRefused(damaged[0..32], error.TooShort);
    try expectRefused(damaged[0 .. damaged.len - 8], error.SizeMismatch);
    damaged[0] = 'X';
    try expectRefused(&damaged, error.BadMagic);
    damaged = fixture_tables;
    damaged[4] = 9;
    try expectRefused(&damaged, error.UnsupportedVersion);

    // The first automaton's first byte class beyond its class count.
    damaged = fixture_tables;
    const first_automaton = std.mem.readInt(u32, damaged[std.mem.readInt(u32, damaged[40..44], .little)..][0..4], .little);
    damaged[first_automaton + 32] = 0xFF;
    try expectRefused(&damaged, error.AutomatonClass);

    // A transition to a state that does not exist (the dead state's row, entry 0).
    damaged = fixture_tables;
    std.mem.writeInt(u16, damaged[first_automaton + 288 ..][0..2], 0xFFFF, .little);
    try expectRefused(&damaged, error.AutomatonTransition);

    // A pattern whose forward automaton does not exist.
    damaged = fixture_tables;
    const patterns = std.mem.readInt(u32, damaged[48..52], .little);
    std.mem.writeInt(u32, damaged[patterns + 8 ..][0..4], 0xFFFF_FFFF, .little);
    try expectRefused(&damaged, error.BadReference);

    // A validator id this engine does not have.
    damaged = fixture_tables;
    const detectors = std.mem.readInt(u32, damaged[52..56], .little);
    const first_detector = std.mem.readInt(u32, damaged[detectors..][0..4], .little);
    std.mem.writeInt(u16, damaged[first_detector + 16 ..][0..2], 999, .little);
    try expectRefused(&damaged, error.UnknownValidator);

    // History too short for the patterns' reach.
    damaged = fixture_tables;
    std.mem.writeInt(u32, damaged[32..36], 16, .little);
    try expectRefused(&damaged, error.HistoryTooShort);

    try loadFixture(&test_tables);
}

/// Every finding of `text` as one final chunk: set up by `startWhole` or by
/// `init`, `feed` and `keepOnly`, in the order the engine reports them.
fn scanWhole(scanner: *Scanner, tables: *const Tables, text: []const u8, candidates: u64, whole: bool, out: []Finding) usize {
    if (whole) {
        scanner.startWhole(tables, text, candidates);
    } else {
        scanner.init(tables);
        scanner.feed(text, true);
        scanner.keepOnly(candidates);
    }
    var count: usize = 0;
    while (true) {
        const result = scanner.collect(out[count..@min(out.len, count + 2)]);
        count += result.count;
        if (result.done) return count;
    }
}

test "a whole text set up at once finds what init, feed and keepOnly find, in order" {
    try loadFixture(&test_tables);
    const all = scanner_module.lowBits(test_tables.scan_count);
    var expected: [findings_max]Finding = undefined;
    var found: [findings_max]Finding = undefined;
    var seen: usize = 0;
    var lines = std.mem.tokenizeScalar(u8, fixture_text, '\n');
    while (lines.next()) |line| {
        // Every automaton alone, every one left out, and all of them.
        for (0..2 * test_tables.scan_count + 1) |turn| {
            const index: u6 = @intCast(turn % test_tables.scan_count);
            const one = @as(u64, 1) << index;
            const candidates = if (turn == 2 * test_tables.scan_count) all else if (turn < test_tables.scan_count) one else all & ~one;
            const expected_count = scanWhole(&test_scanner, &test_tables, line, candidates, false, &expected);
            const count = scanWhole(&test_scanner, &test_tables, line, candidates, true, &found);
            try testing.expectEqualSlices(Finding, expected[0..expected_count], found[0..count]);
            seen += count;
        }
    }
    try testing.expect(seen > 0);
}

test "a short text given whole, stepped byte by byte, finds what the skipping loops find" {
    try loadFixture(&test_tables);
    var expected: [findings_max]Finding = undefined;
    var found: [findings_max]Finding = undefined;
    var seen: usize = 0;
    var lines = std.mem.tokenizeScalar(u8, fixture_text, '\n');
    while (lines.next()) |line| {
        try testing.expect(line.len <= 256);
        // Cut in two, the text is no longer one whole chunk: the fused and skip loops run.
        const expected_count = scanChunked(&test_scanner, &test_tables, line, &.{line.len / 2}, findings_max, &expected);
        // Whole, one finding per batch: every automaton stops and resumes at each.
        const count = scanChunked(&test_scanner, &test_tables, line, &.{}, 1, &found);
        try testing.expectEqualSlices(Finding, expected[0..expected_count], found[0..count]);
        seen += count;
    }
    try testing.expect(seen > 10);
}

test "a context-only automaton stops at its first event in a short text without its words" {
    try loadFixture(&test_tables);
    // Scan automaton 0 of the fixture holds only generic-api-key, which requires context.
    try testing.expectEqual(@as(u64, 1), test_tables.context_only);
    const all = scanner_module.lowBits(test_tables.scan_count);
    var found: [findings_max]Finding = undefined;
    const key = "q8Zr2Lk9Vx4Pn7Tb1Wc6Hd3J";
    const without = "{\"request_id\": \"" ++ key ++ "\"} and more text";
    try testing.expectEqual(@as(usize, 0), scanWhole(&test_scanner, &test_tables, without, all, true, &found));
    // Stopped where the key's 20th byte raised its first event, not at the end.
    try testing.expect(test_scanner.positions[0] < without.len - " and more text".len);
    const with = "{\"api_key\": \"" ++ key ++ "\"} and more text";
    try testing.expectEqual(@as(usize, 1), scanWhole(&test_scanner, &test_tables, with, all, true, &found));
    try testing.expectEqual(@as(u16, 6), found[0].detector);
    try testing.expectEqual(@as(u64, with.len), test_scanner.positions[0]);
}

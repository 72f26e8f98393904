//! Presidio's scoring of a match, in integer thousandths: a validator that fails
//! drops it and one that passes sets 1000; an exclusion matching the whole value
//! drops it; a context word inside one of the nearby tokens raises the score to
//! min(1000, max(score + boost, floor)); a pattern that requires context is
//! dropped without one. Tokens are maximal runs of ASCII letters, lower-cased; a
//! token cut by the window's edge is not a token of the text.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const tables_module = @import("tables.zig");
const text_module = @import("text.zig");
const matcher = @import("matcher.zig");
const validators = @import("validators.zig");

const Tables = tables_module.Tables;
const Detector = tables_module.Detector;
const Pattern = tables_module.Pattern;
const Text = text_module.Text;
const NeedInput = text_module.NeedInput;

pub const Scratch = struct {
    value: [limits.match_bytes_max]u8 = undefined,
    token: [limits.context_bytes_max]u8 = undefined,
};

/// The score of the match `[start, end)` of `pattern`; 0 drops it.
pub fn score(tables: *const Tables, pattern: *const Pattern, text: *const Text, start: u64, end: u64, scratch: *Scratch) NeedInput!u16 {
    assert(end - start <= pattern.max_length);
    const detector = &tables.detectors[pattern.detector];
    // Without its context such a match is dropped whatever the validator says, and the
    // words before it are already here: look for them first (the validators cost more).
    const context_first = pattern.requiresContext() and detector.words_after == 0;
    if (context_first and !(detector.contextWordCount() != 0 and try supportedBefore(detector, text, start, &scratch.token))) return 0;
    const value = try text.span(start, end, &scratch.value);
    var result: u32 = pattern.score;
    if (detector.validator != 0) {
        if (!validators.run(detector.validator, value, detector.validator_parameter)) return 0;
        result = tables_module.score_scale;
    }
    for (detector.exclusions) |automaton_index| {
        if (matcher.fullMatch(&tables.automata[automaton_index], value)) return 0;
    }
    const supported = context_first or (detector.contextWordCount() != 0 and try contextSupports(detector, text, start, end, &scratch.token));
    if (supported) {
        result = @min(tables_module.score_scale, @max(result + detector.context_boost, detector.context_floor));
    } else if (pattern.requiresContext()) {
        return 0;
    }
    return @intCast(result);
}

/// True when one of `detector`'s context words occurs in `bytes` lower-cased (words are
/// lower case; a token holds a word only if the text does). Sixteen positions at a
/// time: only where the two bytes fold to a word's start (`Detector.word_starts`) is a
/// word compared.
pub fn wordOccurs(detector: *const Detector, bytes: []const u8) bool {
    if (detector.empty_word) return true;
    if (detector.word_start_count > tables_module.word_starts_max) return wordAtAny(detector, bytes);
    var at: usize = 0;
    // Each block reads one byte past its sixteen positions, for the second byte.
    while (at + lanes + 1 <= bytes.len) : (at += lanes) {
        if (blockHasWord(detector, bytes, at, bytes[at..][0 .. lanes + 1], all_positions)) return true;
    }
    // The last (or only) positions, from a copy padded with zeros.
    const left = bytes.len - at;
    assert(left <= lanes);
    var rest = [_]u8{0} ** (lanes + 1);
    @memcpy(rest[0..left], bytes[at..]);
    const positions: u16 = if (left == lanes) all_positions else (@as(u16, 1) << @intCast(left)) - 1;
    return blockHasWord(detector, bytes, at, &rest, positions);
}

const lanes = 16;
const Block = @Vector(lanes, u8);
const all_positions: u16 = 0xFFFF;

/// Whether a context word starts at one of `positions` (bit per position) of the sixteen
/// at `bytes[at..]`, whose bytes and the one after them `window` holds.
fn blockHasWord(detector: *const Detector, bytes: []const u8, at: usize, window: *const [lanes + 1]u8, positions: u16) bool {
    const case_bit: Block = @splat(tables_module.fold_bit);
    const first = @as(Block, window[0..lanes].*) | case_bit;
    const second = @as(Block, window[1..][0..lanes].*) | case_bit;
    var candidates: u16 = 0;
    for (detector.word_starts[0..detector.word_start_count]) |start| {
        const first_equal: u16 = @bitCast(first == @as(Block, @splat(start[0])));
        const second_equal: u16 = if (start[1] == Detector.any_byte) all_positions else @bitCast(second == @as(Block, @splat(start[1])));
        candidates |= first_equal & second_equal;
    }
    candidates &= positions;
    while (candidates != 0) : (candidates &= candidates - 1) {
        if (wordAt(detector, bytes, at + @ctz(candidates))) return true;
    }
    return false;
}

/// Whether a context word starts at some offset of `bytes`, offset by offset.
fn wordAtAny(detector: *const Detector, bytes: []const u8) bool {
    for (0..bytes.len) |at| {
        if (wordAt(detector, bytes, at)) return true;
    }
    return false;
}

/// Whether a context word starts at `bytes[at]`, in any case.
fn wordAt(detector: *const Detector, bytes: []const u8, at: usize) bool {
    assert(at < bytes.len);
    var word: u32 = 0;
    while (word < detector.contextWordCount()) : (word += 1) {
        const needle = detector.contextWord(word);
        if (needle.len > bytes.len - at) continue;
        if (lowerEquals(bytes[at..][0..needle.len], needle)) return true;
    }
    return false;
}

/// Whether `text`, lower-cased, is `word` (a word with an upper-case byte is never).
fn lowerEquals(text: []const u8, word: []const u8) bool {
    assert(text.len == word.len);
    for (text, word) |byte, expected| {
        if (std.ascii.toLower(byte) != expected) return false;
    }
    return true;
}

fn isLetter(byte: u8) bool {
    return (byte >= 'A' and byte <= 'Z') or (byte >= 'a' and byte <= 'z');
}

fn contextSupports(detector: *const Detector, text: *const Text, start: u64, end: u64, token: []u8) NeedInput!bool {
    if (try supportedBefore(detector, text, start, token)) return true;
    return supportedAfter(detector, text, end, token);
}

/// The last `words_before` tokens in the `context_bytes` before the match.
fn supportedBefore(detector: *const Detector, text: *const Text, start: u64, token: []u8) NeedInput!bool {
    const window_start = start -| detector.context_bytes;
    var offset = start;
    var taken: u32 = 0;
    while (taken < detector.words_before) {
        while (offset > window_start and !isLetter(try text.at(offset - 1))) offset -= 1;
        if (offset == window_start) return false;
        const token_end = offset;
        while (offset > window_start and isLetter(try text.at(offset - 1))) offset -= 1;
        const cut = offset == window_start and window_start > 0 and isLetter(try text.at(window_start - 1));
        if (cut) return false; // the first token, so nothing is left to its left
        taken += 1;
        if (try tokenHasWord(detector, text, offset, token_end, token)) return true;
    }
    return false;
}

/// The first `words_after` tokens in the `context_bytes` after the match.
fn supportedAfter(detector: *const Detector, text: *const Text, end: u64, token: []u8) NeedInput!bool {
    if (detector.words_after == 0) return false;
    const limit = end + detector.context_bytes;
    const window_end = if (limit <= text.end()) limit else if (text.final) text.end() else return error.NeedInput;
    var offset = end;
    var taken: u32 = 0;
    while (taken < detector.words_after) {
        while (offset < window_end and !isLetter(try text.at(offset))) offset += 1;
        if (offset == window_end) return false;
        const token_start = offset;
        while (offset < window_end and isLetter(try text.at(offset))) offset += 1;
        const cut = offset == window_end and !(try text.atEnd(offset)) and isLetter(try text.at(offset));
        if (cut) return false; // the last token, so nothing is left to its right
        taken += 1;
        if (try tokenHasWord(detector, text, token_start, offset, token)) return true;
    }
    return false;
}

fn tokenHasWord(detector: *const Detector, text: *const Text, start: u64, end: u64, scratch: []u8) NeedInput!bool {
    const length: usize = @intCast(end - start);
    assert(length <= scratch.len);
    for (scratch[0..length], 0..) |*byte, index| byte.* = try text.at(start + index);
    return wordOccurs(detector, scratch[0..length]);
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

/// A detector with `words` (lower case, as the compiler writes them) and nothing else.
fn detectorWith(comptime words: []const []const u8) Detector {
    const pairs: [2 * words.len]u32 = comptime blk: {
        var offsets: [2 * words.len]u32 = undefined;
        var offset: u32 = 0;
        for (words, 0..) |word, index| {
            offsets[2 * index] = offset;
            offsets[2 * index + 1] = word.len;
            offset += word.len;
        }
        break :blk offsets;
    };
    const strings = comptime blk: {
        var joined: []const u8 = "";
        for (words) |word| joined = joined ++ word;
        break :blk joined[0..joined.len].*;
    };
    var detector: Detector = .{
        .id = "test",
        .entity = "TEST",
        .validator = 0,
        .threshold = 500,
        .validator_parameter = 0,
        .context_boost = 0,
        .context_floor = 0,
        .words_before = 5,
        .words_after = 0,
        .context_bytes = 64,
        .words = &pairs,
        .exclusions = &.{},
        .strings = &strings,
    };
    detector.indexWords();
    return detector;
}

test "context words are found in any case, at any offset, across 16-byte blocks and in the tail" {
    const detector = detectorWith(&.{ "apikey", "token", "auth" });
    try testing.expect(!wordOccurs(&detector, ""));
    try testing.expect(!wordOccurs(&detector, "x-request-id: b8d4ffbf-c56e-54a5-9a4f-1ab10ae99c23"));
    try testing.expect(!wordOccurs(&detector, "toke tokn Auth"[0..13]));
    // Every offset of the word in a 40-byte text, in three cases.
    for ([_][]const u8{ "token", "TOKEN", "ToKeN" }) |word| {
        for (0..40 - word.len + 1) |at| {
            var text = [_]u8{'.'} ** 40;
            @memcpy(text[at..][0..word.len], word);
            try testing.expect(wordOccurs(&detector, &text));
            try testing.expect(!wordOccurs(&detector, text[0 .. at + word.len - 1]));
        }
    }
    // First letters everywhere, no word: every byte is a candidate, none a finding.
    try testing.expect(!wordOccurs(&detector, "tTaAtoKaAtTAUtoKEauTTOKeapikeAUTtoke"));
}

test "more word starts than the room compares every word" {
    const words = .{ "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india" };
    const more = .{ "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec" };
    const detector = detectorWith(&(words ++ more));
    try testing.expect(detector.word_start_count > tables_module.word_starts_max);
    try testing.expect(wordOccurs(&detector, "a long text that ends with QUEBEC"));
    try testing.expect(!wordOccurs(&detector, "a long text that ends with quebe"));
}

test "a one-letter word matches its letter whatever follows" {
    const detector = detectorWith(&.{ "token", "x" });
    try testing.expect(wordOccurs(&detector, "0123456789abcdefghijklmnopqrstuvwX"));
    try testing.expect(wordOccurs(&detector, "0123456X89abcdefghijklmnopqrstuvw"));
    try testing.expect(!wordOccurs(&detector, "0123456789abcdefghijklmnopqrstuvw"));
}

test "an empty context word occurs in every text" {
    const detector = detectorWith(&.{ "key", "" });
    try testing.expect(wordOccurs(&detector, "nothing here"));
}

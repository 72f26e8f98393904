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

/// True when one of `detector`'s context words occurs in `bytes`, in any case: a
/// token can hold a word only then (words are lower case; tokens are lowered).
pub fn wordOccurs(detector: *const Detector, bytes: []const u8) bool {
    var word: u32 = 0;
    while (word < detector.contextWordCount()) : (word += 1) {
        if (occursIgnoringCase(bytes, detector.contextWord(word))) return true;
    }
    return false;
}

fn occursIgnoringCase(haystack: []const u8, needle: []const u8) bool {
    if (needle.len == 0) return true;
    if (needle.len > haystack.len) return false;
    const first = std.ascii.toLower(needle[0]);
    for (0..haystack.len - needle.len + 1) |at| {
        if (std.ascii.toLower(haystack[at]) != first) continue;
        if (std.ascii.eqlIgnoreCase(haystack[at..][0..needle.len], needle)) return true;
    }
    return false;
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
    for (scratch[0..length], 0..) |*byte, index| byte.* = std.ascii.toLower(try text.at(start + index));
    const token = scratch[0..length];
    var word: u32 = 0;
    while (word < detector.contextWordCount()) : (word += 1) {
        if (std.mem.indexOf(u8, token, detector.contextWord(word)) != null) return true;
    }
    return false;
}

//! The matcher tables a filter receives in its configuration, verified once at
//! configure time and then read in place (format: controlplane/compiler/README.md).
//! `Tables.load` checks every offset, count, transition and id before anything
//! uses them, so the scanner indexes without further checks on the hot path.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const bytes_le = @import("bytes_le.zig");
const automaton_module = @import("automaton.zig");
const validators = @import("validators.zig");
const ScanGroup = @import("scan_group.zig").ScanGroup;
const SkipSet = @import("skip_set.zig").SkipSet;
const FusedSets = @import("fused_set.zig").FusedSets;

pub const Automaton = automaton_module.Automaton;

pub const magic = "MVMT";
pub const format_version: u16 = 2;
const header_bytes: u32 = 64;
const pattern_record_bytes: u32 = 24;
const detector_header_bytes: u32 = 36;
pub const score_scale: u16 = 1000;
pub const pattern_requires_context: u16 = 1;
/// Scan flag: the automaton starts on common bytes; step it on its own, not in the shared skip pass.
pub const scan_dense: u32 = 1;

pub const LoadError = automaton_module.ParseError || error{
    TooShort,
    TooLarge,
    BadMagic,
    UnsupportedVersion,
    SizeMismatch,
    TooManyAutomata,
    TooManyScanAutomata,
    TooManyPatterns,
    TooManyDetectors,
    OutOfBounds,
    BadReference,
    BadLength,
    UnknownValidator,
    ContextTooWide,
    HistoryTooShort,
    HistoryTooLong,
};

/// What was wrong with refused tables, in words, for the configure log line.
pub fn describe(err: LoadError) []const u8 {
    return switch (err) {
        error.TooShort => "shorter than the 64-byte header",
        error.TooLarge => "larger than the engine accepts",
        error.BadMagic => "not meshveil matcher tables (bad magic)",
        error.UnsupportedVersion => "a table format version this engine does not read",
        error.SizeMismatch => "the header's total size differs from the blob's",
        error.TooManyAutomata => "more automata than the engine holds",
        error.TooManyScanAutomata => "more scan automata than the engine steps",
        error.TooManyPatterns => "more patterns than the engine holds",
        error.TooManyDetectors => "more detectors than the engine holds",
        error.OutOfBounds => "a record runs past the end of the blob",
        error.BadReference => "a record refers to an automaton, detector or scan automaton that does not exist",
        error.BadLength => "a pattern's length bounds are empty, inverted or over the match limit",
        error.UnknownValidator => "a detector names a validator this engine does not have",
        error.ContextTooWide => "a detector's context window or word is over the engine's limit",
        error.HistoryTooShort => "history or lookahead is shorter than a pattern and its context need",
        error.HistoryTooLong => "history or lookahead is over the engine's limit",
        error.AutomatonOutOfBounds => "an automaton runs past the end of the blob",
        error.AutomatonMisaligned => "an automaton record is not aligned",
        error.AutomatonShape => "an automaton has an invalid shape",
        error.AutomatonClass => "an automaton maps a byte to a class it does not have",
        error.AutomatonTransition => "an automaton has a transition to a state that does not exist",
        error.AutomatonMatchIndex => "an automaton's match index is not ordered",
        error.AutomatonPatternId => "an automaton reports a pattern that does not exist",
    };
}

pub const Pattern = struct {
    detector: u16,
    /// Thousandths.
    score: u16,
    scan_automaton: u16,
    flags: u16,
    forward: u32,
    reverse: u32,
    min_length: u32,
    max_length: u32,

    pub fn requiresContext(self: Pattern) bool {
        return self.flags & pattern_requires_context != 0;
    }
};

/// Most detectors a scan automaton may report and still be left out of a text that
/// holds none of their context words (`Tables.context_only`).
pub const context_detectors_max = 4;

/// Most distinct word starts (`Detector.word_starts`) a detector's search compares with.
pub const word_starts_max = 16;

/// Set in a folded byte (`fold`); a search may set it in sixteen bytes at once.
pub const fold_bit: u8 = 0x20;

/// A byte with `fold_bit` set: ASCII letters fold to lower case, and a byte equal to
/// another in any case folds equal to it (other bytes may fold together too).
fn fold(byte: u8) u8 {
    return byte | fold_bit;
}

pub const Detector = struct {
    id: []const u8,
    entity: []const u8,
    /// 0: none; otherwise an id of `validators.zig` (the same as validators.py).
    validator: u16,
    threshold: u16,
    validator_parameter: u32,
    context_boost: u16,
    context_floor: u16,
    words_before: u8,
    words_after: u8,
    context_bytes: u16,
    /// (offset, length) pairs into the string bytes, one per context word.
    words: []align(1) const u32,
    exclusions: []align(1) const u32,
    strings: []const u8,
    /// The distinct starts of the context words: their first two bytes folded (`fold`;
    /// a one-byte word's second is `any_byte`). A search for the words compares each
    /// position of a text with these, not with every word. Past `word_starts_max` of
    /// them, the search compares with every word.
    word_starts: [word_starts_max][2]u8 = undefined,
    word_start_count: u8 = 0,
    /// A context word is empty (it occurs in every text).
    empty_word: bool = false,

    pub fn contextWordCount(self: *const Detector) u32 {
        return @intCast(self.words.len / 2);
    }

    /// Stands for any second byte in `word_starts` (a one-byte word); no folded byte is 0.
    pub const any_byte: u8 = 0;

    /// Sets `empty_word` and `word_starts` from the words.
    pub fn indexWords(self: *Detector) void {
        self.empty_word = false;
        self.word_start_count = 0;
        var word: u32 = 0;
        while (word < self.contextWordCount()) : (word += 1) {
            const text = self.contextWord(word);
            if (text.len == 0) {
                self.empty_word = true;
            } else {
                self.addWordStart(.{ fold(text[0]), if (text.len > 1) fold(text[1]) else any_byte });
            }
        }
    }

    fn addWordStart(self: *Detector, start: [2]u8) void {
        if (self.word_start_count > word_starts_max) return; // past the room: every word is compared
        for (self.word_starts[0..self.word_start_count]) |known| {
            if (std.mem.eql(u8, &known, &start)) return;
        }
        if (self.word_start_count < word_starts_max) self.word_starts[self.word_start_count] = start;
        self.word_start_count += 1;
    }

    pub fn contextWord(self: *const Detector, index: u32) []const u8 {
        const offset = self.words[2 * index];
        return self.strings[offset..][0..self.words[2 * index + 1]];
    }
};

const productive_states_max = 8192;
/// A set of state indexes (methods take it by pointer: it is 1 KiB).
const ProductiveSet = struct {
    words: [productive_states_max / 64]u64 = [_]u64{0} ** (productive_states_max / 64),

    fn isSet(self: *const ProductiveSet, index: u32) bool {
        return (self.words[index >> 6] >> @intCast(index & 63)) & 1 != 0;
    }

    fn set(self: *ProductiveSet, index: u32) void {
        self.words[index >> 6] |= @as(u64, 1) << @intCast(index & 63);
    }
};

/// States (by index) from which some step, and maybe more, reaches a matching state.
/// Sweeps over the states, alternately down and up (so chains numbered either way are
/// found in few sweeps), until nothing changes.
fn productiveStates(automaton: *const Automaton, productive: *ProductiveSet) void {
    assert(automaton.state_count <= productive_states_max);
    productive.* = .{};
    var changed = true;
    var sweeps: u32 = 0;
    while (changed) : (sweeps += 1) {
        assert(sweeps <= automaton.state_count + 1); // each sweep but the last adds a state
        changed = false;
        for (1..automaton.state_count) |step| {
            const index: u32 = @intCast(if (sweeps % 2 == 0) automaton.state_count - step else step);
            if (productive.isSet(index)) continue;
            if (reachesProductive(automaton, index, productive)) {
                productive.set(index);
                changed = true;
            }
        }
    }
}

fn reachesProductive(automaton: *const Automaton, index: u32, productive: *const ProductiveSet) bool {
    const state = index * automaton.class_count;
    for (0..automaton.class_count) |class| {
        const next = automaton.step(state, @intCast(class));
        if (automaton.isMatch(next) or productive.isSet(next / automaton.class_count)) return true;
    }
    return false;
}

pub const ByteSet = struct {
    bits: [4]u64 = .{ 0, 0, 0, 0 },

    pub fn contains(self: *const ByteSet, byte: u8) bool {
        return (self.bits[byte >> 6] >> @intCast(byte & 63)) & 1 != 0;
    }

    fn add(self: *ByteSet, byte: u8) void {
        self.bits[byte >> 6] |= @as(u64, 1) << @intCast(byte & 63);
    }

    /// Bytes that can lie inside a match of `automaton`: some state steps on them to a
    /// state with a way on to a matching state. The byte after a match (read for the
    /// match flag, which is set one byte late) leads only to a matching state with no way
    /// on, so it is not one of them unless a match can also hold it. Automata too large
    /// for the analysis get the bytes that step some live state to a live state.
    fn innerBytes(automaton: *const Automaton) ByteSet {
        var live_classes = [_]bool{false} ** 256;
        if (automaton.state_count <= productive_states_max) {
            var productive: ProductiveSet = undefined;
            productiveStates(automaton, &productive);
            var state: u32 = automaton.class_count; // state 0 is dead
            while (state < automaton.state_count * automaton.class_count) : (state += automaton.class_count) {
                for (0..automaton.class_count - 1) |class| {
                    const next = automaton.step(state, @intCast(class)) / automaton.class_count;
                    if (productive.isSet(next)) live_classes[class] = true;
                }
            }
        } else {
            var state: u32 = automaton.class_count;
            while (state < automaton.state_count * automaton.class_count) : (state += automaton.class_count) {
                for (0..automaton.class_count - 1) |class| {
                    if (automaton.step(state, @intCast(class)) != 0) live_classes[class] = true;
                }
            }
        }
        var set: ByteSet = .{};
        for (automaton.classes, 0..) |class, byte| {
            if (live_classes[class]) set.add(@intCast(byte));
        }
        return set;
    }
};

/// A view of one table blob. Large (keep it in static or heap memory, load it in place);
/// it points into the blob, which must outlive it.
pub const Tables = struct {
    blob: []const u8 = &.{},
    history_bytes: u32 = 0,
    lookahead_bytes: u32 = 0,
    automaton_count: u32 = 0,
    scan_count: u32 = 0,
    pattern_count: u32 = 0,
    detector_count: u32 = 0,
    automata: [limits.automata_max]Automaton = undefined,
    /// Automaton index of each scan automaton, and what the hot loop needs of it.
    scan: [limits.scan_automata_max]u32 = undefined,
    groups: [limits.scan_automata_max]ScanGroup = undefined,
    /// Per byte value: the sparse scan automata (bit per index) that must step on it
    /// when they wait in a start state; 0 for bytes the shared skip pass passes over.
    wake: [256]u64 = undefined,
    /// 1 for bytes no sparse scan automaton has to step on while it waits (`wake` is 0).
    quiet: SkipSet = undefined,
    /// The sparse scan automata (bit per index).
    sparse_mask: u64 = 0,
    /// The dense scan automata (bit per index) each of whose patterns is dropped
    /// without a context word of its detector (`needsContext`): in a text that holds
    /// none of those words they find nothing, so the scanner stops them there at their
    /// first event. At most `context_detectors_max` detectors each, listed in
    /// `context_detectors`. (Sparse ones step in a shared pass, which they do not leave
    /// before its end.)
    context_only: u64 = 0,
    context_detectors: [limits.scan_automata_max][context_detectors_max]u16 = undefined,
    context_detector_count: [limits.scan_automata_max]u8 = undefined,
    /// The dense scan automata stepped together, a few to a loop.
    fused: FusedSets = undefined,
    patterns: [limits.patterns_max]Pattern = undefined,
    /// Per pattern: the bytes its forward automaton can read without dying (a
    /// superset of the bytes any of its matches holds), to bound the rare path's probes.
    match_bytes: [limits.patterns_max]ByteSet = undefined,
    detectors: [limits.detectors_max]Detector = undefined,

    /// Verifies `blob` and makes `self` a view of it. `blob` must outlive every use
    /// of `self`; on error `self` is empty and `where` holds the byte offset at fault.
    pub fn load(self: *Tables, blob: []const u8, where: *u32) LoadError!void {
        self.clear();
        where.* = 0;
        errdefer self.clear();
        try self.loadHeader(blob, where);
        self.blob = blob;
    }

    /// Empties the view field by field: assigning a whole default value would copy
    /// (and make the module carry) an image of this large struct.
    fn clear(self: *Tables) void {
        self.blob = &.{};
        self.history_bytes = 0;
        self.lookahead_bytes = 0;
        self.automaton_count = 0;
        self.scan_count = 0;
        self.pattern_count = 0;
        self.detector_count = 0;
        self.sparse_mask = 0;
        self.context_only = 0;
        self.fused.count = 0;
    }

    fn loadHeader(self: *Tables, blob: []const u8, where: *u32) LoadError!void {
        if (blob.len < header_bytes) return error.TooShort;
        if (blob.len > limits.table_bytes_max) return error.TooLarge;
        if (!std.mem.eql(u8, blob[0..4], magic)) return error.BadMagic;
        if (bytes_le.u16At(blob, 4) != format_version) return error.UnsupportedVersion;
        if (bytes_le.u16At(blob, 6) != header_bytes or bytes_le.u32At(blob, 8) != blob.len) return error.SizeMismatch;
        self.automaton_count = bytes_le.u32At(blob, 16);
        self.scan_count = bytes_le.u32At(blob, 20);
        self.pattern_count = bytes_le.u32At(blob, 24);
        self.detector_count = bytes_le.u32At(blob, 28);
        self.history_bytes = bytes_le.u32At(blob, 32);
        self.lookahead_bytes = bytes_le.u32At(blob, 36);
        if (self.automaton_count > limits.automata_max) return error.TooManyAutomata;
        if (self.scan_count == 0 or self.scan_count > limits.scan_automata_max) return error.TooManyScanAutomata;
        if (self.pattern_count > limits.patterns_max) return error.TooManyPatterns;
        if (self.detector_count > limits.detectors_max) return error.TooManyDetectors;
        if (self.history_bytes > limits.history_bytes_max or self.lookahead_bytes > limits.lookahead_bytes_max)
            return error.HistoryTooLong;

        const strings_offset = bytes_le.u32At(blob, 56);
        const strings_len = bytes_le.u32At(blob, 60);
        where.* = 56;
        const strings = try slice(blob, strings_offset, strings_len);

        where.* = 40;
        const automaton_offsets = try u32Array(blob, bytes_le.u32At(blob, 40), self.automaton_count);
        for (automaton_offsets, 0..) |offset, index| {
            where.* = offset;
            self.automata[index] = try automaton_module.parse(blob, offset, self.pattern_count);
        }
        where.* = 44;
        const scan_list = try u32Array(blob, bytes_le.u32At(blob, 44), 2 * self.scan_count);
        @memset(&self.wake, 0);
        for (0..self.scan_count) |index| {
            const automaton_index = scan_list[2 * index];
            if (automaton_index >= self.automaton_count) return error.BadReference;
            self.scan[index] = automaton_index;
            const dense = scan_list[2 * index + 1] & scan_dense != 0;
            self.groups[index] = ScanGroup.init(&self.automata[automaton_index], dense);
            if (self.groups[index].sparse()) {
                self.sparse_mask |= @as(u64, 1) << @intCast(index);
                for (&self.wake, self.groups[index].skip.table) |*mask, skip| {
                    if (skip == 0) mask.* |= @as(u64, 1) << @intCast(index);
                }
            }
        }
        for (&self.quiet.table, self.wake) |*quiet, mask| quiet.* = @intFromBool(mask == 0);
        self.quiet.init();
        self.fused.init(self.groups[0..self.scan_count]);
        try self.loadDetectors(blob, strings, where);
        try self.loadPatterns(blob, where);
        self.findContextOnly();
    }

    /// Whether every match of `pattern_index` is dropped when no context word of its
    /// detector supports it: it requires context, or without context (and without a
    /// validator, which would set the score) it scores below the threshold.
    pub fn needsContext(self: *const Tables, pattern_index: u16) bool {
        const pattern = &self.patterns[pattern_index];
        if (pattern.requiresContext()) return true;
        const detector = &self.detectors[pattern.detector];
        return detector.validator == 0 and pattern.score < detector.threshold;
    }

    fn findContextOnly(self: *Tables) void {
        self.context_only = 0;
        for (0..self.scan_count) |index| {
            if (self.groups[index].sparse()) continue;
            const automaton = &self.automata[self.scan[index]];
            const detectors = &self.context_detectors[index];
            var count: u8 = 0;
            var only = automaton.match_ids.len > 0;
            for (automaton.match_ids) |pattern_index| {
                if (!self.needsContext(pattern_index)) {
                    only = false;
                    break;
                }
                const detector = self.patterns[pattern_index].detector;
                if (std.mem.indexOfScalar(u16, detectors[0..count], detector) != null) continue;
                if (count == context_detectors_max) {
                    only = false;
                    break;
                }
                detectors[count] = detector;
                count += 1;
            }
            self.context_detector_count[index] = count;
            if (only) self.context_only |= @as(u64, 1) << @intCast(index);
        }
    }

    fn loadPatterns(self: *Tables, blob: []const u8, where: *u32) LoadError!void {
        const base = bytes_le.u32At(blob, 48);
        _ = try slice(blob, base, self.pattern_count * pattern_record_bytes);
        for (self.patterns[0..self.pattern_count], 0..) |*pattern, index| {
            const offset = base + @as(u32, @intCast(index)) * pattern_record_bytes;
            where.* = offset;
            pattern.* = .{
                .detector = bytes_le.u16At(blob, offset),
                .score = bytes_le.u16At(blob, offset + 2),
                .scan_automaton = bytes_le.u16At(blob, offset + 4),
                .flags = bytes_le.u16At(blob, offset + 6),
                .forward = bytes_le.u32At(blob, offset + 8),
                .reverse = bytes_le.u32At(blob, offset + 12),
                .min_length = bytes_le.u32At(blob, offset + 16),
                .max_length = bytes_le.u32At(blob, offset + 20),
            };
            if (pattern.detector >= self.detector_count or pattern.scan_automaton >= self.scan_count or
                pattern.forward >= self.automaton_count or pattern.reverse >= self.automaton_count)
                return error.BadReference;
            if (pattern.min_length == 0 or pattern.min_length > pattern.max_length or
                pattern.max_length > limits.match_bytes_max)
                return error.BadLength;
            self.match_bytes[index] = ByteSet.innerBytes(&self.automata[pattern.forward]);
            // The scanner reads this far behind and ahead of an event; the tables must keep it.
            const reach = @as(u64, pattern.max_length) + self.detectors[pattern.detector].context_bytes + 1;
            if (reach > self.history_bytes or reach > self.lookahead_bytes) return error.HistoryTooShort;
        }
    }

    fn loadDetectors(self: *Tables, blob: []const u8, strings: []const u8, where: *u32) LoadError!void {
        const offsets = try u32Array(blob, bytes_le.u32At(blob, 52), self.detector_count);
        for (offsets, 0..) |offset, index| {
            where.* = offset;
            self.detectors[index] = try self.loadDetector(blob, strings, offset);
        }
    }

    fn loadDetector(self: *const Tables, blob: []const u8, strings: []const u8, offset: u32) LoadError!Detector {
        const record = try slice(blob, offset, detector_header_bytes);
        const word_count = bytes_le.u16At(record, 32);
        const exclusion_count = bytes_le.u16At(record, 34);
        const words = try u32Array(blob, offset + detector_header_bytes, 2 * @as(u32, word_count));
        const exclusions = try u32Array(blob, offset + detector_header_bytes + 8 * @as(u32, word_count), exclusion_count);
        var detector: Detector = .{
            .id = try slice(strings, bytes_le.u32At(record, 0), bytes_le.u32At(record, 4)),
            .entity = try slice(strings, bytes_le.u32At(record, 8), bytes_le.u32At(record, 12)),
            .validator = bytes_le.u16At(record, 16),
            .threshold = bytes_le.u16At(record, 18),
            .validator_parameter = bytes_le.u32At(record, 20),
            .context_boost = bytes_le.u16At(record, 24),
            .context_floor = bytes_le.u16At(record, 26),
            .words_before = record[28],
            .words_after = record[29],
            .context_bytes = bytes_le.u16At(record, 30),
            .words = words,
            .exclusions = exclusions,
            .strings = strings,
        };
        if (detector.validator > validators.count) return error.UnknownValidator;
        if (detector.context_bytes > limits.context_bytes_max) return error.ContextTooWide;
        var word: u32 = 0;
        while (word < word_count) : (word += 1) {
            const text = try slice(strings, words[2 * word], words[2 * word + 1]);
            if (text.len > limits.context_word_bytes_max) return error.ContextTooWide;
        }
        detector.indexWords();
        for (exclusions) |automaton_index| {
            if (automaton_index >= self.automaton_count) return error.BadReference;
        }
        return detector;
    }
};

fn slice(bytes: []const u8, offset: u32, length: u32) LoadError![]const u8 {
    if (@as(u64, offset) + length > bytes.len) return error.OutOfBounds;
    return bytes[offset..][0..length];
}

fn u32Array(blob: []const u8, offset: u32, count: u32) LoadError![]align(1) const u32 {
    if (@as(u64, offset) + @as(u64, count) * 4 > blob.len) return error.OutOfBounds;
    return bytes_le.u32Slice(blob, offset, count);
}

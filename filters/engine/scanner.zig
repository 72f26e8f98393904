//! The streaming scanner: runs the verified tables over a text fed in chunks and
//! reports findings (detector, pattern, span, score) exactly as the reference
//! scanner controlplane/compiler/scanner.py does.
//!
//! Each scan automaton runs on its own over the text (patterns of different automata
//! never interact). Dense automata (they start on common bytes) step through the text
//! every byte, a few together in one loop (`fused.zig`). Sparse ones share one skip pass
//! (`sparse.zig`): it notes the bytes where some sparse automaton waiting in a start
//! state must step, and each automaton steps only from those. At a matching state the
//! rare path resolves each of its patterns to a leftmost-longest match (reverse
//! automaton for the start, forward automaton for the end), scores it and moves that
//! pattern's resume point. An event that needs bytes not yet arrived stops its
//! automaton before that byte until the next chunk; the bytes it may still read are
//! kept in a fixed tail buffer. Nothing is allocated.
//!
//!     scanner.init(&tables);
//!     scanner.feed(chunk, final);
//!     while (true) { const batch = scanner.collect(&findings); ...; if (batch.done) break; }

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const tables_module = @import("tables.zig");
const text_module = @import("text.zig");
const matcher = @import("matcher.zig");
const scoring = @import("scoring.zig");
const hot = @import("hot.zig");
const sparse = @import("sparse.zig");
const fused = @import("fused.zig");

const Tables = tables_module.Tables;
const Text = text_module.Text;

pub const Finding = struct {
    detector: u16,
    pattern: u16,
    /// Thousandths.
    score: u16,
    /// Stream offsets, end exclusive.
    start: u64,
    end: u64,
};

pub const Batch = struct {
    count: usize,
    /// The chunk is scanned as far as it can be; feed the next one.
    done: bool,
};

const tail_capacity = limits.history_bytes_max + limits.lookahead_bytes_max;

/// Detectors whose context words one scan remembers having looked for.
const context_known_max = 16;
/// Longest whole text searched for context words (a JSON value and its key, not a body).
const context_search_bytes_max = 256;

const ContextKnown = struct { detector: u16, present: bool };

pub const Status = enum(u8) {
    scanning,
    /// Stopped at an event that needs the next chunk, or at the end of this one.
    waiting,
    /// The final chunk is scanned and the end of the text stepped.
    finished,
};

pub const StopError = text_module.NeedInput || error{OutputFull};

/// Room for findings, filled by `collect`.
pub const Output = struct {
    items: []Finding,
    len: usize = 0,

    fn full(self: *const Output) bool {
        return self.len == self.items.len;
    }

    fn push(self: *Output, finding: Finding) void {
        assert(!self.full());
        self.items[self.len] = finding;
        self.len += 1;
    }
};

/// The lowest `count` bits set.
pub fn lowBits(count: u32) u64 {
    assert(count <= 64);
    return if (count == 64) std.math.maxInt(u64) else (@as(u64, 1) << @intCast(count)) - 1;
}

pub const Scanner = struct {
    tables: *const Tables,
    states: [limits.scan_automata_max]u32,
    /// Per scan automaton: the stream offset of the next byte it steps.
    positions: [limits.scan_automata_max]u64,
    status: [limits.scan_automata_max]Status,
    /// Bit per scan automaton whose status is scanning, so the loops over automata
    /// visit only those (a one-value scan leaves most out).
    scanning: u64,
    /// Per pattern: where its next match may start (the end of its previous one).
    resume_at: [limits.patterns_max]u64,
    shared: sparse.SharedPass,
    tail: [tail_capacity]u8,
    text: Text,
    ended: bool,
    scratch: scoring.Scratch,
    /// Per text given whole in one final chunk: detectors whose context words were
    /// looked for in it, and whether one occurs.
    context_known: [context_known_max]ContextKnown,
    context_known_len: u32,

    pub fn init(self: *Scanner, tables: *const Tables) void {
        assert(tables.scan_count > 0 and tables.scan_count <= limits.scan_automata_max);
        self.tables = tables;
        for (0..tables.scan_count) |index| {
            const automaton = &tables.automata[tables.scan[index]];
            self.states[index] = automaton.start(.edge);
            self.positions[index] = 0;
            self.status[index] = .waiting;
        }
        self.scanning = 0;
        @memset(self.resume_at[0..tables.pattern_count], 0);
        self.shared.init();
        self.text = .{ .tail = self.tail[0..0], .tail_start = 0, .chunk = &.{}, .final = false };
        self.ended = false;
        self.context_known_len = 0;
    }

    /// `init`, `feed(text, true)` and `keepOnly(candidates)` in one, setting up only the
    /// automata in `candidates`: the filters scan dozens of short values per body, each
    /// with few automata left in, so a setup per automaton of the tables would cost more
    /// than the scan. `text` must stay valid until `collect` says done.
    pub fn startWhole(self: *Scanner, tables: *const Tables, text: []const u8, candidates: u64) void {
        assert(tables.scan_count > 0 and tables.scan_count <= limits.scan_automata_max);
        self.tables = tables;
        const kept = candidates & lowBits(tables.scan_count);
        @memset(self.status[0..tables.scan_count], .finished);
        var rest = kept;
        while (rest != 0) : (rest &= rest - 1) {
            const index = @ctz(rest);
            self.states[index] = tables.automata[tables.scan[index]].start(.edge);
            self.positions[index] = 0;
            self.status[index] = .scanning;
        }
        self.scanning = kept;
        @memset(self.resume_at[0..tables.pattern_count], 0);
        self.shared.init();
        self.text = .{ .tail = self.tail[0..0], .tail_start = 0, .chunk = text, .final = true };
        self.ended = true;
        self.context_known_len = 0;
    }

    /// Hands the scanner the next chunk; `chunk` must stay valid until `collect` says done.
    pub fn feed(self: *Scanner, chunk: []const u8, final: bool) void {
        assert(!self.ended);
        for (self.status[0..self.tables.scan_count]) |status| assert(status == .waiting);
        self.text.chunk = chunk;
        self.text.final = final;
        self.ended = final;
        self.context_known_len = 0;
        for (self.status[0..self.tables.scan_count]) |*status| status.* = .scanning;
        self.scanning = lowBits(self.tables.scan_count);
    }

    pub fn setStatus(self: *Scanner, index: u32, status: Status) void {
        self.status[index] = status;
        const mask = @as(u64, 1) << @intCast(index);
        if (status == .scanning) self.scanning |= mask else self.scanning &= ~mask;
    }

    /// Leaves out the scan automata whose bit in `candidates` is clear, for a text the
    /// caller knows they cannot match (masking/prefilter.zig): call after `feed` of
    /// the final chunk, before `collect`. They are marked finished, so no loop steps them.
    pub fn keepOnly(self: *Scanner, candidates: u64) void {
        comptime assert(limits.scan_automata_max <= 64);
        assert(self.text.final);
        assert(self.scanning == lowBits(self.tables.scan_count));
        var left_out = self.scanning & ~candidates;
        while (left_out != 0) : (left_out &= left_out - 1) self.status[@ctz(left_out)] = .finished;
        self.scanning &= candidates;
    }

    /// Fills `out` with findings of the fed chunk. Call again while `done` is false
    /// (the output was full); once done, the chunk is no longer referenced.
    pub fn collect(self: *Scanner, out: []Finding) Batch {
        assert(out.len > 0);
        var output: Output = .{ .items = out };
        self.scanAll(&output) catch |err| switch (err) {
            error.OutputFull => return .{ .count = output.len, .done = false },
        };
        if (!self.text.final) self.keepTail();
        return .{ .count = output.len, .done = true };
    }

    fn scanAll(self: *Scanner, output: *Output) error{OutputFull}!void {
        // A short text given whole (a JSON value and its key): each automaton steps
        // every byte in a plain loop. The skip searches and the fused loop pay off over
        // long texts; over a few dozen bytes their setup costs more than the steps.
        if (self.shortWholeText() != null) {
            var each = self.scanning;
            while (each != 0) : (each &= each - 1) {
                const index: u32 = @ctz(each);
                if (self.status[index] != .scanning) continue;
                try self.runSteppingUntil(.every, index, self.text.end(), output);
                try self.finishAutomaton(index, output);
            }
            return;
        }
        try fused.run(self, output);
        // Fused members are past scanning by now; the other dense ones run alone.
        var dense = self.scanning & ~self.tables.sparse_mask;
        while (dense != 0) : (dense &= dense - 1) {
            const index: u32 = @ctz(dense);
            if (self.status[index] != .scanning) continue;
            try self.runUntil(index, self.text.end(), output);
            try self.finishAutomaton(index, output);
        }
        try sparse.run(self, output);
    }

    /// Steps scan automaton `index` on its own up to stream offset `until`, resolving
    /// its events; stops early (status waiting) at an event that needs more bytes.
    pub fn runUntil(self: *Scanner, index: u32, until: u64, output: *Output) error{OutputFull}!void {
        return self.runSteppingUntil(.skip, index, until, output);
    }

    /// `runUntil`, skipping bytes (`.skip`) or stepping every one (`.every`).
    fn runSteppingUntil(self: *Scanner, comptime mode: hot.Mode, index: u32, until: u64, output: *Output) error{OutputFull}!void {
        const group = &self.tables.groups[index];
        const text = &self.text;
        const chunk_start = text.chunkStart();
        assert(until <= text.end());
        // Each round moves past at least one byte or stops the automaton.
        const rounds_max = until -| self.positions[index];
        var rounds: u64 = 0;
        while (self.status[index] == .scanning and self.positions[index] < until) : (rounds += 1) {
            assert(rounds <= rounds_max);
            const position = self.positions[index];
            const in_tail = position < chunk_start;
            const bytes = if (in_tail) text.tail else text.chunk;
            const base = if (in_tail) text.tail_start else chunk_start;
            const limit: usize = @intCast(@min(until, base + bytes.len) - base);
            const from: usize = @intCast(position - base);
            const step = switch (mode) {
                .skip => hot.run(group, bytes[0..limit], from, self.states[index]),
                .every => hot.runEvery(group, bytes[0..limit], from, self.states[index]),
                .idle => @compileError("sparse automata wait idle in the shared skip pass, not here"),
            };
            switch (step.outcome) {
                .hit => try self.stepEvents(index, base + step.index, step, output),
                .end, .idle => {
                    self.states[index] = step.state;
                    self.positions[index] = base + step.index;
                },
            }
        }
    }

    /// Resolves the events of a hit at stream offset `end`; on a stop the automaton is
    /// set back to before that byte, to redo it later (patterns already resolved at it
    /// then skip it: their resume point is past it).
    pub fn stepEvents(self: *Scanner, index: u32, end: u64, step: hot.Step, output: *Output) error{OutputFull}!void {
        assert(step.outcome == .hit);
        self.events(index, end, step.state, output) catch |err| {
            self.states[index] = step.before;
            self.positions[index] = end;
            switch (err) {
                error.NeedInput => {
                    self.setStatus(index, .waiting);
                    return;
                },
                error.OutputFull => return error.OutputFull,
            }
        };
        self.states[index] = step.state;
        self.positions[index] = end + 1;
    }

    /// At the end of the text the automaton steps the end-of-input class once.
    pub fn finishAutomaton(self: *Scanner, index: u32, output: *Output) error{OutputFull}!void {
        if (self.status[index] != .scanning) return;
        assert(self.positions[index] == self.text.end());
        if (!self.text.final) {
            self.setStatus(index, .waiting);
            return;
        }
        const automaton = &self.tables.groups[index].automaton;
        const state = automaton.stepEoi(self.states[index]);
        if (automaton.isMatch(state)) self.events(index, self.text.end(), state, output) catch |err| switch (err) {
            error.NeedInput => unreachable, // the final chunk has every byte
            error.OutputFull => return error.OutputFull,
        };
        self.setStatus(index, .finished);
    }

    /// Every pattern with a match ending at `end`, in pattern order.
    fn events(self: *Scanner, index: u32, end: u64, state: u32, output: *Output) StopError!void {
        if (self.contextlessHere(index)) {
            // Nothing it reports can be found in this text: it stops at its first event.
            self.setStatus(index, .finished);
            return;
        }
        const automaton = &self.tables.groups[index].automaton;
        for (automaton.patterns(state)) |pattern| {
            if (output.full()) return error.OutputFull;
            if (self.contextAbsent(pattern)) continue;
            if (try self.matchEndingAt(pattern, end)) |finding| output.push(finding);
        }
    }

    /// True for a context-only automaton (`Tables.context_only`) in a short text given
    /// whole that holds none of its detectors' context words. Such an automaton (say,
    /// generic-api-key's, which fires on every long alphanumeric run) would raise event
    /// after event there and find nothing.
    fn contextlessHere(self: *Scanner, index: u32) bool {
        const mask = @as(u64, 1) << @intCast(index);
        if (self.tables.context_only & mask == 0) return false;
        const text = self.shortWholeText() orelse return false;
        const detectors = self.tables.context_detectors[index][0..self.tables.context_detector_count[index]];
        for (detectors) |detector| {
            if (self.contextPresent(detector, text)) return false;
        }
        return true;
    }

    /// True when `pattern_index` needs context (`Tables.needsContext`) and none of its
    /// detector's words occurs anywhere in a short text given whole: each of its
    /// matches would be dropped, and its resume point bounds only its own matches, so
    /// resolving them changes nothing. Saves the probes and scoring on, say, every
    /// digit run of a JSON value under a key that is no context word.
    fn contextAbsent(self: *Scanner, pattern_index: u16) bool {
        if (!self.tables.needsContext(pattern_index)) return false;
        const text = self.shortWholeText() orelse return false;
        return !self.contextPresent(self.tables.patterns[pattern_index].detector, text);
    }

    /// The text, when it was given whole in one final chunk and is short enough to be
    /// searched for context words.
    fn shortWholeText(self: *const Scanner) ?[]const u8 {
        const text = &self.text;
        if (!text.final or text.chunkStart() != 0 or text.chunk.len > context_search_bytes_max) return null;
        return text.chunk;
    }

    /// Whether one of `detector`'s context words occurs in `text`, the whole text of
    /// this scan (remembered per detector until the next text).
    fn contextPresent(self: *Scanner, detector: u16, text: []const u8) bool {
        assert(text.len <= context_search_bytes_max);
        for (self.context_known[0..self.context_known_len]) |known| {
            if (known.detector == detector) return known.present;
        }
        const present = scoring.wordOccurs(&self.tables.detectors[detector], text);
        if (self.context_known_len < context_known_max) {
            self.context_known[self.context_known_len] = .{ .detector = detector, .present = present };
            self.context_known_len += 1;
        }
        return present;
    }

    fn matchEndingAt(self: *Scanner, pattern_index: u16, end: u64) text_module.NeedInput!?Finding {
        const pattern = &self.tables.patterns[pattern_index];
        const resume_at = self.resume_at[pattern_index];
        const lowest = @max(resume_at, end -| pattern.max_length);
        if (lowest > end or end - lowest < pattern.min_length) return null;
        const reverse = &self.tables.automata[pattern.reverse];
        const first_start = try matcher.leftmostStart(reverse, &self.text, end, lowest) orelse return null;
        const forward = &self.tables.automata[pattern.forward];
        // An earlier start whose match ends later wins (leftmost first, then longest).
        // Such a match holds every byte from its start to `end` (no match of this
        // pattern starting at or after resume_at ends before an event being resolved),
        // so the probes start where the run of bytes its automaton can read begins.
        var start = first_start;
        const probe_from = @max(resume_at, (end + 1) -| pattern.max_length);
        var candidate = first_start;
        while (candidate > probe_from and self.tables.match_bytes[pattern_index].contains(try self.text.at(candidate - 1))) candidate -= 1;
        while (candidate < first_start) : (candidate += 1) {
            if (try matcher.matchEnd(forward, &self.text, candidate, pattern.max_length, .first) != null) {
                start = candidate;
                break;
            }
        }
        const match_end = (try matcher.matchEnd(forward, &self.text, start, pattern.max_length, .longest)).?;
        assert(match_end > start);
        const detector = &self.tables.detectors[pattern.detector];
        const score = try scoring.score(self.tables, pattern, &self.text, start, match_end, &self.scratch);
        self.resume_at[pattern_index] = match_end;
        if (score < detector.threshold) return null;
        return .{ .detector = pattern.detector, .pattern = pattern_index, .score = score, .start = start, .end = match_end };
    }

    /// Keeps the bytes later events may read: `history_bytes` before the earliest
    /// automaton's position, and everything after it.
    fn keepTail(self: *Scanner) void {
        const text = &self.text;
        var earliest = text.end();
        for (self.positions[0..self.tables.scan_count]) |position| earliest = @min(earliest, position);
        const keep_from = @max(text.tail_start, earliest -| self.tables.history_bytes);
        const length: usize = @intCast(text.end() - keep_from);
        assert(length <= tail_capacity);
        const chunk_start = text.chunkStart();
        var written: usize = 0;
        if (keep_from < chunk_start) {
            const kept = text.tail[@intCast(keep_from - text.tail_start)..];
            std.mem.copyForwards(u8, self.tail[0..kept.len], kept);
            written = kept.len;
        }
        const from_chunk = text.chunk[text.chunk.len - (length - written) ..];
        @memcpy(self.tail[written..length], from_chunk);
        self.text = .{ .tail = self.tail[0..length], .tail_start = keep_from, .chunk = &.{}, .final = false };
    }
};

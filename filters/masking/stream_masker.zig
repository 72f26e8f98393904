//! Masks a streamed body: a walker finds the values, a scanner finds the
//! sensitive spans in them, the policy names an action per detector, and the
//! rewriter writes the result with the held-back tail. Generic over the
//! walker (JSON, form, text, SSE), the scanner (the engine) and the policy,
//! so each filter instantiates what it needs at compile time.
//!
//! Interfaces it expects:
//!   scanner.scan(value: *const walker.Value, from: u32, out: []Finding) []const Finding
//!       findings in `value.bytes` coordinates that start at or after `from`,
//!       sorted by start, at most `out.len`; a full `out` means there may be
//!       more, and the masker asks again from the end of the last one;
//!   policy.actionFor(detector: u16) ?actions.Action
//!       null: detect only, leave the bytes as they are.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walkers").walker;
const actions = @import("actions.zig");
const encode = @import("encode.zig");
const rewriter_module = @import("rewriter.zig");
const Rewriter = rewriter_module.Rewriter;

pub const Result = rewriter_module.Result;

/// A sensitive span a scanner found in a value.
pub const Finding = struct {
    detector: u16,
    /// Decoded byte range in `Value.bytes`.
    start: u32,
    end: u32,
    /// Confidence in thousandths (the engine's score), so a route can ask for more
    /// than the tables' threshold; scanners without scores report full confidence.
    score: u16 = 1000,
};

/// Findings a scanner returns per call; a full batch means it is asked again
/// from the end of the last one.
pub const findings_max: u32 = 32;

/// After one finding: go on with the value's next finding, or stop (the value
/// was dropped or rewritten whole).
pub const Flow = enum { next, value_done };
/// Longest replacement an action writes for a short value (placeholder, token).
const replacement_extra_max: u32 = 256;

/// What happened to a body, for telemetry (counts only, never values).
pub const Stats = struct {
    /// Findings reported (overlap repeats not counted twice).
    findings: u32 = 0,
    /// Findings rewritten in place.
    masked: u32 = 0,
    /// Findings whose whole member or field was removed.
    dropped: u32 = 0,
    /// Findings that could not be rewritten because their bytes had already
    /// been passed on; the policy decides whether that is an alert or a block.
    unmasked: u32 = 0,
};

/// Hands every finding of `value` to `handler.apply(value, finding)`, asking
/// the scanner in batches of `findings_max`, until the handler says the value
/// is done or the scanner has no more.
pub fn scanValue(scanner: anytype, value: *const walker.Value, findings: *[findings_max]Finding, handler: anytype) !void {
    var from: u32 = 0;
    // Each batch starts past the last finding of the one before, so this ends.
    while (true) {
        const found = scanner.scan(value, from, findings);
        assert(found.len <= findings_max);
        for (found) |finding| {
            assert(finding.start < finding.end and finding.end <= value.bytes.len);
            if (try handler.apply(value, finding) == .value_done) return;
        }
        if (found.len < findings_max) return;
        const next = found[found.len - 1].end;
        assert(next > from);
        from = next;
    }
}

pub fn StreamMasker(comptime Walker: type) type {
    return struct {
        const Self = @This();

        walker: Walker,
        rewriter: Rewriter = .{},
        stats: Stats = .{},
        findings: [findings_max]Finding = undefined,
        scratch: [walker.piece_bytes_max + walker.piece_bytes_max + replacement_extra_max]u8 = undefined,

        pub fn init(body_walker: Walker) Self {
            return .{ .walker = body_walker };
        }

        /// Walks, scans and masks one chunk; see `Rewriter.finishChunk` for the result.
        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !Result {
            self.rewriter.beginChunk(chunk);
            var sink = Sink(@TypeOf(scanner), @TypeOf(policy), @TypeOf(out)){
                .masker = self,
                .scanner = scanner,
                .policy = policy,
                .out = out,
            };
            try self.walker.feed(chunk, &sink);
            return self.rewriter.finishChunk(self.walker.holdFrom(), out);
        }

        /// Ends the stream: the walker reports what it still holds and the
        /// whole tail goes out.
        pub fn finish(self: *Self, scanner: anytype, policy: anytype, out: anytype) !Result {
            self.rewriter.beginChunk("");
            var sink = Sink(@TypeOf(scanner), @TypeOf(policy), @TypeOf(out)){
                .masker = self,
                .scanner = scanner,
                .policy = policy,
                .out = out,
            };
            try self.walker.finish(&sink);
            return self.rewriter.finishChunk(null, out);
        }

        fn Sink(comptime Scanner: type, comptime Policy: type, comptime Out: type) type {
            return struct {
                masker: *Self,
                scanner: Scanner,
                policy: Policy,
                out: Out,

                pub fn onValue(sink: *@This(), value: *const walker.Value) !void {
                    try scanValue(sink.scanner, value, &sink.masker.findings, sink);
                }

                pub fn apply(sink: *@This(), value: *const walker.Value, finding: Finding) !Flow {
                    const masker = sink.masker;
                    if (!value.owns(finding.end)) return .next;
                    masker.stats.findings += 1;
                    const action = sink.policy.actionFor(finding.detector) orelse return .next;
                    if (masker.rewriter.needsFlush()) {
                        try masker.rewriter.flushTo(masker.walker.holdFrom(), sink.out);
                    }
                    if (action == .drop) {
                        if (value.member) |member| {
                            masker.dropMember(member);
                            return .value_done;
                        }
                    }
                    if (value.encoding == .json_number) {
                        try masker.maskNumber(value, finding, action);
                        return .value_done;
                    }
                    try masker.maskSpan(value, finding, action);
                    return .next;
                }
            };
        }

        fn dropMember(self: *Self, member: walker.Member) void {
            self.rewriter.addDrop(member.start, member.end, if (member.first) member.separator else null) catch {
                self.stats.unmasked += 1;
                return;
            };
            self.stats.dropped += 1;
        }

        /// Rewrites the raw bytes of one finding; the part of it an earlier
        /// edit already covers is left to that edit.
        fn maskSpan(self: *Self, value: *const walker.Value, finding: Finding, action: actions.Action) !void {
            if (value.joined) {
                const decoded = actions.apply(action, value.bytes[finding.start..finding.end], &self.scratch);
                return self.maskJoined(value, finding.start, finding.end, decoded);
            }
            const editable = self.rewriter.editableFrom();
            var start = finding.start;
            if (value.raw.rawStartOf(start) < editable) {
                if (value.raw.rawStartOf(start) < self.rewriter.tail_start) self.stats.unmasked += 1;
                start = value.raw.decodedAtOrAfter(editable, @intCast(value.bytes.len));
                if (start >= finding.end) return;
            }
            const decoded = actions.apply(action, value.bytes[start..finding.end], &self.scratch);
            const encoded = try encode.encode(value.encoding, decoded, self.rewriter.replacementSpace());
            self.rewriter.addEdit(value.raw.rawStartOf(start), value.raw.rawEndOf(finding.end), encoded.len) catch |err| switch (err) {
                error.AlreadyEmitted => {
                    self.stats.unmasked += 1;
                    return;
                },
                else => return err,
            };
            self.stats.masked += 1;
        }

        /// A finding in a value joined from several SSE events: one edit per
        /// event's part, so the framing between them stays. A replacement as
        /// long as the value (partial, format-preserving) is cut where the
        /// value is, so each part keeps its length; any other (a placeholder,
        /// a token) goes whole into the first part and the later parts are
        /// emptied. Cutting inside a UTF-8 character would leave invalid text
        /// in an event, so such a replacement also goes whole into the first.
        /// A part behind an edit already made is fine when earlier edits (an
        /// overlapping finding's) cover it; otherwise (another value's edit in
        /// the gap came first, or the bytes have gone) it counts as unmasked.
        fn maskJoined(self: *Self, value: *const walker.Value, start: u32, end: u32, decoded: []const u8) !void {
            const split = decoded.len == end - start and cutsOnCharacters(value.raw, start, end, decoded);
            var part_start = start;
            var unmasked = false;
            // Each turn moves past one gap, so this ends.
            while (part_start < end) {
                const part_end = value.raw.gapInside(part_start, end) orelse end;
                assert(part_end > part_start);
                defer part_start = part_end;
                var from = part_start;
                const editable = self.rewriter.editableFrom();
                if (value.raw.rawStartOf(from) < editable) {
                    const behind_end = @min(editable, value.raw.rawEndOf(part_end));
                    if (!self.rewriter.covers(value.raw.rawStartOf(from), behind_end)) {
                        unmasked = true;
                        continue;
                    }
                    from = value.raw.decodedAtOrAfter(editable, part_end);
                    if (from >= part_end) continue;
                }
                const replacement = if (split)
                    decoded[from - start .. part_end - start]
                else if (part_start == start) decoded else decoded[0..0];
                const encoded = try encode.encode(value.encoding, replacement, self.rewriter.replacementSpace());
                self.rewriter.addEdit(value.raw.rawStartOf(from), value.raw.rawEndOf(part_end), encoded.len) catch |err| switch (err) {
                    error.AlreadyEmitted => unmasked = true,
                    else => return err,
                };
            }
            if (unmasked) self.stats.unmasked += 1 else self.stats.masked += 1;
        }

        /// True when every gap in `(start, end)` falls on a character start of `decoded`.
        fn cutsOnCharacters(raw: walker.RawMap, start: u32, end: u32, decoded: []const u8) bool {
            var at = start;
            while (raw.gapInside(at, end)) |gap| : (at = gap) {
                if ((decoded[gap - start] & 0xC0) == 0x80) return false;
            }
            return true;
        }

        /// A number is rewritten as a whole token, so a replacement that is
        /// not a number can become a JSON string.
        fn maskNumber(self: *Self, value: *const walker.Value, finding: Finding, action: actions.Action) !void {
            const token = value.bytes;
            const masked = actions.apply(action, token[finding.start..finding.end], self.scratch[token.len..]);
            var composed = self.scratch[0 .. token.len + masked.len + token.len];
            var len: usize = 0;
            for ([_][]const u8{ token[0..finding.start], masked, token[finding.end..] }) |part| {
                std.mem.copyForwards(u8, composed[len .. len + part.len], part);
                len += part.len;
            }
            const encoded = try encode.encode(.json_number, composed[0..len], self.rewriter.replacementSpace());
            if (value.token_start < self.rewriter.editableFrom()) {
                self.stats.unmasked += 1;
                return;
            }
            try self.rewriter.addEdit(value.token_start, value.token_end, encoded.len);
            self.stats.masked += 1;
        }
    };
}

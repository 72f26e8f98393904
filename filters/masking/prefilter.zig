//! Which scan automata could find anything in a text at all, decided from two facts
//! the tables fix, so values that cannot hold a finding are not scanned (in API
//! traffic: most keys and many short values; each scan has a fixed cost per automaton).
//!
//! - Length: every finding of an automaton is at least as long as its shortest pattern.
//! - Required bytes: reaching any matching state of an automaton takes a transition on
//!   one of a set of bytes. Found at load time: starting from "every byte class
//!   required", classes are released commonest first (letters, space, quote, ...) while
//!   no matching state is reachable from a start state over the released classes and
//!   the end-of-input class. A text without any required byte keeps the automaton where
//!   released bytes lead, so it never reports a match.
//!
//! - Counts (`match_shape.zig`): every match of a pattern holds at least so many digits,
//!   letters of each case and separators, and a run of so many digits. An automaton none
//!   of whose patterns a text's counts meet finds nothing in it.
//!
//! All are necessary conditions, so a text this rules out for every automaton holds no
//! finding; the engine scans everything else exactly as before.
//!
//! Keyed values are scanned as `key: value` (engine_scanner.zig), and only findings
//! reaching into the value count. For an automaton none of whose patterns can match
//! across the separator (or from inside it) into the value, such a finding lies
//! wholly in the value, so the value alone decides: the ':' of the separator no
//! longer wakes the IP/date automaton for every keyed value.

const std = @import("std");
const assert = std.debug.assert;
const engine = @import("engine");

const Automaton = engine.tables.Automaton;
const scan_automata_max = engine.limits.scan_automata_max;
const match_shape = @import("match_shape.zig");

pub const Prefilter = struct {
    /// Per byte value: the scan automata (bit per index) for which it is a required byte.
    required: [256]u64,
    /// Per scan automaton: the shortest match of its patterns.
    min_length: [scan_automata_max]u32,
    /// Per text length up to `short_text_max`: the automata whose shortest match fits.
    fits: [short_text_max + 1]u64,
    /// Automata this cannot judge (a match reachable without any byte): always possible.
    always: u64,
    /// Automata with a pattern whose match can hold `key_separator` (or a tail of it,
    /// starting inside it) and a byte after it.
    crossing: u64,
    /// The counts the automata's patterns need (`match_shape.zig`).
    need_table: match_shape.NeedTable,
    /// Automata each of whose patterns needs some count beyond a length, so a text's
    /// counts may rule them out.
    counted: u64,
    scan_count: u32,

    /// Works out the required bytes of every scan automaton of `tables`; `allocator`
    /// gives the search's scratch (one byte and one u32 per state), freed before return.
    pub fn init(self: *Prefilter, tables: *const engine.Tables, allocator: std.mem.Allocator) error{OutOfMemory}!void {
        comptime assert(scan_automata_max <= 64);
        assert(tables.scan_count > 0 and tables.scan_count <= scan_automata_max);
        self.scan_count = tables.scan_count;
        self.always = 0;
        self.crossing = 0;
        @memset(&self.required, 0);
        @memset(self.min_length[0..tables.scan_count], std.math.maxInt(u32));
        for (tables.patterns[0..tables.pattern_count]) |pattern| {
            const length = &self.min_length[pattern.scan_automaton];
            length.* = @min(length.*, pattern.min_length);
        }
        var states_max: u32 = 0;
        for (tables.scan[0..tables.scan_count]) |automaton_index| {
            states_max = @max(states_max, tables.automata[automaton_index].state_count);
        }
        for (tables.patterns[0..tables.pattern_count]) |pattern| {
            states_max = @max(states_max, tables.automata[pattern.forward].state_count);
        }
        const search = try Search.init(allocator, states_max);
        defer search.deinit(allocator);
        for (tables.patterns[0..tables.pattern_count]) |pattern| {
            if (self.crossing & bit(pattern.scan_automaton) != 0) continue;
            if (search.holdsSeparator(&tables.automata[pattern.forward])) self.crossing |= bit(pattern.scan_automaton);
        }
        for (tables.scan[0..tables.scan_count], 0..) |automaton_index, index| {
            const automaton = &tables.automata[automaton_index];
            var required_classes: ClassSet = undefined;
            if (!search.requiredClasses(automaton, &required_classes)) {
                self.always |= bit(index);
                continue;
            }
            for (&self.required, 0..) |*mask, byte| {
                if (required_classes.isSet(automaton.classes[byte])) mask.* |= bit(index);
            }
        }
        for (&self.fits, 0..) |*fits, length| fits.* = self.fitting(length);
        try self.initNeeds(tables, allocator);
    }

    fn initNeeds(self: *Prefilter, tables: *const engine.Tables, allocator: std.mem.Allocator) error{OutOfMemory}!void {
        var states_max: u32 = 0;
        for (tables.patterns[0..tables.pattern_count]) |pattern| {
            states_max = @max(states_max, tables.automata[pattern.forward].state_count);
        }
        const search = try match_shape.NeedSearch.init(allocator, states_max);
        defer search.deinit(allocator);
        self.counted = 0;
        self.need_table.init();
        for (0..tables.scan_count) |index| {
            var all_counted = true;
            var any = false;
            for (tables.patterns[0..tables.pattern_count]) |pattern| {
                if (pattern.scan_automaton != index) continue;
                const need = search.needOf(&tables.automata[pattern.forward], pattern.min_length);
                any = true;
                all_counted = all_counted and match_shape.countsMatter(need) and
                    self.need_table.add(@intCast(index), need);
            }
            if (all_counted and any) self.counted |= bit(index);
        }
        self.need_table.finish();
    }

    /// The scan automata (bit per index) that could report a finding in `text`; 0
    /// means the text holds none. `parts` are scanned as one text, in order.
    pub fn possible(self: *const Prefilter, parts: []const []const u8) u64 {
        var length: usize = 0;
        for (parts) |part| length += part.len;
        const long_enough = self.fitsIn(length);
        if (long_enough == 0) return self.always;
        var present: u64 = 0;
        for (parts) |part| present |= self.requiredIn(part);
        const result = (present & long_enough) | self.always;
        if (result & self.counted == 0) return result;
        var shaper = match_shape.Shaper{};
        for (parts) |part| shaper.add(part);
        const shape = shaper.shape() orelse return result;
        return self.keepMet(result, result & self.counted, shape);
    }

    /// `possible` for `prefix` (a key and `key_separator`, or nothing) followed by
    /// `value`, when only findings reaching into the value count.
    pub fn possibleKeyed(self: *const Prefilter, prefix: []const u8, value: []const u8) u64 {
        if (prefix.len == 0) return self.possible(&.{value});
        assert(std.mem.endsWith(u8, prefix, key_separator));
        const in_value = self.requiredIn(value);
        const whole = ((in_value | self.requiredIn(prefix)) & self.fitsIn(prefix.len + value.len)) | self.always;
        const alone = (in_value & self.fitsIn(value.len)) | self.always;
        var result = (whole & self.crossing) | (alone & ~self.crossing);
        // Automata that cannot cross the separator are judged by the value's counts,
        // the others by the whole text's.
        const by_value = result & self.counted & ~self.crossing;
        const by_text = result & self.counted & self.crossing;
        if (by_value | by_text == 0) return result;
        var back = match_shape.Shaper{};
        back.add(value);
        const value_shape = back.shape() orelse return result;
        if (by_value != 0) result = self.keepMet(result, by_value, value_shape);
        if (by_text != 0) {
            var front = match_shape.Shaper{};
            front.add(prefix);
            if (front.then(back).shape()) |text_shape| result = self.keepMet(result, by_text, text_shape);
        }
        return result;
    }

    /// `candidates` less the automata of `judged` none of whose needs `have` meets.
    fn keepMet(self: *const Prefilter, candidates: u64, judged: u64, have: match_shape.Shape) u64 {
        const unmet = self.need_table.unmet(have);
        var result = candidates;
        var rest = judged;
        while (rest != 0) : (rest &= rest - 1) {
            const index = @ctz(rest);
            if (self.need_table.rulesOut(index, unmet)) result &= ~bit(index);
        }
        return result;
    }

    /// The automata for which `bytes` holds a required byte.
    fn requiredIn(self: *const Prefilter, bytes: []const u8) u64 {
        var present: u64 = 0;
        for (bytes) |byte| present |= self.required[byte];
        return present;
    }

    fn fitsIn(self: *const Prefilter, length: usize) u64 {
        return if (length <= short_text_max) self.fits[length] else self.fitting(length);
    }

    /// The automata whose shortest match fits in `length` bytes.
    fn fitting(self: *const Prefilter, length: usize) u64 {
        var mask: u64 = 0;
        for (self.min_length[0..self.scan_count], 0..) |min_length, index| {
            if (length >= min_length) mask |= bit(index);
        }
        return mask;
    }
};

/// Texts up to this long look their length up; most keys and values are shorter.
const short_text_max = 64;

/// What engine_scanner.zig puts between a key and its value.
pub const key_separator = ": ";

fn bit(index: usize) u64 {
    return @as(u64, 1) << @intCast(index);
}

/// Byte classes of one automaton (at most 256 plus end of input).
const ClassSet = std.StaticBitSet(257);

/// Reachability over an automaton's states, with scratch for the largest one. The
/// states reachable over the released classes only grow as classes are released, so
/// each trial extends them and is undone when it reaches a match: every state is
/// stepped once per class kept, not once per trial.
const Search = struct {
    /// 1 for states in `reached`.
    visited: []u8,
    /// The reachable states; each at most once, so `state_count` entries suffice.
    reached: []u32,
    /// States after the separator (`holdsSeparator`); each at most once.
    after: []u32,

    fn init(allocator: std.mem.Allocator, states_max: u32) error{OutOfMemory}!Search {
        const visited = try allocator.alloc(u8, states_max);
        errdefer allocator.free(visited);
        const reached = try allocator.alloc(u32, states_max);
        errdefer allocator.free(reached);
        return .{ .visited = visited, .reached = reached, .after = try allocator.alloc(u32, states_max) };
    }

    fn deinit(self: Search, allocator: std.mem.Allocator) void {
        allocator.free(self.after);
        allocator.free(self.reached);
        allocator.free(self.visited);
    }

    /// True when some match of the forward (anchored) automaton `forward` can hold
    /// `key_separator`, or a tail of it, followed by at least one byte.
    /// Over-approximates: every state reachable from a start counts as a match prefix.
    fn holdsSeparator(self: Search, forward: *const Automaton) bool {
        const class_count = forward.class_count;
        const eoi = forward.eoiClass();
        assert(forward.state_count <= self.visited.len);
        // Phase 1: the states reachable from the starts over bytes.
        @memset(self.visited[0..forward.state_count], 0);
        var reached_len: usize = 0;
        for (forward.starts) |state| self.mark(forward, state, 1, self.reached, &reached_len);
        var next_index: usize = 0;
        while (next_index < reached_len) : (next_index += 1) {
            for (0..eoi) |class| self.mark(forward, forward.step(self.reached[next_index], @intCast(class)), 1, self.reached, &reached_len);
        }
        // Phase 2: the states after the separator (from any state: the match may start
        // in the key) or after a tail of it (from a start: the match starts inside
        // it), and one more byte (that byte is in the value); a match recognised from
        // them on reaches into the value.
        var after_len: usize = 0;
        for (self.reached[0..reached_len]) |state| self.stepPast(forward, state, key_separator, &after_len);
        for (1..key_separator.len) |first| {
            for (forward.starts) |state| self.stepPast(forward, state, key_separator[first..], &after_len);
        }
        // Phase 3: is a matching state one step or more past them?
        next_index = 0;
        while (next_index < after_len) : (next_index += 1) {
            for (0..class_count) |class| {
                const next = forward.step(self.after[next_index], @intCast(class));
                if (forward.isMatch(next)) return true;
                if (class != eoi) self.mark(forward, next, 2, self.after, &after_len);
            }
        }
        return false;
    }

    /// Adds to `after` the states `bytes` and one more byte lead `state` to.
    fn stepPast(self: Search, forward: *const Automaton, state: u32, bytes: []const u8, after_len: *usize) void {
        var at = state;
        for (bytes) |byte| at = if (at == 0) 0 else forward.stepByte(at, byte);
        if (at == 0) return;
        for (0..forward.eoiClass()) |class| self.mark(forward, forward.step(at, @intCast(class)), 2, self.after, after_len);
    }

    /// Appends non-dead `state` to `list` unless already marked `phase`.
    fn mark(self: Search, automaton: *const Automaton, state: u32, phase: u8, list: []u32, len: *usize) void {
        if (state == 0) return;
        const index = state / automaton.class_count;
        if (self.visited[index] >= phase) return;
        self.visited[index] = phase;
        assert(len.* < list.len);
        list[len.*] = state;
        len.* += 1;
    }

    /// Releases classes commonest first while no match is reachable; false when a
    /// match is reachable over the end-of-input class alone (or the record has more
    /// classes than bytes).
    fn requiredClasses(self: Search, automaton: *const Automaton, required: *ClassSet) bool {
        const class_count = automaton.class_count;
        assert(class_count >= 2);
        // 256 byte classes and end of input at most; a record with more is left unfiltered.
        if (class_count > 257) return false;
        @memset(self.visited[0..automaton.state_count], 0);
        var released = ClassSet.initEmpty();
        released.set(automaton.eoiClass());
        var reached_len: usize = 0;
        for (automaton.starts) |state| {
            if (!self.visit(automaton, state, &reached_len)) return false;
        }
        if (!self.extend(automaton, &released, 0, &reached_len)) return false;
        var weights = [_]u32{0} ** 257;
        for (automaton.classes, 0..) |class, byte| weights[class] += commonness(@intCast(byte));
        var tried = ClassSet.initEmpty();
        tried.set(automaton.eoiClass());
        // Each turn tries one more class, so this runs class_count - 1 times.
        for (0..class_count - 1) |_| {
            const class = heaviestUntried(weights[0..class_count], &tried);
            tried.set(class);
            if (self.tryRelease(automaton, &released, class, &reached_len)) released.set(class);
        }
        required.* = ClassSet.initEmpty();
        for (0..class_count - 1) |class| {
            if (!released.isSet(class)) required.set(class);
        }
        return true;
    }

    /// Adds the states `class` leads to from the reached ones, and all they reach over
    /// the released classes; keeps them (true) unless a match is among them.
    fn tryRelease(self: Search, automaton: *const Automaton, released: *const ClassSet, class: usize, reached_len: *usize) bool {
        const before = reached_len.*;
        var with_class = released.*;
        with_class.set(class);
        var ok = true;
        for (self.reached[0..before]) |state| {
            if (!self.visit(automaton, automaton.step(state, @intCast(class)), reached_len)) {
                ok = false;
                break;
            }
        }
        if (ok) ok = self.extend(automaton, &with_class, before, reached_len);
        if (ok) return true;
        for (self.reached[before..reached_len.*]) |state| self.visited[state / automaton.class_count] = 0;
        reached_len.* = before;
        return false;
    }

    /// Steps every reached state from index `from` on over `classes`, adding what is
    /// new; false as soon as a match is reached.
    fn extend(self: Search, automaton: *const Automaton, classes: *const ClassSet, from: usize, reached_len: *usize) bool {
        var next_index = from;
        // Each state enters `reached` once, so this ends after state_count turns at most.
        while (next_index < reached_len.*) : (next_index += 1) {
            const state = self.reached[next_index];
            for (0..automaton.class_count) |class| {
                if (!classes.isSet(class)) continue;
                if (!self.visit(automaton, automaton.step(state, @intCast(class)), reached_len)) return false;
            }
        }
        return true;
    }

    /// Adds `state` to the reached ones if new; false when it is a matching state.
    fn visit(self: Search, automaton: *const Automaton, state: u32, reached_len: *usize) bool {
        const index = state / automaton.class_count;
        if (self.visited[index] != 0) return true;
        self.visited[index] = 1;
        assert(reached_len.* < automaton.state_count);
        self.reached[reached_len.*] = state;
        reached_len.* += 1;
        return !automaton.isMatch(state);
    }
};

fn heaviestUntried(weights: []const u32, tried: *const ClassSet) usize {
    var heaviest: ?usize = null;
    for (weights, 0..) |weight, class| {
        if (tried.isSet(class)) continue;
        if (heaviest == null or weight > weights[heaviest.?]) heaviest = class;
    }
    return heaviest.?;
}

/// How common a byte is in API traffic, so the commonest classes are released first
/// and the required bytes that remain are rare ones.
fn commonness(byte: u8) u32 {
    return switch (byte) {
        'a'...'z', ' ', '"' => 100,
        'A'...'Z' => 30,
        '0'...'9' => 20,
        '.', ',', '-', '_', ':', '/' => 10,
        else => 1,
    };
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
/// The engine's fixture tables: detector 0 is credit-card, 1 email-address, 2 us-ssn.
const fixture = @import("engine_fixture");

/// What every test here uses: the fixture's tables, a prefilter over them, a scanner.
const Setup = struct {
    tables: *engine.Tables,
    prefilter: Prefilter,
    scanner: *engine.Scanner,

    fn init(self: *Setup) !void {
        self.tables = try testing.allocator.create(engine.Tables);
        errdefer testing.allocator.destroy(self.tables);
        var where: u32 = 0;
        try self.tables.load(&fixture.tables, &where);
        try self.prefilter.init(self.tables, testing.allocator);
        self.scanner = try testing.allocator.create(engine.Scanner);
    }

    fn deinit(self: *Setup) void {
        testing.allocator.destroy(self.scanner);
        testing.allocator.destroy(self.tables);
    }

    /// The engine's findings in `text`, one final chunk, with only the automata in
    /// `candidates` stepped.
    fn findings(self: *Setup, text: []const u8, candidates: u64) !Found {
        var found = Found{};
        self.scanner.init(self.tables);
        self.scanner.feed(text, true);
        self.scanner.keepOnly(candidates);
        var batch_items: [16]engine.Finding = undefined;
        while (true) {
            const batch = self.scanner.collect(&batch_items);
            try found.appendSlice(batch_items[0..batch.count]);
            if (batch.done) return found;
        }
    }

    /// Every finding of the engine in `text`.
    fn allFindings(self: *Setup, text: []const u8) !Found {
        return self.findings(text, std.math.maxInt(u64));
    }
};

const Found = std.BoundedArray(engine.Finding, 64);

/// The findings of `found` that end past `offset`.
fn endingPast(found: *const Found, offset: usize) !Found {
    var result = Found{};
    for (found.slice()) |finding| {
        if (finding.end > offset) try result.append(finding);
    }
    return result;
}

test "texts ruled out hold no finding, and texts with findings are never ruled out" {
    var setup: Setup = undefined;
    try setup.init();
    defer setup.deinit();
    const prefilter = &setup.prefilter;
    const texts = [_][]const u8{
        "",                            "sku",              "name: Ken Dijkstra",
        "price",                       "ssn: 536221234",   "card: 4111 1111 1111 1111",
        "email: jane.doe@example.com", "SSN: 536-22-1234", "golf juliet alpha echo kilo",
        "jane@example.com",            "4111111111111111", "note: call 536-22-1234 today",
        "a.b@c.de",                    "ord_77a67bea9505", "SKU-511563",
    };
    var ruled_out: usize = 0;
    for (texts) |text| {
        const possible = prefilter.possible(&.{text});
        const found = try setup.allFindings(text);
        if (found.len > 0) try testing.expect(possible != 0);
        ruled_out += @intFromBool(possible == 0);
    }
    // Keys and words without digits or '@' are ruled out.
    try testing.expect(prefilter.possible(&.{"customer"}) == 0);
    try testing.expect(prefilter.possible(&.{ "name", ": ", "Ken Dijkstra" }) == 0);
    try testing.expect(ruled_out >= 4);
}

test "counts rule out values that hold the bytes a match needs, but too few of them" {
    var setup: Setup = undefined;
    try setup.init();
    defer setup.deinit();
    const prefilter = &setup.prefilter;
    var bytes_only = setup.prefilter;
    bytes_only.counted = 0;
    for ([_][]const u8{ "SKU-511563", "ord_77a67bea9505", "513.43", "+44 20 7946" }) |value| {
        try testing.expect(bytes_only.possibleKeyed("sku: ", value) != 0);
        try testing.expectEqual(@as(u64, 0), prefilter.possibleKeyed("sku: ", value));
        try testing.expectEqual(@as(u64, 0), prefilter.possible(&.{value}));
    }
    // Enough of each: the automata stay in.
    try testing.expect(prefilter.possibleKeyed("ssn: ", "536-22-1234") != 0);
    try testing.expect(prefilter.possible(&.{ "mail jane", ".doe@", "example.com" }) != 0);
}

test "every byte, alone and in short runs, agrees with the engine" {
    var setup: Setup = undefined;
    try setup.init();
    defer setup.deinit();
    const prefilter = &setup.prefilter;
    // Matching texts built around each byte: whatever the engine finds, the
    // prefilter must allow.
    const frames = [_][2][]const u8{
        .{ "4111 1111 1111 111", "" },
        .{ "jane.doe", "example.com" },
        .{ "ssn ", "36221234" },
        .{ "", "111-22-3333" },
    };
    for (frames) |frame| {
        for (0..256) |byte| {
            var text: [64]u8 = undefined;
            const parts = [_][]const u8{ frame[0], &.{@intCast(byte)}, frame[1] };
            var len: usize = 0;
            for (parts) |part| {
                @memcpy(text[len .. len + part.len], part);
                len += part.len;
            }
            if ((try setup.allFindings(text[0..len])).len > 0) {
                try testing.expect(prefilter.possible(&parts) != 0);
            }
        }
    }
}

test "the engine finds the same in random texts with and without the prefilter" {
    var setup: Setup = undefined;
    try setup.init();
    defer setup.deinit();
    const prefilter = &setup.prefilter;
    // Bytes the fixture's patterns are made of, and some they are not.
    const alphabet = "0123456789 -.@_abcdejmoxzSN:/\"";
    var random = std.Random.DefaultPrng.init(0x6d657368);
    var text: [48]u8 = undefined;
    var seen_findings: usize = 0;
    for (0..2000) |_| {
        const len = random.random().uintAtMost(usize, text.len);
        for (text[0..len]) |*byte| byte.* = alphabet[random.random().uintLessThan(usize, alphabet.len)];
        const all = try setup.allFindings(text[0..len]);
        const possible = prefilter.possible(&.{text[0..len]});
        const kept = try setup.findings(text[0..len], possible);
        try testing.expectEqualSlices(engine.Finding, all.slice(), kept.slice());
        seen_findings += all.len;
    }
    // The texts did exercise the engine.
    try testing.expect(seen_findings > 0);
}

test "keyed values: the value alone decides for automata that cannot match across the separator" {
    var setup: Setup = undefined;
    try setup.init();
    defer setup.deinit();
    const prefilter = &setup.prefilter;
    // Card numbers take spaces but not ':', emails and SSNs neither: none crosses.
    try testing.expectEqual(@as(u64, 0), prefilter.crossing);
    try testing.expect(prefilter.possibleKeyed("card: ", "Ken") == 0);
    var all_crossing = setup.prefilter;
    all_crossing.crossing = engine.scanner.lowBits(setup.tables.scan_count);
    const alphabet = "0123456789 -.@_abcdejmoxzSN:/";
    var random = std.Random.DefaultPrng.init(0x6b6579);
    var text: [64]u8 = undefined;
    var seen_findings: usize = 0;
    for (0..3000) |_| {
        const key_len = random.random().uintAtMost(usize, 12);
        const value_len = random.random().uintAtMost(usize, 24);
        const prefix_len = key_len + key_separator.len;
        for (text[0..key_len]) |*byte| byte.* = alphabet[random.random().uintLessThan(usize, alphabet.len)];
        @memcpy(text[key_len..prefix_len], key_separator);
        const len = prefix_len + value_len;
        for (text[prefix_len..len]) |*byte| byte.* = alphabet[random.random().uintLessThan(usize, alphabet.len)];
        const all = try setup.allFindings(text[0..len]);
        // Only findings reaching into the value count.
        const reaching = try endingPast(&all, prefix_len);
        // As the fixture's automata are, and as if all could cross (judged by the
        // whole text's bytes and counts).
        for ([_]*const Prefilter{ prefilter, &all_crossing }) |judge| {
            const possible = judge.possibleKeyed(text[0..prefix_len], text[prefix_len..len]);
            const kept = try setup.findings(text[0..len], possible);
            const kept_reaching = try endingPast(&kept, prefix_len);
            try testing.expectEqualSlices(engine.Finding, reaching.slice(), kept_reaching.slice());
        }
        seen_findings += reaching.len;
    }
    try testing.expect(seen_findings > 0);
}

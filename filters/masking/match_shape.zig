//! How many digits, letters and separators a match needs, and a text has.
//!
//! Per pattern, found once at load from its exact forward automaton: the fewest bytes
//! of each category (`Category`) any match holds, its longest run of digits at least, and
//! its length. Per text, the same counts (`shapeOf`). A text whose counts fall short
//! of every pattern of a scan automaton holds no match of it, so the prefilter leaves
//! the automaton out: `SKU-511563` has six digits and no run of seven, so the SSN,
//! card and national-id automata need not step over it.
//!
//! The counts include the byte after a match when the automaton reads it (its flag is
//! set one byte late, on the context byte). That byte is in the text too (or it is the
//! end of input, which counts as nothing), so every count stays a necessary condition.

const std = @import("std");
const assert = std.debug.assert;
const engine = @import("engine");

const Automaton = engine.tables.Automaton;
const scan_automata_max = engine.limits.scan_automata_max;

/// Byte categories counted, one byte lane each of `Counts`.
pub const Category = enum(u3) { digit, upper, lower, dash, dot, colon, slash, at };

/// Eight counts, one per `Category`, in the bytes of a u64 (lane = category). Lanes
/// stay below 128, so `meets` compares all eight with one subtraction.
pub const Counts = u64;

/// Counts of digits, letters and separators, of the longest digit run and of bytes.
pub const Tally = struct {
    counts: Counts,
    digit_run: u8,
    length: u8,

    pub fn count(self: Tally, category: Category) u8 {
        return lane(self.counts, category);
    }
};

/// What every match of a pattern holds at least (counts capped at `need_max`).
pub const Need = Tally;

/// What a text holds; only texts of up to `text_bytes_max` bytes are counted.
pub const Shape = Tally;

/// Longest text counted: its counts fit a lane below 128. Longer texts are judged by
/// their bytes and length alone (they are rare among keys and values, and scanned anyway).
pub const text_bytes_max = 127;

/// Largest need worked out: higher counts are rare in keys and short values, and the
/// search's scratch grows with it.
pub const need_max: u8 = 16;

const high_bits: u64 = 0x8080_8080_8080_8080;

/// Where `category`'s lane starts in `Counts`.
fn laneShift(category: Category) u6 {
    return @as(u6, @intFromEnum(category)) * 8;
}

fn lane(counts: Counts, category: Category) u8 {
    return @truncate(counts >> laneShift(category));
}

fn inCategory(category: Category, byte: u8) bool {
    return switch (category) {
        .digit => byte >= '0' and byte <= '9',
        .upper => byte >= 'A' and byte <= 'Z',
        .lower => byte >= 'a' and byte <= 'z',
        .dash => byte == '-',
        .dot => byte == '.',
        .colon => byte == ':',
        .slash => byte == '/',
        .at => byte == '@',
    };
}

/// Per byte: 1 in the lane of its category.
const increments: [256]Counts = blk: {
    @setEvalBranchQuota(256 * 8 * 8);
    var table: [256]Counts = undefined;
    for (&table, 0..) |*entry, byte| {
        entry.* = 0;
        for (std.enums.values(Category)) |category| {
            if (inCategory(category, byte)) entry.* |= @as(Counts, 1) << laneShift(category);
        }
    }
    break :blk table;
};

/// Counts parts as one text.
pub const Shaper = struct {
    counts: Counts = 0,
    run: u8 = 0,
    longest_run: u8 = 0,
    length: usize = 0,

    pub fn add(self: *Shaper, bytes: []const u8) void {
        self.length += bytes.len;
        if (self.length > text_bytes_max) return;
        var counts = self.counts;
        var run = self.run;
        var longest_run = self.longest_run;
        for (bytes) |byte| {
            counts += increments[byte];
            run = if (byte -% '0' < 10) run + 1 else 0;
            longest_run = @max(longest_run, run);
        }
        self.counts = counts;
        self.run = run;
        self.longest_run = longest_run;
    }

    /// The counts of this text followed by `after`'s, for a text that ends in a
    /// non-digit (a key and its separator), so no digit run joins across them.
    pub fn then(self: Shaper, after: Shaper) Shaper {
        assert(self.run == 0);
        const length = self.length + after.length;
        if (length > text_bytes_max) return .{ .length = length };
        return .{
            .counts = self.counts + after.counts,
            .run = after.run,
            .longest_run = @max(self.longest_run, after.longest_run),
            .length = length,
        };
    }

    /// Null for a text longer than `text_bytes_max`.
    pub fn shape(self: *const Shaper) ?Shape {
        if (self.length > text_bytes_max) return null;
        assert(self.counts & high_bits == 0);
        return .{ .counts = self.counts, .digit_run = self.longest_run, .length = @intCast(self.length) };
    }
};

pub fn shapeOf(bytes: []const u8) ?Shape {
    var shaper = Shaper{};
    shaper.add(bytes);
    return shaper.shape();
}

/// True when a text of shape `have` holds every count of `need`. Lanes of both are
/// below 128: setting each lane's top bit of `have` keeps the subtraction from
/// borrowing across lanes, and the bit survives exactly where have >= need.
pub fn meets(have: Shape, need: Need) bool {
    const lanes_met = ((have.counts | high_bits) - need.counts) & high_bits == high_bits;
    return lanes_met and have.digit_run >= need.digit_run and have.length >= need.length;
}

/// True when every text that meets `stronger` meets `weaker` (lane by lane no more).
pub fn weakerOrEqual(weaker: Need, stronger: Need) bool {
    // A text holding exactly `stronger` meets `weaker`.
    return meets(stronger, weaker);
}

/// True when `need` asks for more than a length (a text's counts can rule it out
/// beyond what its length alone does).
pub fn countsMatter(need: Need) bool {
    return need.counts != 0 or need.digit_run != 0;
}

/// The needs of the scan automata, laid out so that a text's shape is judged against
/// all of them at once (`unmet`): a handful of table lookups, whatever the number of
/// candidates. Each automaton keeps only its weakest needs (a text meeting a stronger
/// need meets a weaker one).
pub const NeedTable = struct {
    needs: [needs_max]Need,
    count: u32,
    /// Per scan automaton: its needs, bit per index into `needs`.
    owned: [scan_automata_max]u64,
    /// Per lane (the categories in order, then the digit run) and count: the needs
    /// asking for more.
    above: [category_count + 1][@as(usize, need_max) + 1]u64,
    /// Per text length: the needs asking for a longer text.
    longer: [text_bytes_max + 1]u64,

    /// Needs one table holds; automata past the room are not judged by counts.
    pub const needs_max = 64;
    const category_count = std.enums.values(Category).len;

    pub fn init(self: *NeedTable) void {
        self.count = 0;
        @memset(&self.owned, 0);
    }

    /// Adds `need` to `automaton`'s; false when the table is full.
    pub fn add(self: *NeedTable, automaton: u32, need: Need) bool {
        assert(automaton < scan_automata_max);
        var rest = self.owned[automaton];
        while (rest != 0) : (rest &= rest - 1) {
            const known = self.needs[@ctz(rest)];
            if (weakerOrEqual(known, need)) return true;
        }
        rest = self.owned[automaton];
        while (rest != 0) : (rest &= rest - 1) {
            const index = @ctz(rest);
            if (weakerOrEqual(need, self.needs[index])) self.owned[automaton] &= ~(@as(u64, 1) << @intCast(index));
        }
        if (self.count == needs_max) return false;
        self.needs[self.count] = need;
        self.owned[automaton] |= @as(u64, 1) << @intCast(self.count);
        self.count += 1;
        return true;
    }

    /// Fills the lookups; call once every need is added.
    pub fn finish(self: *NeedTable) void {
        for (&self.above) |*row| @memset(row, 0);
        @memset(&self.longer, 0);
        for (self.needs[0..self.count], 0..) |need, index| {
            const need_bit = @as(u64, 1) << @intCast(index);
            for (std.enums.values(Category), 0..) |category, row| {
                for (0..need.count(category)) |value| self.above[row][value] |= need_bit;
            }
            for (0..need.digit_run) |value| self.above[category_count][value] |= need_bit;
            for (0..@min(need.length, text_bytes_max + 1)) |length| self.longer[length] |= need_bit;
        }
    }

    /// The needs (bit per index) a text of shape `have` falls short of.
    pub fn unmet(self: *const NeedTable, have: Shape) u64 {
        var result = self.longer[have.length] | self.above[category_count][@min(have.digit_run, need_max)];
        var counts = have.counts;
        for (self.above[0..category_count]) |*row| {
            result |= row[@min(@as(u8, @truncate(counts)), need_max)];
            counts >>= 8;
        }
        return result;
    }

    /// True when `have` meets none of `automaton`'s needs, given `unmet` for it.
    pub fn rulesOut(self: *const NeedTable, automaton: u32, unmet_needs: u64) bool {
        return self.owned[automaton] & ~unmet_needs == 0;
    }
};

/// Works out needs with scratch sized for automata of up to `states_max` states.
pub const NeedSearch = struct {
    /// Per node (state index, digit run so far): the least level it was reached at,
    /// `unseen` before; and whether it was expanded.
    level: []u8,
    expanded: []bool,
    /// Nodes in the order they were reached; a node may enter twice (its level lowered).
    order: []u32,
    states_max: u32,

    const runs = @as(u32, need_max) + 1;
    const unseen: u8 = 255;

    pub fn init(allocator: std.mem.Allocator, states_max: u32) error{OutOfMemory}!NeedSearch {
        const nodes = states_max * runs;
        const level = try allocator.alloc(u8, nodes);
        errdefer allocator.free(level);
        const expanded = try allocator.alloc(bool, nodes);
        errdefer allocator.free(expanded);
        return .{ .level = level, .expanded = expanded, .order = try allocator.alloc(u32, 2 * nodes), .states_max = states_max };
    }

    pub fn deinit(self: NeedSearch, allocator: std.mem.Allocator) void {
        allocator.free(self.order);
        allocator.free(self.expanded);
        allocator.free(self.level);
    }

    /// The counts every match of the anchored `forward` automaton needs; `min_length`
    /// is the pattern's shortest match.
    pub fn needOf(self: NeedSearch, forward: *const Automaton, min_length: u32) Need {
        assert(forward.state_count <= self.states_max);
        var need: Need = .{ .counts = 0, .digit_run = 0, .length = @intCast(@min(min_length, 255)) };
        for (std.enums.values(Category)) |category| {
            const inside = classesInside(forward, category);
            const least_count: Counts = self.least(forward, &inside, .count);
            need.counts |= least_count << laneShift(category);
        }
        const digits = classesInside(forward, .digit);
        need.digit_run = self.least(forward, &digits, .run);
        return need;
    }

    const Rule = enum {
        /// The level counts the steps on classes inside the category.
        count,
        /// The level is the longest run of consecutive steps inside the category.
        run,
    };

    /// The least level over paths from a start state to a matching state, capped at
    /// `need_max`; 0 when no match is reachable. Levels are swept upwards, and a node
    /// is expanded once, at its least level (a step never lowers a level).
    fn least(self: NeedSearch, forward: *const Automaton, inside: *const ClassSet, comptime rule: Rule) u8 {
        // No class lies inside the category (most patterns have no '@' or ':'): no step counts.
        if (inside.count() == 0) return 0;
        // Nodes are run-major, so the count rule (run always 0) uses the first states only.
        const nodes = forward.state_count * (if (rule == .run) runs else 1);
        @memset(self.level[0..nodes], unseen);
        @memset(self.expanded[0..nodes], false);
        var len: usize = 0;
        for (forward.starts) |state| self.reach(forward, state, 0, 0, &len);
        var current: u8 = 0;
        while (current <= need_max) : (current += 1) {
            var index: usize = 0;
            // Nodes reached during the sweep are appended and swept in turn.
            while (index < len) : (index += 1) {
                const node = self.order[index];
                if (self.level[node] != current or self.expanded[node]) continue;
                self.expanded[node] = true;
                const state = (node % forward.state_count) * forward.class_count;
                if (forward.isMatch(state)) return current;
                const run: u8 = @intCast(node / forward.state_count);
                for (0..forward.class_count) |class| {
                    const next = forward.step(state, @intCast(class));
                    const in = inside.isSet(class);
                    switch (rule) {
                        .count => self.reach(forward, next, 0, if (in) @min(current + 1, need_max) else current, &len),
                        .run => {
                            const next_run: u8 = if (in) @min(run + 1, need_max) else 0;
                            self.reach(forward, next, next_run, @max(current, next_run), &len);
                        },
                    }
                }
            }
        }
        return 0;
    }

    fn reach(self: NeedSearch, forward: *const Automaton, state: u32, run: u8, level: u8, len: *usize) void {
        if (state == 0) return;
        const node = @as(u32, run) * forward.state_count + state / forward.class_count;
        if (self.level[node] <= level) return;
        self.level[node] = level;
        assert(len.* < self.order.len);
        self.order[len.*] = node;
        len.* += 1;
    }
};

/// Byte classes of one automaton (at most 256 plus end of input).
const ClassSet = std.StaticBitSet(257);

/// The classes all of whose bytes are in `lane`'s category (end of input is none).
fn classesInside(automaton: *const Automaton, category: Category) ClassSet {
    var inside = ClassSet.initEmpty();
    var outside = ClassSet.initEmpty();
    for (automaton.classes, 0..) |class, byte| {
        if (inCategory(category, @intCast(byte))) inside.set(class) else outside.set(class);
    }
    return inside.differenceWith(outside);
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

test "a text's shape counts categories, the longest digit run and the length" {
    const have = shapeOf("SKU-511563 a.b@c:d/e 12").?;
    const expected = [_]struct { Category, u8 }{
        .{ .digit, 8 }, .{ .upper, 3 }, .{ .lower, 5 }, .{ .dash, 1 },
        .{ .dot, 1 },   .{ .colon, 1 }, .{ .slash, 1 }, .{ .at, 1 },
    };
    for (expected) |entry| try testing.expectEqual(entry[1], have.count(entry[0]));
    try testing.expectEqual(@as(u8, 6), have.digit_run);
    try testing.expectEqual(@as(u8, 23), have.length);
    // Parts count as one text: a run carries across them.
    var shaper = Shaper{};
    shaper.add("ab12");
    shaper.add("345c");
    try testing.expectEqual(@as(u8, 5), shaper.shape().?.digit_run);
    // Longer texts are not counted (a lane must stay below 128).
    const longest = [_]u8{'7'} ** text_bytes_max;
    try testing.expectEqual(@as(u8, text_bytes_max), shapeOf(&longest).?.count(.digit));
    try testing.expectEqual(@as(?Shape, null), shapeOf(longest ++ "8"));
    shaper.add(&longest);
    try testing.expectEqual(@as(?Shape, null), shaper.shape());
    // A key and separator, then a value: as if counted in one pass.
    var front = Shaper{};
    front.add("card 12: ");
    var back = Shaper{};
    back.add("4111-1111 x9");
    var whole = Shaper{};
    whole.add("card 12: 4111-1111 x9");
    try testing.expectEqual(whole.shape(), front.then(back).shape());
    try testing.expectEqual(@as(?Shape, null), front.then(.{ .length = text_bytes_max }).shape());
}

test "meets compares every lane, the run and the length" {
    const nine_digits: Need = .{ .counts = 9, .digit_run = 4, .length = 9 };
    try testing.expect(meets(shapeOf("536221234").?, nine_digits));
    try testing.expect(meets(shapeOf("536-22-1234").?, nine_digits));
    try testing.expect(!meets(shapeOf("53622123").?, nine_digits));
    try testing.expect(!meets(shapeOf("536-22-123-4").?, nine_digits));
    try testing.expect(!meets(shapeOf("SKU-511563").?, nine_digits));
    // A lane holding more than the need never lends to its neighbour.
    const at_and_dot: Need = .{ .counts = (1 << 8 * 4) | (1 << 8 * 7), .digit_run = 0, .length = 3 };
    try testing.expect(meets(shapeOf("a@b.c").?, at_and_dot));
    try testing.expect(!meets(shapeOf("a@@@@@@@b").?, at_and_dot));
    try testing.expect(!meets(shapeOf("a.b.c.d.e").?, at_and_dot));
    const nine_in_a_run: Need = .{ .counts = 9, .digit_run = 9, .length = 9 };
    try testing.expect(weakerOrEqual(nine_digits, nine_in_a_run));
    try testing.expect(!weakerOrEqual(nine_in_a_run, nine_digits));
    try testing.expect(weakerOrEqual(nine_digits, nine_digits));
    try testing.expect(!weakerOrEqual(nine_digits, at_and_dot) and !weakerOrEqual(at_and_dot, nine_digits));
    try testing.expect(countsMatter(nine_digits));
    try testing.expect(!countsMatter(.{ .counts = 0, .digit_run = 0, .length = 20 }));
}

test "needs of the fixture's patterns: cards, emails and SSNs" {
    // The fixture (filters/engine/testdata): detector 0 is credit-card, 1 email-address,
    // 2 us-ssn; the others are not checked here.
    const fixture = @import("engine_fixture");
    const tables = try testing.allocator.create(engine.Tables);
    defer testing.allocator.destroy(tables);
    var where: u32 = 0;
    try tables.load(&fixture.tables, &where);
    var states_max: u32 = 0;
    for (tables.patterns[0..tables.pattern_count]) |pattern| {
        states_max = @max(states_max, tables.automata[pattern.forward].state_count);
    }
    const search = try NeedSearch.init(testing.allocator, states_max);
    defer search.deinit(testing.allocator);
    var seen = [_]bool{false} ** 3;
    for (tables.patterns[0..tables.pattern_count]) |pattern| {
        const need = search.needOf(&tables.automata[pattern.forward], pattern.min_length);
        try testing.expectEqual(@as(u8, @intCast(pattern.min_length)), need.length);
        switch (pattern.detector) {
            // Card numbers: at least 13 digits, in runs of four at least.
            0 => {
                try testing.expect(need.count(.digit) >= 13);
                try testing.expect(need.digit_run >= 4);
            },
            // Emails: an '@' and a '.', no digit.
            1 => {
                try testing.expectEqual(@as(u8, 1), need.count(.at));
                try testing.expectEqual(@as(u8, 1), need.count(.dot));
                try testing.expectEqual(@as(u8, 0), need.count(.digit));
            },
            // SSNs: nine digits.
            2 => try testing.expectEqual(@as(u8, 9), need.count(.digit)),
            else => continue,
        }
        seen[pattern.detector] = true;
        try testing.expect(countsMatter(need));
    }
    try testing.expect(seen[0] and seen[1] and seen[2]);
}

test "a need table judges a shape against every automaton's weakest needs" {
    var table: NeedTable = undefined;
    table.init();
    const nine_digits: Need = .{ .counts = 9, .digit_run = 3, .length = 9 };
    const nine_in_a_run: Need = .{ .counts = 9, .digit_run = 9, .length = 9 };
    const at_and_dot: Need = .{ .counts = (1 << 8 * 4) | (1 << 8 * 7), .digit_run = 0, .length = 3 };
    try testing.expect(table.add(0, nine_in_a_run));
    try testing.expect(table.add(0, nine_digits));
    try testing.expect(table.add(0, nine_in_a_run));
    try testing.expect(table.add(1, at_and_dot));
    table.finish();
    // The stronger need of automaton 0 was dropped for the weaker one.
    try testing.expectEqual(@as(u32, 1), @popCount(table.owned[0]));
    const cases = [_]struct { []const u8, bool, bool }{
        .{ "536-22-1234", false, true },
        .{ "536221234", false, true },
        .{ "SKU-511563", true, true },
        .{ "jane@example.com", true, false },
        .{ "jane@example.com 536-22-1234", false, false },
        .{ "", true, true },
    };
    for (cases) |case| {
        const unmet_needs = table.unmet(shapeOf(case[0]).?);
        try testing.expectEqual(case[1], table.rulesOut(0, unmet_needs));
        try testing.expectEqual(case[2], table.rulesOut(1, unmet_needs));
    }
    // Full: adding fails, and what it holds is unchanged.
    var full: NeedTable = undefined;
    full.init();
    for (0..NeedTable.needs_max) |index| {
        try testing.expect(full.add(@intCast(index % scan_automata_max), .{ .counts = index, .digit_run = 0, .length = 1 }));
    }
    try testing.expect(!full.add(3, .{ .counts = 1 << 8, .digit_run = 0, .length = 1 }));
    try testing.expectEqual(@as(u32, NeedTable.needs_max), full.count);
}

//! One accepted filter config, ready to serve: the parsed policy, the verified matcher
//! tables and the scanner over them, built once at configure time in memory of its own.
//!
//! Streams hold the config they started with until they end, so a new config never
//! changes a message halfway; `Configs` keeps a replaced config alive until its last
//! stream lets go (a bounded number of them), then frees it.

const std = @import("std");
const assert = std.debug.assert;
const engine = @import("engine");
const masking = @import("masking");
const config = @import("config.zig");

const EngineScanner = masking.engine_scanner.EngineScanner;

pub const Loaded = struct {
    arena: std.heap.ArenaAllocator,
    /// A copy of the config bytes: the trust layer reuses its buffer two configs later,
    /// and the tables are read in place.
    bytes: []align(8) u8,
    policy: config.Policy,
    has_tables: bool,
    tables: engine.Tables,
    engine_scanner: engine.Scanner,
    scanner: EngineScanner,
    /// Spares the engine values that cannot hold a finding.
    prefilter: masking.prefilter.Prefilter,
    generation: u32,
    users: u32,
    /// The shortest match any pattern reports: shorter values cannot hold one and are
    /// not scanned.
    min_match_bytes: u32,

    /// Parses and loads `bytes`; on error nothing is left allocated and `problem` says why.
    pub fn create(allocator: std.mem.Allocator, bytes: []const u8, module_name: []const u8, masks: bool, generation: u32, problem: *config.Problem) !*Loaded {
        const self = try allocator.create(Loaded);
        errdefer allocator.destroy(self);
        self.arena = std.heap.ArenaAllocator.init(allocator);
        errdefer self.arena.deinit();
        const arena = self.arena.allocator();
        self.bytes = try arena.alignedAlloc(u8, 8, bytes.len);
        @memcpy(self.bytes, bytes);
        self.policy = try config.parse(self.bytes, arena, module_name, masks, problem);
        self.generation = generation;
        self.users = 0;
        self.has_tables = self.policy.tables.len > 0;
        self.min_match_bytes = 1;
        if (self.has_tables) {
            var where: u32 = 0;
            self.tables.load(self.policy.tables, &where) catch |err| {
                return problem.set("matcher tables refused at byte {d}: {s}", .{ where, engine.tables.describe(err) });
            };
            if (self.tables.detector_count != self.policy.detectors.len) {
                return problem.set("the tables hold {d} detectors, the routes name {d}", .{ self.tables.detector_count, self.policy.detectors.len });
            }
            self.scanner = EngineScanner.init(&self.tables, &self.engine_scanner);
            try self.prefilter.init(&self.tables, allocator);
            self.scanner.prefilter = &self.prefilter;
            self.min_match_bytes = std.math.maxInt(u32);
            for (self.tables.patterns[0..self.tables.pattern_count]) |pattern| {
                self.min_match_bytes = @min(self.min_match_bytes, pattern.min_length);
            }
        }
        return self;
    }

    pub fn destroy(self: *Loaded, allocator: std.mem.Allocator) void {
        assert(self.users == 0);
        self.arena.deinit();
        allocator.destroy(self);
    }

    pub fn acquire(self: *Loaded) void {
        self.users += 1;
    }
};

/// Configs replaced while streams still used them.
const retired_max = 8;

/// The config a root context serves, and those it replaced that streams still hold.
pub const Configs = struct {
    allocator: std.mem.Allocator,
    current: ?*Loaded = null,
    retired: [retired_max]?*Loaded = .{null} ** retired_max,

    /// Makes `next` current; the previous one is freed now if no stream holds it, or
    /// when its last stream lets go. False (and `next` freed) when too many replaced
    /// configs are still held: the caller keeps the current one.
    pub fn install(self: *Configs, next: *Loaded) bool {
        if (self.current) |previous| {
            if (previous.users > 0) {
                const free_index = for (self.retired, 0..) |entry, index| {
                    if (entry == null) break index;
                } else {
                    next.destroy(self.allocator);
                    return false;
                };
                self.retired[free_index] = previous;
            } else previous.destroy(self.allocator);
        }
        self.current = next;
        return true;
    }

    /// The current config, held for a stream until `release`.
    pub fn acquire(self: *Configs) ?*Loaded {
        const loaded = self.current orelse return null;
        loaded.acquire();
        return loaded;
    }

    pub fn release(self: *Configs, loaded: *Loaded) void {
        assert(loaded.users > 0);
        loaded.users -= 1;
        if (loaded.users > 0 or loaded == self.current) return;
        for (&self.retired) |*entry| {
            if (entry.* == loaded) {
                entry.* = null;
                loaded.destroy(self.allocator);
                return;
            }
        }
        unreachable; // a held config is current or retired
    }
};

//! Per-entity (and per-group) records in proxy-Wasm shared data, shared by every worker VM
//! of the plugin.
//!
//! Layout: a bounded table of `capacity` slots, each its own shared-data key
//! (`meshveil.ueba.v1/<namespace>/e/<slot>`, `.../g/<slot>` for groups). An id lives in
//! one of the `limits.probes` slots that follow its home slot (the id's first bytes modulo
//! the capacity). Because the ABI has no delete, the number of keys is what is bounded: a
//! process never holds more than `capacity` keys per table however many identities pass.
//!
//! Updates are read-modify-write with the slot's CAS token, retried up to
//! `limits.cas_attempts_max` times; a VM that loses a race re-reads and re-applies its
//! change, so concurrent workers never lose each other's counts. After the last attempt
//! the update is given up (the caller counts it) and the exchange is scored on the state
//! it read.
//!
//! A key is never missing again once written (there is no delete; clearing writes an
//! empty value), and a new id takes the first unused slot of its run, so no id lives past
//! a never-written slot: lookups stop there.
//!
//! Eviction, the same in every VM: a new id takes, among its probe slots, the first one
//! that is unused or cleared; else one whose record has been idle longer than the TTL;
//! else the least recently seen. The claim is a CAS write, so two VMs that pick the same
//! victim cannot both win: the loser re-reads and finds the winner's record. Ticks clear
//! records idle past the TTL (`sweep`). One race the ABI leaves open: the very first write
//! of a never-used slot key cannot be conditional (Envoy ignores CAS on a missing key), so
//! two VMs creating different ids in the same fresh slot at the same instant keep only
//! one of them; that can happen once per slot per process, and costs a fresh start.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const entity = @import("entity.zig");
const record_module = @import("record.zig");
const shared_store = @import("telemetry").shared_store;

pub const StoreError = shared_store.StoreError;

pub const SharedValue = shared_store.SharedValue;

/// Longest shared-data key this file builds.
pub const key_bytes_max = 128;

pub const Table = enum(u8) {
    entities = 'e',
    groups = 'g',
};

/// `Store` answers `get(key) StoreError!?SharedValue` and `set(key, value, cas) StoreError!void`
/// (cas 0: unconditional), with proxy-Wasm's semantics.
pub fn SlotTable(comptime Record: type, comptime Store: type) type {
    return struct {
        const Self = @This();

        store: *Store,
        prefix_buffer: [key_bytes_max]u8 = undefined,
        prefix_len: usize = 0,
        capacity: u32,
        ttl_s: u64,

        pub const Outcome = enum {
            /// The id's record was found and written back.
            updated,
            /// A new record in an unused or cleared slot.
            created,
            /// A new record over one idle past the TTL.
            replaced_expired,
            /// A new record over the least recently seen live one.
            evicted,
            /// Every attempt lost its CAS race or the store failed; nothing was written.
            gave_up,
        };

        pub fn init(store: *Store, namespace: []const u8, table: Table, capacity: u32, ttl_s: u64) Self {
            assert(capacity >= limits.probes);
            var self = Self{ .store = store, .capacity = capacity, .ttl_s = ttl_s };
            const prefix = std.fmt.bufPrint(&self.prefix_buffer, "meshveil.ueba.v1/{s}/{c}/", .{ namespace, @intFromEnum(table) }) catch unreachable;
            self.prefix_len = prefix.len;
            return self;
        }

        /// The id's record, if some probe slot holds it (no write).
        pub fn find(self: *Self, id: entity.Id) ?Record {
            var probe: u32 = 0;
            while (probe < limits.probes) : (probe += 1) {
                var key_buffer: [key_bytes_max]u8 = undefined;
                const read = self.store.get(self.key(&key_buffer, self.slotOf(id, probe))) catch continue;
                const shared = read orelse return null;
                const header = record_module.peek(Record, shared.value) orelse continue;
                if (std.mem.eql(u8, &header.id, &id)) return record_module.decode(Record, shared.value);
            }
            return null;
        }

        /// Applies `mutation` to the id's record, creating it (`mutation.fresh()`) when
        /// absent. `mutation.apply(*Record)` must depend only on the record it is given:
        /// it runs again on every retry, and its results are those of the last run (after
        /// `gave_up`, of a record that was not written: the exchange is still judged).
        pub fn update(self: *Self, id: entity.Id, now_s: u64, mutation: anytype) Outcome {
            var record: Record = undefined;
            var attempt: u32 = 0;
            while (attempt < limits.cas_attempts_max) : (attempt += 1) {
                const scan = self.scanProbes(id, now_s, &record) orelse continue;
                if (!scan.found) record = mutation.fresh();
                mutation.apply(&record);
                var key_buffer: [key_bytes_max]u8 = undefined;
                self.store.set(self.key(&key_buffer, scan.slot), record_module.encode(&record), scan.cas) catch continue;
                if (scan.found) return .updated;
                return switch (scan.rank) {
                    .unused => .created,
                    .expired => .replaced_expired,
                    .live => .evicted,
                };
            }
            return .gave_up;
        }

        pub const Swept = enum { empty, kept, written, cleared, raced };

        /// Ages one slot: clears a record idle past the TTL, otherwise lets
        /// `aging.apply(*Record) bool` change it (true: write it back).
        pub fn sweep(self: *Self, slot: u32, now_s: u64, aging: anytype) Swept {
            assert(slot < self.capacity);
            var key_buffer: [key_bytes_max]u8 = undefined;
            const slot_key = self.key(&key_buffer, slot);
            const read = self.store.get(slot_key) catch return .raced;
            const shared = read orelse return .empty;
            var record = record_module.decode(Record, shared.value) orelse return .empty;
            if (self.isExpired(record.last_seen_s, now_s)) {
                self.store.set(slot_key, "", shared.cas) catch return .raced;
                return .cleared;
            }
            if (!aging.apply(&record)) return .kept;
            // A lost race means a request just wrote the slot; it did the ageing itself.
            self.store.set(slot_key, record_module.encode(&record), shared.cas) catch return .raced;
            return .written;
        }

        const Rank = enum(u8) { unused = 0, expired = 1, live = 2 };

        const Scan = struct {
            /// The id's record was read into the caller's record.
            found: bool = false,
            slot: u32,
            cas: u32,
            rank: Rank,
            last_seen_s: u64,
        };

        /// The slot to write the id's record to; when the id is found, its record is read
        /// into `found_record` (records are copied once, not per probe).
        fn scanProbes(self: *Self, id: entity.Id, now_s: u64, found_record: *Record) ?Scan {
            var best: ?Scan = null;
            var probe: u32 = 0;
            while (probe < limits.probes) : (probe += 1) {
                const slot = self.slotOf(id, probe);
                var key_buffer: [key_bytes_max]u8 = undefined;
                // A slot the host cannot read is skipped, never overwritten blind.
                const read = self.store.get(self.key(&key_buffer, slot)) catch continue;
                const shared = read orelse {
                    // Never written: the id is not further on, and nothing beats this slot but
                    // an unused one before it.
                    const fresh_slot = Scan{ .slot = slot, .cas = 0, .rank = .unused, .last_seen_s = 0 };
                    if (best == null or better(fresh_slot, best.?)) best = fresh_slot;
                    break;
                };
                const candidate: Scan = blk: {
                    const header = record_module.peek(Record, shared.value) orelse
                        break :blk .{ .slot = slot, .cas = shared.cas, .rank = .unused, .last_seen_s = 0 };
                    if (std.mem.eql(u8, &header.id, &id)) {
                        found_record.* = record_module.decode(Record, shared.value).?;
                        return .{ .found = true, .slot = slot, .cas = shared.cas, .rank = .live, .last_seen_s = header.last_seen_s };
                    }
                    const rank: Rank = if (self.isExpired(header.last_seen_s, now_s)) .expired else .live;
                    break :blk .{ .slot = slot, .cas = shared.cas, .rank = rank, .last_seen_s = header.last_seen_s };
                };
                if (best == null or better(candidate, best.?)) best = candidate;
            }
            // Null when no probe could be read: nothing is written blind.
            return best;
        }

        fn better(candidate: Scan, best: Scan) bool {
            if (@intFromEnum(candidate.rank) != @intFromEnum(best.rank)) return @intFromEnum(candidate.rank) < @intFromEnum(best.rank);
            // Same rank: unused slots keep probe order (the first wins), others go by age.
            return candidate.rank != .unused and candidate.last_seen_s < best.last_seen_s;
        }

        fn isExpired(self: *const Self, last_seen_s: u64, now_s: u64) bool {
            return now_s > last_seen_s and now_s - last_seen_s > self.ttl_s;
        }

        pub fn slotOf(self: *const Self, id: entity.Id, probe: u32) u32 {
            assert(probe < limits.probes);
            const home = std.mem.readInt(u32, id[0..4], .little) % self.capacity;
            return (home + probe) % self.capacity;
        }

        fn key(self: *const Self, buffer: *[key_bytes_max]u8, slot: u32) []const u8 {
            const prefix = self.prefix_buffer[0..self.prefix_len];
            @memcpy(buffer[0..prefix.len], prefix);
            const digits = std.fmt.bufPrint(buffer[prefix.len..], "{d}", .{slot}) catch unreachable;
            return buffer[0 .. prefix.len + digits.len];
        }
    };
}

// -- Tests ----------------------------------------------------------------------

const testing = std.testing;

pub const FakeStore = shared_store.FakeStore(256, key_bytes_max, 2048);

const TestRecord = record_module.GroupRecord;
const TestTable = SlotTable(TestRecord, FakeStore);

/// Counts requests in `baseline.reserved`, a field nothing else uses in these tests.
const CountOne = struct {
    id: entity.Id,
    now_s: u64,
    pub fn fresh(self: CountOne) TestRecord {
        return TestRecord.fresh(self.id, self.now_s, 60);
    }
    pub fn apply(self: CountOne, record: *TestRecord) void {
        record.baseline.reserved += 1;
        record.last_seen_s = self.now_s;
    }
};

fn idWithHome(home: u32, tag: u8) entity.Id {
    var id: entity.Id = .{tag} ** 16;
    std.mem.writeInt(u32, id[0..4], home, .little);
    return id;
}

test "records are created, found and updated in place" {
    var store = FakeStore{};
    var table = TestTable.init(&store, "t", .groups, 16, 1000);
    const id = idWithHome(3, 1);
    try testing.expectEqual(TestTable.Outcome.created, table.update(id, 10, CountOne{ .id = id, .now_s = 10 }));
    try testing.expectEqual(TestTable.Outcome.updated, table.update(id, 11, CountOne{ .id = id, .now_s = 11 }));
    try testing.expectEqual(@as(u32, 2), table.find(id).?.baseline.reserved);
    try testing.expect(table.find(idWithHome(3, 2)) == null);
    try testing.expect(store.lookup("meshveil.ueba.v1/t/g/3") != null);
}

fn otherVmIncrements(store: *FakeStore) void {
    var table = TestTable.init(store, "t", .groups, 16, 1000);
    const id = idWithHome(3, 1);
    _ = table.update(id, 12, CountOne{ .id = id, .now_s = 12 });
}

test "a lost CAS race is retried on the fresh record, so no count is lost" {
    var store = FakeStore{};
    var table = TestTable.init(&store, "t", .groups, 16, 1000);
    const id = idWithHome(3, 1);
    _ = table.update(id, 10, CountOne{ .id = id, .now_s = 10 });
    store.interleave = &otherVmIncrements;
    try testing.expectEqual(TestTable.Outcome.updated, table.update(id, 12, CountOne{ .id = id, .now_s = 12 }));
    try testing.expectEqual(@as(u32, 3), table.find(id).?.baseline.reserved);
}

test "a full neighbourhood evicts its least recently seen record; expired ones go first" {
    var store = FakeStore{};
    var table = TestTable.init(&store, "t", .groups, 8, 100);
    // Eight ids with the same home fill every probe slot, seen at times 10..17.
    for (0..8) |index| {
        const id = idWithHome(0, @intCast(index + 1));
        const now: u64 = 10 + index;
        try testing.expect(table.update(id, now, CountOne{ .id = id, .now_s = now }) == .created);
    }
    const newcomer = idWithHome(0, 50);
    try testing.expectEqual(TestTable.Outcome.evicted, table.update(newcomer, 20, CountOne{ .id = newcomer, .now_s = 20 }));
    // The oldest (seen at 10) is gone; the next oldest is still there.
    try testing.expect(table.find(idWithHome(0, 1)) == null);
    try testing.expect(table.find(idWithHome(0, 2)) != null);
    // Much later every old record is past the TTL: a newcomer replaces one of them, not a live one.
    const late = idWithHome(0, 60);
    _ = table.update(newcomer, 200, CountOne{ .id = newcomer, .now_s = 200 });
    try testing.expectEqual(TestTable.Outcome.replaced_expired, table.update(late, 201, CountOne{ .id = late, .now_s = 201 }));
    try testing.expect(table.find(newcomer) != null);
}

const NoAging = struct {
    pub fn apply(_: NoAging, _: *TestRecord) bool {
        return false;
    }
};

test "lookups and inserts stop at the first never-written slot" {
    var store = FakeStore{};
    var table = TestTable.init(&store, "t", .groups, 16, 1000);
    const id = idWithHome(5, 1);
    _ = table.update(id, 10, CountOne{ .id = id, .now_s = 10 });
    store.gets = 0;
    try testing.expect(table.find(idWithHome(5, 2)) == null);
    // Slot 5 holds another id, slot 6 was never written: two reads, not eight.
    try testing.expectEqual(@as(u32, 2), store.gets);
    store.gets = 0;
    const other = idWithHome(5, 2);
    try testing.expectEqual(TestTable.Outcome.created, table.update(other, 11, CountOne{ .id = other, .now_s = 11 }));
    try testing.expectEqual(@as(u32, 2), store.gets);
    try testing.expect(store.lookup("meshveil.ueba.v1/t/g/6") != null);
}

test "sweeping clears records idle past the TTL and leaves the rest" {
    var store = FakeStore{};
    var table = TestTable.init(&store, "t", .groups, 8, 100);
    const old = idWithHome(1, 1);
    const recent = idWithHome(2, 2);
    _ = table.update(old, 10, CountOne{ .id = old, .now_s = 10 });
    _ = table.update(recent, 150, CountOne{ .id = recent, .now_s = 150 });
    try testing.expectEqual(TestTable.Swept.cleared, table.sweep(1, 160, NoAging{}));
    try testing.expectEqual(TestTable.Swept.kept, table.sweep(2, 160, NoAging{}));
    try testing.expectEqual(TestTable.Swept.empty, table.sweep(1, 161, NoAging{}));
    try testing.expect(table.find(old) == null);
    // The cleared slot is reused as unused, not counted as an eviction.
    const next = idWithHome(1, 3);
    try testing.expectEqual(TestTable.Outcome.created, table.update(next, 170, CountOne{ .id = next, .now_s = 170 }));
}

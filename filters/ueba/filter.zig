//! The UEBA filter of one root context (one plugin configuration on one worker VM): its
//! parsed settings, its views of the shared state, its telemetry pipeline and its stats.
//! `main.zig` hands it the verified config; ticks age the state and flush telemetry.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const config = @import("config.zig");
const limits = @import("limits.zig");
const entity = @import("entity.zig");
const state = @import("state.zig");
const record = @import("record.zig");
const analysis = @import("analysis.zig");
const telemetry = @import("telemetry.zig");
const host_env = @import("host_env.zig");

const host = abi.host;

pub const EntityTable = state.SlotTable(record.EntityRecord, host_env.SharedStore);
pub const GroupTable = state.SlotTable(record.GroupRecord, host_env.SharedStore);
pub const Pipeline = telemetry.Pipeline;

// Configure-time scratch, one per VM: callbacks of a VM never overlap.
var config_scratch: [limits.config_scratch_bytes]u8 = undefined;
var candidate: config.Settings = undefined;

pub const Filter = struct {
    context_id: u32,
    /// The trust layer's generation these settings were parsed from.
    generation: ?u32 = null,
    ready: bool = false,
    settings: config.Settings = undefined,
    claims: entity.Claims = undefined,
    store: host_env.SharedStore = .{},
    entities: EntityTable = undefined,
    groups: GroupTable = undefined,
    metrics: host_env.Metrics = .{},
    telemetry_env: telemetry.Env = .{},
    pipeline: Pipeline = undefined,
    has_pipeline: bool = false,
    plugin_name: config.Text(limits.host_bytes_max) = .{},
    sweep_cursor: u32 = 0,

    pub fn init(context_id: u32) Filter {
        return .{ .context_id = context_id };
    }

    /// Takes the verified inner config. A config that parses replaces the running one;
    /// one that does not is refused with the reason logged, and the filter keeps serving
    /// its previous settings if it has any (true) or refuses to start (false).
    pub fn configure(self: *Filter, inner: []const u8, generation: u32) bool {
        if (self.ready and self.generation == generation) return true;
        var problem = config.Problem{};
        config.parse(inner, &config_scratch, &candidate, &problem) catch {
            if (self.ready) {
                host.logFmt(.err, "meshveil-ueba: configuration refused: {s}; keeping the previous one", .{problem.text()});
            } else {
                host.logFmt(.err, "meshveil-ueba: configuration refused: {s}", .{problem.text()});
            }
            return self.ready;
        };
        self.settings = candidate;
        self.generation = generation;
        self.apply();
        self.ready = true;
        host.logFmt(.info, "meshveil-ueba: configured: {d} entity sources, {d} rules, {d} bands, window {d} s, telemetry {s}", .{
            self.settings.entity_sources_len,
            self.settings.rules_len,
            self.settings.bands_len,
            self.settings.window_seconds,
            if (self.settings.telemetry != null) "on" else "off",
        });
        return true;
    }

    fn apply(self: *Filter) void {
        const settings = &self.settings;
        self.claims = entity.Claims.init(settings);
        self.metrics.define();
        const namespace = settings.state_namespace.slice();
        self.entities = EntityTable.init(&self.store, namespace, .entities, settings.max_entities, settings.entity_ttl_seconds);
        self.groups = GroupTable.init(&self.store, namespace, .groups, settings.max_groups, settings.entity_ttl_seconds);
        const plugin_name = host.getProperty(&.{"plugin_name"}) catch null;
        const name = plugin_name orelse "";
        self.plugin_name.set(name[0..@min(name.len, limits.host_bytes_max)]) catch unreachable;
        const nonce = self.vmNonce(namespace);
        self.sweep_cursor = std.mem.readInt(u32, nonce[0..4], .little);
        self.startTelemetry(nonce);
        host.setTickPeriodMilliseconds(settings.tick_ms) catch |err| {
            host.logFmt(.err, "meshveil-ueba: no ticks ({s}): state is aged and telemetry sent only as traffic flows", .{@errorName(err)});
        };
    }

    fn startTelemetry(self: *Filter, nonce: [8]u8) void {
        // A reconfiguration abandons the batch in hand; the drop count says so.
        if (self.has_pipeline) self.pipeline.abandonBatch();
        self.has_pipeline = false;
        const settings = self.settings.telemetry orelse return;
        self.telemetry_env.define();
        const node = host.getProperty(&.{ "node", "id" }) catch null;
        const names = telemetry.QueueNames.init(self.settings.state_namespace.slice());
        self.pipeline = Pipeline.init(&self.telemetry_env, settings, names.queue(), names.depth(), node orelse "", self.plugin_name.slice(), nonce);
        self.has_pipeline = true;
    }

    /// Unique per VM, node and start: the prefix of every event id this VM issues. A
    /// shared counter tells apart VMs that start at the same instant with the same ids.
    fn vmNonce(self: *Filter, namespace: []const u8) [8]u8 {
        var key_buffer: [state.key_bytes_max]u8 = undefined;
        const key = std.fmt.bufPrint(&key_buffer, "meshveil.ueba.v1/{s}/vm-sequence", .{namespace}) catch unreachable;
        var sequence: u64 = 0;
        var attempt: u32 = 0;
        while (attempt < limits.cas_attempts_max) : (attempt += 1) {
            const read = self.store.get(key) catch break;
            const current: u64 = if (read) |shared| (if (shared.value.len == 8) std.mem.readInt(u64, shared.value[0..8], .little) else 0) else 0;
            var bytes: [8]u8 = undefined;
            std.mem.writeInt(u64, &bytes, current + 1, .little);
            self.store.set(key, &bytes, if (read) |shared| shared.cas else 0) catch continue;
            sequence = current + 1;
            break;
        }
        var hasher = std.crypto.hash.sha2.Sha256.init(.{});
        hasher.update(host.getProperty(&.{ "node", "id" }) catch null orelse "");
        hasher.update(self.plugin_name.slice());
        hasher.update(std.mem.asBytes(&sequence));
        hasher.update(std.mem.asBytes(&host_env.nowNanoseconds()));
        hasher.update(std.mem.asBytes(&self.context_id));
        var digest: [32]u8 = undefined;
        hasher.final(&digest);
        return digest[0..8].*;
    }

    pub fn telemetryPipeline(self: *Filter) ?*Pipeline {
        return if (self.has_pipeline) &self.pipeline else null;
    }

    pub fn onTick(self: *Filter) void {
        if (!self.ready) return;
        self.sweep(host_env.nowNanoseconds() / std.time.ns_per_s);
        if (self.telemetryPipeline()) |pipeline| pipeline.flush();
    }

    pub fn onQueueReady(self: *Filter, queue_id: u32) void {
        const pipeline = self.telemetryPipeline() orelse return;
        if (pipeline.queue != queue_id) return;
        pipeline.onQueueReady();
    }

    pub fn onHttpCallResponse(self: *Filter, call_id: u32, headers_count: u32) void {
        const pipeline = self.telemetryPipeline() orelse return;
        _ = pipeline.onHttpResponse(call_id, telemetry.calloutStatus(headers_count));
    }

    /// Ages a bounded run of slots of each table: ended windows teach their baselines,
    /// idle records go. Each VM starts at its own place, so workers share the round.
    fn sweep(self: *Filter, now_s: u64) void {
        const settings = &self.settings;
        const entity_slots = settings.sweepSlots(settings.max_entities);
        var done: u32 = 0;
        while (done < entity_slots) : (done += 1) {
            const slot = (self.sweep_cursor +% done) % settings.max_entities;
            var aging = analysis.EntityAging{ .settings = settings, .now_s = now_s };
            switch (self.entities.sweep(slot, now_s, &aging)) {
                .cleared => self.metrics.count(.expired, 1),
                .written => if (aging.closed) |values| {
                    if (aging.group) |group| self.teachGroup(group, values, now_s);
                },
                .empty, .kept, .raced => {},
            }
        }
        const group_slots = settings.sweepSlots(settings.max_groups);
        done = 0;
        while (done < group_slots) : (done += 1) {
            const slot = (self.sweep_cursor +% done) % settings.max_groups;
            var group_aging = analysis.GroupAging{};
            if (self.groups.sweep(slot, now_s, &group_aging) == .cleared) self.metrics.count(.expired, 1);
        }
        self.sweep_cursor +%= @max(entity_slots, group_slots);
    }

    pub fn teachGroup(self: *Filter, group: entity.Id, values: analysis.WindowValues, now_s: u64) void {
        var learning = analysis.GroupLearning{ .settings = &self.settings, .id = group, .values = values, .now_s = now_s };
        self.countOutcome(self.groups.update(group, now_s, &learning));
    }

    pub fn countOutcome(self: *Filter, outcome: anytype) void {
        switch (outcome) {
            .evicted => self.metrics.count(.evictions, 1),
            .replaced_expired => self.metrics.count(.expired, 1),
            .gave_up => self.metrics.count(.state_update_failures, 1),
            .updated, .created => {},
        }
    }
};

//! Reporting a message's findings, for both filters: a finding event into the shared
//! queue `meshveil.findings.v1` (bounded; the telemetry pipeline drains it; only the
//! DLP filter sends events, so a finding is not reported twice), one log line, and Envoy
//! counters per route, detector and direction. Never a value.

const std = @import("std");
const abi = @import("abi");
const config = @import("config.zig");
const events = @import("events.zig");
const host_io = @import("host_io.zig");
const loaded_module = @import("loaded.zig");
const tally_module = @import("tally.zig");
const Text = @import("text.zig").Text;

const host = abi.host;

pub const queue_name = "meshveil.findings.v1";
/// Shared-data key of the queue's depth (u64 little-endian), as the UEBA telemetry
/// queue keeps it: producers add, the consumer subtracts what it takes.
pub const depth_key = queue_name ++ "/depth";
pub const queue_events_max: u64 = 1024;
const cas_attempts_max = 4;

pub fn Reporter(comptime module_name: []const u8, comptime filter: []const u8, comptime sends_events: bool) type {
    return struct {
        const Self = @This();

        queue: ?u32 = null,
        enqueued: ?u32 = null,
        dropped: ?u32 = null,

        /// Registers the queue (configure time); without it events are only logged.
        pub fn open(self: *Self) void {
            if (!sends_events or self.queue != null) return;
            self.queue = host.registerSharedQueue(queue_name) catch |err| blk: {
                host.logFmt(.warn, module_name ++ ": findings queue not registered ({s}); events are logged only", .{@errorName(err)});
                break :blk null;
            };
        }

        pub const Facts = struct {
            loaded: *loaded_module.Loaded,
            route: *config.Route,
            direction: config.Direction,
            request_id: []const u8,
            method: []const u8,
            enforced: bool,
        };

        /// Reports `tally` if it holds anything.
        pub fn message(self: *Self, facts: Facts, tally: *const tally_module.Tally) void {
            if (tally.total == 0) return;
            const loaded = facts.loaded;
            var id_buffer: [events.request_id_bytes_max]u8 = undefined;
            const request_id = events.cleanRequestId(facts.request_id, &loaded.scanner, &id_buffer);
            logLine(facts, tally, request_id);
            countRules(facts, tally);
            if (!sends_events) return;
            var event_buffer: [events.event_bytes_max]u8 = undefined;
            const event = events.findingEvent(.{
                .module = module_name,
                .policy = &loaded.policy,
                .route = facts.route,
                .direction = facts.direction,
                .request_id = request_id,
                .method = facts.method,
                .time_ms = host_io.nowMilliseconds(),
                .enforced = facts.enforced,
                .tally = tally,
            }, &loaded.scanner, &event_buffer);
            self.enqueue(event);
        }

        fn enqueue(self: *Self, event: []const u8) void {
            const queue = self.queue orelse return;
            if (!reserveDepth()) {
                host_io.increment(&self.dropped, "meshveil." ++ filter ++ ".events.dropped", 1);
                return;
            }
            host.enqueueSharedQueue(queue, event) catch {
                host_io.increment(&self.dropped, "meshveil." ++ filter ++ ".events.dropped", 1);
                return;
            };
            host_io.increment(&self.enqueued, "meshveil." ++ filter ++ ".events.enqueued", 1);
        }

        /// `<module>: route <route> <direction> <request id>: <detector>=<count> (<outcome>)…`;
        /// a part past the buffer is cut there and the parts after it are tried in turn.
        fn logLine(facts: Facts, tally: *const tally_module.Tally, request_id: []const u8) void {
            var buffer: [host.log_message_max]u8 = undefined;
            var text = Text.init(&buffer);
            writeLogHead(&text, facts, request_id) catch {};
            for (facts.route.rules, 0..) |*rule, index| {
                const count = tally.count(@intCast(index));
                if (count == 0) continue;
                const outcome = events.outcomeOf(rule, count);
                writeLogCount(&text, facts.loaded.policy.detectors[rule.detector].id, count, outcome) catch {};
            }
            if (facts.enforced) text.writeAll("; stream ended by the policy") catch {};
            host.log(if (facts.enforced) .warn else .info, text.written());
        }

        fn writeLogHead(text: *Text, facts: Facts, request_id: []const u8) !void {
            try text.writeAll(module_name ++ ": route ");
            try text.writeAll(facts.route.name);
            try text.writeByte(' ');
            try text.writeAll(@tagName(facts.direction));
            try text.writeByte(' ');
            try text.writeAll(request_id);
            try text.writeByte(':');
        }

        fn writeLogCount(text: *Text, detector: []const u8, count: u32, outcome: events.Outcome) !void {
            try text.writeByte(' ');
            try text.writeAll(detector);
            try text.writeByte('=');
            try text.writeDecimal(count);
            try text.writeAll(" (");
            try text.writeAll(@tagName(outcome));
            try text.writeByte(')');
        }

        fn countRules(facts: Facts, tally: *const tally_module.Tally) void {
            const direction = @intFromEnum(facts.direction);
            for (facts.route.rules, 0..) |*rule, index| {
                const count = tally.count(@intCast(index));
                if (count == 0) continue;
                var name = host_io.RuleMetric{
                    .filter = filter,
                    .route = facts.route.name,
                    .detector = facts.loaded.policy.detectors[rule.detector].id,
                    .direction = facts.direction,
                    .what = "findings",
                };
                host_io.incrementRule(&rule.metric_ids[direction][0], name, count);
                const outcome = events.outcomeOf(rule, count);
                if (outcome == .below_threshold or outcome == .masked) continue;
                // A rule has one verdict, so one counter per direction holds its outcome.
                name.what = @tagName(outcome);
                host_io.incrementRule(&rule.metric_ids[direction][1], name, 1);
            }
        }
    };
}

/// Adds one to the queue's shared depth unless it is at the bound.
fn reserveDepth() bool {
    var attempt: u32 = 0;
    while (attempt < cas_attempts_max) : (attempt += 1) {
        const read = host.getSharedData(depth_key) catch return false;
        const current: u64 = if (read) |shared| decodeDepth(shared.value) else 0;
        if (current >= queue_events_max) return false;
        var bytes: [8]u8 = undefined;
        std.mem.writeInt(u64, &bytes, current + 1, .little);
        host.setSharedData(depth_key, &bytes, if (read) |shared| shared.cas else 0) catch continue;
        return true;
    }
    return false;
}

fn decodeDepth(bytes: []const u8) u64 {
    if (bytes.len != 8) return 0;
    return std.mem.readInt(u64, bytes[0..8], .little);
}

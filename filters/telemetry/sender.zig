//! The telemetry sender the filters share (UEBA's anomaly events, DLP's finding events):
//! events go into a proxy-Wasm shared queue (shared by every worker VM), and batches of
//! them leave with `proxy_http_call` to the control plane's ingest endpoint (`POST
//! /v1/telemetry`, see docs/telemetry.md for the JSON) on ticks, or at once when a
//! batch's worth is queued.
//!
//! - Bounded memory: the queue's depth is a CAS counter in shared data; an event that
//!   would take it past `queue_events_max` is dropped and counted (`<prefix>.dropped`).
//!   Drops not yet reported to the collector are a shared counter too, so whichever VM
//!   sends the next batch reports them (one VM may be the one draining the queue).
//!   Each VM holds at most one batch body, in a fixed buffer.
//! - Collector down: a failed batch (no answer, timeout, 408, 429 or 5xx) is retried with
//!   exponential backoff and jitter, the same bytes each time; after `max_attempts` its
//!   events are dropped and counted. Other 4xx answers mean the collector will never take
//!   it: dropped and counted at once. While a batch waits, new events queue up to the bound.
//! - No double counting: every event carries an id unique to its VM (a nonce from node,
//!   plugin, start time and VM) and sequence number; a retried batch keeps its
//!   `batch_id` (also sent as `Idempotency-Key`) and its events keep their ids, so the
//!   collector drops what it already has. Events another filter queued without an id
//!   (`Options.stamp_events`) get `event_id` and `plugin` when the batch is built, so
//!   they too keep them across retries.
//! - Authentication per node: `Authorization: Bearer <token>` from the signed config
//!   (issued for the nodes the config targets) and `x-meshveil-node: <node id>`.
//!
//! The host is reached through `Env` (see `Pipeline`; `host_env.zig` is the real one),
//! so the logic tests natively.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const settings_module = @import("settings.zig");
const shared_store = @import("shared_store.zig");

pub const Settings = settings_module.Settings;
pub const StoreError = shared_store.StoreError;
pub const SharedValue = shared_store.SharedValue;

/// What differs between the filters that send.
pub const Options = struct {
    /// The envelope's `module`.
    module_name: []const u8,
    /// Stats are `<metric_prefix>.events_sent` and so on.
    metric_prefix: []const u8,
    /// Largest event a batch takes; larger ones are dropped and counted.
    event_bytes_max: usize,
    /// Events arrive without `event_id` and `plugin` (another part of the filter queued
    /// them): the sender adds both as it builds a batch.
    stamp_events: bool = false,
};

pub const Metric = enum(u8) {
    events_enqueued,
    events_sent,
    dropped,
    batches_sent,
    batch_failures,
    batches_rejected,
    queue_depth,

    pub fn name(self: Metric, comptime prefix: []const u8) []const u8 {
        return switch (self) {
            inline else => |which| prefix ++ "." ++ @tagName(which),
        };
    }

    pub fn isGauge(self: Metric) bool {
        return self == .queue_depth;
    }
};

pub const Header = struct { name: []const u8, value: []const u8 };

pub const HttpRequest = struct {
    upstream: []const u8,
    headers: []const Header,
    body: []const u8,
    timeout_ms: u32,
};

pub const schema = "meshveil.telemetry.v1";
/// `<16 hex nonce>-<12 hex sequence>`.
pub const event_id_len = 16 + 1 + 12;
const batch_id_len = 16 + 2 + 12;
/// A call the host never answered is given up this long after its timeout.
const lost_call_grace_ms: u64 = 5000;
/// Bytes the envelope needs after the last event: `]}`.
const envelope_tail = "]}";

/// The stamp an id-less event gets in front of its own members: `"event_id":"…","plugin":…,`.
const stamp_bytes_max = "\"event_id\":\"\",\"plugin\":,".len + event_id_len + 2 * limits.host_bytes_max + 2;

/// `Env` provides, with proxy-Wasm semantics:
///   nowMs() u64
///   sharedGet(key) StoreError!?SharedValue; sharedSet(key, value, cas) StoreError!void
///   registerQueue(name) ?u32; enqueue(queue, bytes) bool; dequeue(queue) ?[]const u8
///   httpCall(HttpRequest) ?u32   (null: the host refused the call, e.g. an unknown cluster)
///   count(Metric, u64) void; gauge(Metric, u64) void
///   warn(message) void
pub fn Pipeline(comptime Env: type, comptime options: Options) type {
    return struct {
        const Self = @This();

        env: *Env,
        settings: Settings,
        names: Names = .{},
        node: settings_module.Text(limits.host_bytes_max) = .{},
        plugin: settings_module.Text(limits.host_bytes_max) = .{},
        queue: ?u32 = null,
        nonce_hex: [16]u8,
        event_seq: u64 = 0,
        batch_seq: u64 = 0,

        // The batch this VM is sending (or will retry); its bytes never change once built.
        body: [limits.batch_body_bytes_max]u8 = undefined,
        body_len: usize = 0,
        batch_events: u32 = 0,
        batch_id: [batch_id_len]u8 = undefined,
        attempts: u32 = 0,
        in_flight: ?u32 = null,
        in_flight_since_ms: u64 = 0,
        next_attempt_ms: u64 = 0,
        backoff_ms: u64 = 0,
        /// Drops this VM could not add to the shared counter (shared data failed); the
        /// next envelope reports them with the shared ones.
        dropped_unreported: u64 = 0,
        /// The drops the batch in hand reports; they go back to the shared counter if the
        /// batch itself is dropped, so no drop goes unreported.
        batch_reports_dropped: u64 = 0,

        const Names = struct {
            queue: [limits.queue_name_bytes_max]u8 = undefined,
            queue_len: usize = 0,
            depth: [limits.queue_name_bytes_max]u8 = undefined,
            depth_len: usize = 0,
            /// The shared count of drops no envelope has reported yet (empty: kept per VM).
            dropped: [limits.queue_name_bytes_max]u8 = undefined,
            dropped_len: usize = 0,
        };

        comptime {
            // A batch always has room for at least one event of the largest size.
            assert(limits.batch_body_bytes_max > 1024 + options.event_bytes_max + stamp_bytes_max);
        }

        /// `queue_name`: the shared queue the events wait in; `depth_key`: the shared-data
        /// key of its depth counter (producers add, this sender subtracts what it takes).
        pub fn init(env: *Env, settings: Settings, queue_name: []const u8, depth_key: []const u8, node: []const u8, plugin: []const u8, nonce: [8]u8) Self {
            assert(queue_name.len <= limits.queue_name_bytes_max and depth_key.len <= limits.queue_name_bytes_max);
            var self = Self{ .env = env, .settings = settings, .nonce_hex = std.fmt.bytesToHex(nonce, .lower) };
            @memcpy(self.names.queue[0..queue_name.len], queue_name);
            self.names.queue_len = queue_name.len;
            @memcpy(self.names.depth[0..depth_key.len], depth_key);
            self.names.depth_len = depth_key.len;
            const dropped_key = std.fmt.bufPrint(&self.names.dropped, "{s}/unreported-drops", .{queue_name}) catch "";
            self.names.dropped_len = dropped_key.len;
            self.node.set(node[0..@min(node.len, limits.host_bytes_max)]) catch unreachable;
            self.plugin.set(plugin[0..@min(plugin.len, limits.host_bytes_max)]) catch unreachable;
            self.queue = env.registerQueue(queue_name);
            if (self.queue == null) env.warn(options.module_name ++ ": telemetry queue not registered; events will be dropped and counted");
            return self;
        }

        /// The next event id of this VM; stays valid until the next call.
        pub fn nextEventId(self: *Self, out: *[event_id_len]u8) []const u8 {
            self.event_seq += 1;
            return std.fmt.bufPrint(out, "{s}-{x:0>12}", .{ self.nonce_hex, self.event_seq & 0xffff_ffff_ffff }) catch unreachable;
        }

        /// Queues one serialised event, or drops and counts it when the queue is full.
        pub fn emit(self: *Self, event: []const u8) bool {
            assert(event.len > 0);
            const queue = self.queue orelse return self.drop(1);
            if (event.len > options.event_bytes_max) return self.drop(1);
            const depth = self.adjustDepth(1) orelse return self.drop(1);
            if (!self.env.enqueue(queue, event)) {
                _ = self.adjustDepth(-1);
                return self.drop(1);
            }
            self.env.count(.events_enqueued, 1);
            self.env.gauge(.queue_depth, depth);
            return true;
        }

        /// A batch's worth is queued: send now rather than at the next tick.
        pub fn onQueueReady(self: *Self) void {
            if (self.currentDepth() >= self.settings.batch_events) self.flush();
        }

        /// Sends (or retries) a batch when none is in flight and no backoff is running.
        pub fn flush(self: *Self) void {
            const now = self.env.nowMs();
            if (self.in_flight != null) {
                // The host owes an answer (it enforces the timeout); a lost one is a failure.
                if (now < self.in_flight_since_ms + self.settings.timeout_ms + lost_call_grace_ms) return;
                self.in_flight = null;
                self.failed(now);
                return;
            }
            if (self.body_len > 0) {
                if (now >= self.next_attempt_ms) self.send(now);
                return;
            }
            if (self.build(now)) self.send(now);
        }

        /// The answer to a call; false when `call_id` is not this pipeline's.
        pub fn onHttpResponse(self: *Self, call_id: u32, status: u32) bool {
            if (self.in_flight != call_id) return false;
            self.in_flight = null;
            const now = self.env.nowMs();
            if (status >= 200 and status < 300) {
                self.env.count(.events_sent, self.batch_events);
                self.env.count(.batches_sent, 1);
                self.clearBatch();
                // More than a batch waiting: keep draining.
                if (self.currentDepth() >= self.settings.batch_events) self.flush();
            } else if (status == 0 or status == 408 or status == 429 or status >= 500) {
                self.failed(now);
            } else {
                self.env.warn(options.module_name ++ ": the collector refused a telemetry batch (4xx); its events are dropped");
                self.env.count(.batches_rejected, 1);
                self.abandonBatch();
            }
            return true;
        }

        /// A batch (events, or only a drop count) is in hand, sent or waiting to be retried.
        pub fn hasBatch(self: *const Self) bool {
            return self.body_len > 0;
        }

        fn failed(self: *Self, now: u64) void {
            assert(self.body_len > 0);
            self.env.count(.batch_failures, 1);
            if (self.settings.max_attempts != 0 and self.attempts >= self.settings.max_attempts) {
                self.env.warn(options.module_name ++ ": a telemetry batch failed every attempt; its events are dropped");
                self.abandonBatch();
                return;
            }
            self.backoff_ms = if (self.backoff_ms == 0)
                self.settings.backoff_initial_ms
            else
                @min(self.backoff_ms * 2, self.settings.backoff_max_ms);
            self.next_attempt_ms = now + jittered(self.backoff_ms, self.nonce_hex, self.attempts);
        }

        /// Gives the batch in hand up: its events count as dropped, and the drops it was
        /// reporting will be reported by the next batch.
        pub fn abandonBatch(self: *Self) void {
            if (self.body_len == 0) return;
            self.returnDrops(self.batch_reports_dropped);
            _ = self.drop(self.batch_events);
            self.clearBatch();
        }

        fn clearBatch(self: *Self) void {
            self.batch_events = 0;
            self.batch_reports_dropped = 0;
            self.body_len = 0;
            self.attempts = 0;
            self.backoff_ms = 0;
            self.next_attempt_ms = 0;
        }

        fn drop(self: *Self, events: u64) bool {
            if (events == 0) return false;
            self.returnDrops(events);
            self.env.count(.dropped, events);
            return false;
        }

        /// Drops for the next envelope (of whichever VM sends it).
        fn returnDrops(self: *Self, events: u64) void {
            if (events == 0) return;
            const key = self.names.dropped[0..self.names.dropped_len];
            if (key.len == 0 or self.addCounter(key, @intCast(@min(events, std.math.maxInt(i64))), null) == null) {
                self.dropped_unreported +|= events;
            }
        }

        /// Every drop not reported yet: this VM's own and the shared count (now zero).
        fn takeDrops(self: *Self) u64 {
            var taken = self.dropped_unreported;
            self.dropped_unreported = 0;
            const key = self.names.dropped[0..self.names.dropped_len];
            if (key.len == 0) return taken;
            var attempt: u32 = 0;
            while (attempt < limits.cas_attempts_max) : (attempt += 1) {
                const read = self.env.sharedGet(key) catch return taken;
                const shared = read orelse return taken;
                const current = decodeDepth(shared.value);
                if (current == 0) return taken;
                self.env.sharedSet(key, &std.mem.toBytes(@as(u64, 0)), shared.cas) catch continue;
                taken +|= current;
                return taken;
            }
            return taken;
        }

        /// Dequeues up to a batch of events into the body; false when there were none.
        fn build(self: *Self, now: u64) bool {
            assert(self.body_len == 0 and self.batch_events == 0);
            const queue = self.queue orelse return false;
            // The sequence advances only for a batch that gets events.
            const batch_seq = self.batch_seq + 1;
            _ = std.fmt.bufPrint(&self.batch_id, "{s}-b{x:0>12}", .{ self.nonce_hex, batch_seq & 0xffff_ffff_ffff }) catch unreachable;
            const reported = self.takeDrops();
            self.body_len = self.writeEnvelopeHead(now, reported) catch {
                self.returnDrops(reported);
                return false;
            };
            var taken: u32 = 0;
            while (self.batch_events < self.settings.batch_events) {
                // Stop while any event still fits: a dequeued event cannot be put back in front.
                if (self.body.len - self.body_len < options.event_bytes_max + stamp_bytes_max + 1 + envelope_tail.len) break;
                const event = self.env.dequeue(queue) orelse break;
                taken += 1;
                if (event.len < 2 or event.len > options.event_bytes_max or event[0] != '{') {
                    _ = self.drop(1);
                    continue;
                }
                if (self.batch_events > 0) self.append(",");
                if (options.stamp_events) self.appendStamped(event) else self.append(event);
                self.batch_events += 1;
            }
            if (taken > 0) {
                if (self.adjustDepth(-@as(i64, taken))) |depth| self.env.gauge(.queue_depth, depth);
            }
            if (self.batch_events == 0) {
                self.body_len = 0;
                self.returnDrops(reported);
                return false;
            }
            self.append(envelope_tail);
            self.batch_seq = batch_seq;
            // What the envelope reports as dropped is now on its way.
            self.batch_reports_dropped = reported;
            return true;
        }

        fn writeEnvelopeHead(self: *Self, now: u64, dropped: u64) !usize {
            var stream = std.io.fixedBufferStream(&self.body);
            const writer = stream.writer();
            try writer.print("{{\"schema\":\"{s}\",\"batch_id\":\"{s}\",\"module\":\"{s}\",\"plugin\":", .{ schema, &self.batch_id, options.module_name });
            try std.json.encodeJsonString(self.plugin.slice(), .{}, writer);
            try writer.writeAll(",\"node\":");
            try std.json.encodeJsonString(self.node.slice(), .{}, writer);
            try writer.print(",\"created_unix_ms\":{d},\"dropped\":{d},\"events\":[", .{ now, dropped });
            return stream.pos;
        }

        /// `{"event_id":"<next id>","plugin":"<plugin>",` and the event's own members (an
        /// empty object gets the stamp alone).
        fn appendStamped(self: *Self, event: []const u8) void {
            assert(event.len >= 2 and event[0] == '{');
            var id_buffer: [event_id_len]u8 = undefined;
            const id = self.nextEventId(&id_buffer);
            var stream = std.io.fixedBufferStream(self.body[self.body_len..]);
            const writer = stream.writer();
            writer.print("{{\"event_id\":\"{s}\",\"plugin\":", .{id}) catch unreachable;
            std.json.encodeJsonString(self.plugin.slice(), .{}, writer) catch unreachable;
            self.body_len += stream.pos;
            const members = std.mem.trimLeft(u8, event[1..], " \t\r\n");
            if (members.len > 0 and members[0] != '}') self.append(",");
            self.append(members);
        }

        fn append(self: *Self, bytes: []const u8) void {
            assert(self.body_len + bytes.len <= self.body.len);
            @memcpy(self.body[self.body_len..][0..bytes.len], bytes);
            self.body_len += bytes.len;
        }

        fn send(self: *Self, now: u64) void {
            assert(self.body_len > 0 and self.in_flight == null);
            self.attempts += 1;
            var bearer_buffer: [limits.token_bytes_max + 7]u8 = undefined;
            const bearer = std.fmt.bufPrint(&bearer_buffer, "Bearer {s}", .{self.settings.token.slice()}) catch unreachable;
            var attempt_buffer: [10]u8 = undefined;
            const attempt = std.fmt.bufPrint(&attempt_buffer, "{d}", .{self.attempts}) catch unreachable;
            const headers = [_]Header{
                .{ .name = ":method", .value = "POST" },
                .{ .name = ":path", .value = self.settings.path.slice() },
                .{ .name = ":authority", .value = self.settings.authority.slice() },
                .{ .name = "content-type", .value = "application/json" },
                .{ .name = "authorization", .value = bearer },
                .{ .name = "x-meshveil-node", .value = self.node.slice() },
                .{ .name = "idempotency-key", .value = &self.batch_id },
                .{ .name = "x-meshveil-attempt", .value = attempt },
            };
            const call = self.env.httpCall(.{
                .upstream = self.settings.cluster.slice(),
                .headers = &headers,
                .body = self.body[0..self.body_len],
                .timeout_ms = self.settings.timeout_ms,
            });
            if (call) |call_id| {
                self.in_flight = call_id;
                self.in_flight_since_ms = now;
            } else {
                self.failed(now);
            }
        }

        fn currentDepth(self: *Self) u64 {
            const read = self.env.sharedGet(self.names.depth[0..self.names.depth_len]) catch return 0;
            const shared = read orelse return 0;
            return decodeDepth(shared.value);
        }

        /// Adds `delta` to the shared depth; an increment past the bound is refused (null).
        fn adjustDepth(self: *Self, delta: i64) ?u64 {
            return self.addCounter(self.names.depth[0..self.names.depth_len], delta, self.settings.queue_events_max);
        }

        /// Adds `delta` to a shared u64 counter; an increment past `bound` is refused, as is
        /// one that loses the CAS race too often (null).
        fn addCounter(self: *Self, key: []const u8, delta: i64, bound: ?u64) ?u64 {
            var attempt: u32 = 0;
            while (attempt < limits.cas_attempts_max) : (attempt += 1) {
                const read = self.env.sharedGet(key) catch return null;
                const current: u64 = if (read) |shared| decodeDepth(shared.value) else 0;
                if (bound) |most| {
                    if (delta > 0 and current + @as(u64, @intCast(delta)) > most) return null;
                }
                const next: u64 = if (delta > 0) current + @as(u64, @intCast(delta)) else current -| @as(u64, @intCast(-delta));
                var bytes: [8]u8 = undefined;
                std.mem.writeInt(u64, &bytes, next, .little);
                self.env.sharedSet(key, &bytes, if (read) |shared| shared.cas else 0) catch continue;
                return next;
            }
            return null;
        }
    };
}

fn decodeDepth(bytes: []const u8) u64 {
    if (bytes.len != 8) return 0;
    return std.mem.readInt(u64, bytes[0..8], .little);
}

/// `base` scaled by a factor in [0.75, 1.25) that differs per VM and attempt, so workers
/// and sidecars that failed together do not retry in lockstep.
fn jittered(base: u64, nonce_hex: [16]u8, attempt: u32) u64 {
    var hasher = std.hash.Wyhash.init(attempt);
    hasher.update(&nonce_hex);
    const fraction: f64 = @as(f64, @floatFromInt(hasher.final() % 1000)) / 1000.0;
    const scaled = @as(f64, @floatFromInt(base)) * (0.75 + 0.5 * fraction);
    return @max(1, @as(u64, @intFromFloat(scaled)));
}

// -- Tests ----------------------------------------------------------------------

const testing = std.testing;

const FakeEnv = struct {
    now: u64 = 0,
    store: FakeStore = .{},
    queue: [64][test_options.event_bytes_max]u8 = undefined,
    queue_lens: [64]usize = undefined,
    queue_head: usize = 0,
    queue_tail: usize = 0,
    dequeued: [test_options.event_bytes_max]u8 = undefined,
    calls: u32 = 0,
    last_body: [limits.batch_body_bytes_max]u8 = undefined,
    last_body_len: usize = 0,
    last_idempotency: [64]u8 = undefined,
    refuse_calls: bool = false,
    metrics: [@typeInfo(Metric).@"enum".fields.len]u64 = .{0} ** @typeInfo(Metric).@"enum".fields.len,

    pub fn nowMs(self: *FakeEnv) u64 {
        return self.now;
    }
    pub fn sharedGet(self: *FakeEnv, key: []const u8) StoreError!?SharedValue {
        return self.store.get(key);
    }
    pub fn sharedSet(self: *FakeEnv, key: []const u8, value: []const u8, cas: u32) StoreError!void {
        return self.store.set(key, value, cas);
    }
    pub fn registerQueue(_: *FakeEnv, _: []const u8) ?u32 {
        return 1;
    }
    pub fn enqueue(self: *FakeEnv, _: u32, bytes: []const u8) bool {
        const index = self.queue_tail % self.queue.len;
        @memcpy(self.queue[index][0..bytes.len], bytes);
        self.queue_lens[index] = bytes.len;
        self.queue_tail += 1;
        return true;
    }
    pub fn dequeue(self: *FakeEnv, _: u32) ?[]const u8 {
        if (self.queue_head == self.queue_tail) return null;
        const index = self.queue_head % self.queue.len;
        self.queue_head += 1;
        @memcpy(self.dequeued[0..self.queue_lens[index]], self.queue[index][0..self.queue_lens[index]]);
        return self.dequeued[0..self.queue_lens[index]];
    }
    pub fn httpCall(self: *FakeEnv, request: HttpRequest) ?u32 {
        if (self.refuse_calls) return null;
        self.calls += 1;
        @memcpy(self.last_body[0..request.body.len], request.body);
        self.last_body_len = request.body.len;
        for (request.headers) |header| {
            if (std.mem.eql(u8, header.name, "idempotency-key")) @memcpy(self.last_idempotency[0..header.value.len], header.value);
        }
        return self.calls;
    }
    pub fn count(self: *FakeEnv, which: Metric, delta: u64) void {
        self.metrics[@intFromEnum(which)] += delta;
    }
    pub fn gauge(self: *FakeEnv, which: Metric, level: u64) void {
        self.metrics[@intFromEnum(which)] = level;
    }
    pub fn warn(_: *FakeEnv, _: []const u8) void {}

    fn metricValue(self: *const FakeEnv, which: Metric) u64 {
        return self.metrics[@intFromEnum(which)];
    }

    fn body(self: *const FakeEnv) []const u8 {
        return self.last_body[0..self.last_body_len];
    }
};

/// Shared data with CAS, as the host keeps it (a few keys are all a sender uses).
const FakeStore = shared_store.FakeStore(4, limits.queue_name_bytes_max, 8);

const test_options = Options{ .module_name = "meshveil-test", .metric_prefix = "meshveil.test.telemetry", .event_bytes_max = 2048 };
const TestPipeline = Pipeline(FakeEnv, test_options);

fn testSettings() Settings {
    var settings = Settings{ .batch_events = 3, .queue_events_max = 5, .backoff_initial_ms = 1000, .backoff_max_ms = 4000, .max_attempts = 4 };
    settings.cluster.set("cp") catch unreachable;
    settings.authority.set("cp") catch unreachable;
    settings.path.set("/v1/telemetry") catch unreachable;
    settings.token.set("secret") catch unreachable;
    return settings;
}

fn emitNumbered(pipeline: *TestPipeline, count: u32) void {
    for (0..count) |_| {
        var id_buffer: [event_id_len]u8 = undefined;
        const id = pipeline.nextEventId(&id_buffer);
        var event_buffer: [96]u8 = undefined;
        const event = std.fmt.bufPrint(&event_buffer, "{{\"event_id\":\"{s}\"}}", .{id}) catch unreachable;
        _ = pipeline.emit(event);
    }
}

var test_env: FakeEnv = .{};
var test_pipeline: TestPipeline = undefined;

fn freshPipeline() *TestPipeline {
    test_env = .{};
    test_pipeline = TestPipeline.init(&test_env, testSettings(), "q/ns", "q/ns/depth", "node-1", "ueba", .{ 1, 2, 3, 4, 5, 6, 7, 8 });
    return &test_pipeline;
}

test "events are batched into one envelope and sent when the batch fills" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 2);
    pipeline.onQueueReady();
    try testing.expectEqual(@as(u32, 0), test_env.calls);
    emitNumbered(pipeline, 1);
    pipeline.onQueueReady();
    try testing.expectEqual(@as(u32, 1), test_env.calls);
    const parsed = try std.json.parseFromSlice(std.json.Value, testing.allocator, test_env.body(), .{});
    defer parsed.deinit();
    try testing.expectEqualStrings(schema, parsed.value.object.get("schema").?.string);
    try testing.expectEqualStrings("node-1", parsed.value.object.get("node").?.string);
    try testing.expectEqual(@as(usize, 3), parsed.value.object.get("events").?.array.items.len);
    try testing.expectEqualStrings("0102030405060708-000000000001", parsed.value.object.get("events").?.array.items[0].object.get("event_id").?.string);
    try testing.expect(pipeline.onHttpResponse(1, 200));
    try testing.expectEqual(@as(u64, 3), test_env.metricValue(.events_sent));
    try testing.expectEqual(@as(u64, 0), test_env.metricValue(.queue_depth));
}

test "a full queue drops and counts; the next envelope reports the drops" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 7);
    try testing.expectEqual(@as(u64, 5), test_env.metricValue(.events_enqueued));
    try testing.expectEqual(@as(u64, 2), test_env.metricValue(.dropped));
    pipeline.flush();
    try testing.expect(std.mem.indexOf(u8, test_env.body(), "\"dropped\":2") != null);
}

test "a failed batch is retried with backoff, byte for byte, then dropped after max_attempts" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 3);
    pipeline.flush();
    var first_body: [limits.batch_body_bytes_max]u8 = undefined;
    const first_len = test_env.last_body_len;
    @memcpy(first_body[0..first_len], test_env.body());
    try testing.expect(pipeline.onHttpResponse(1, 503));
    // Within the backoff nothing is sent.
    test_env.now = 500;
    pipeline.flush();
    try testing.expectEqual(@as(u32, 1), test_env.calls);
    test_env.now = 1500;
    pipeline.flush();
    try testing.expectEqual(@as(u32, 2), test_env.calls);
    try testing.expectEqualStrings(first_body[0..first_len], test_env.body());
    // A timeout answer, a refused call and a reset also count as failures.
    try testing.expect(pipeline.onHttpResponse(2, 504));
    test_env.now = 10_000;
    test_env.refuse_calls = true;
    pipeline.flush();
    test_env.refuse_calls = false;
    test_env.now = 20_000;
    pipeline.flush();
    try testing.expect(pipeline.onHttpResponse(3, 0));
    try testing.expectEqual(@as(u64, 4), test_env.metricValue(.batch_failures));
    try testing.expectEqual(@as(u64, 3), test_env.metricValue(.dropped));
    try testing.expect(!pipeline.hasBatch());
}

test "drops reported by a batch that is itself dropped are reported by the next one" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 7);
    pipeline.flush();
    try testing.expect(std.mem.indexOf(u8, test_env.body(), "\"dropped\":2") != null);
    try testing.expect(pipeline.onHttpResponse(1, 400));
    // The batch's three events and the two drops it reported come up in the next envelope.
    pipeline.flush();
    try testing.expect(std.mem.indexOf(u8, test_env.body(), "\"dropped\":5") != null);
}

test "a rejected batch is dropped at once; unknown call ids are not ours" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 1);
    pipeline.flush();
    try testing.expect(!pipeline.onHttpResponse(99, 200));
    try testing.expect(pipeline.onHttpResponse(1, 401));
    try testing.expectEqual(@as(u64, 1), test_env.metricValue(.batches_rejected));
    try testing.expectEqual(@as(u64, 1), test_env.metricValue(.dropped));
}

test "a call the host never answers is given up after its timeout" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 1);
    pipeline.flush();
    test_env.now = testSettings().timeout_ms + lost_call_grace_ms;
    pipeline.flush();
    try testing.expectEqual(@as(u64, 1), test_env.metricValue(.batch_failures));
    try testing.expect(pipeline.hasBatch());
}

test "backoff jitter stays within a quarter of the base" {
    for (0..50) |attempt| {
        const value = jittered(1000, "0123456789abcdef".*, @intCast(attempt));
        try testing.expect(value >= 750 and value < 1250);
    }
}

test "id-less events are stamped with an id and the plugin, which a retry keeps" {
    test_env = .{};
    var stamping = Pipeline(FakeEnv, .{ .module_name = "meshveil-dlp", .metric_prefix = "meshveil.dlp.telemetry", .event_bytes_max = 2048, .stamp_events = true })
        .init(&test_env, testSettings(), "findings", "findings/depth", "node-1", "dlp-inbound", .{ 9, 9, 9, 9, 9, 9, 9, 9 });
    _ = stamping.emit("{\"type\":\"finding\",\"count\":2}");
    _ = stamping.emit("{}");
    stamping.flush();
    const parsed = try std.json.parseFromSlice(std.json.Value, testing.allocator, test_env.body(), .{});
    defer parsed.deinit();
    try testing.expectEqualStrings("meshveil-dlp", parsed.value.object.get("module").?.string);
    const sent = parsed.value.object.get("events").?.array.items;
    try testing.expectEqual(@as(usize, 2), sent.len);
    try testing.expectEqualStrings("0909090909090909-000000000001", sent[0].object.get("event_id").?.string);
    try testing.expectEqualStrings("dlp-inbound", sent[0].object.get("plugin").?.string);
    try testing.expectEqual(@as(i64, 2), sent[0].object.get("count").?.integer);
    try testing.expectEqualStrings("0909090909090909-000000000002", sent[1].object.get("event_id").?.string);
    var first: [limits.batch_body_bytes_max]u8 = undefined;
    const first_len = test_env.last_body_len;
    @memcpy(first[0..first_len], test_env.body());
    try testing.expect(stamping.onHttpResponse(1, 503));
    test_env.now = 60_000;
    stamping.flush();
    try testing.expectEqual(@as(u32, 2), test_env.calls);
    try testing.expectEqualStrings(first[0..first_len], test_env.body());
}

test "metric names carry the sender's prefix" {
    try testing.expectEqualStrings("meshveil.telemetry.events_sent", Metric.events_sent.name("meshveil.telemetry"));
    try testing.expectEqualStrings("meshveil.dlp.telemetry.dropped", Metric.dropped.name("meshveil.dlp.telemetry"));
}

test "drops are reported by whichever VM sends next, exactly once" {
    const pipeline = freshPipeline();
    emitNumbered(pipeline, 7);
    // Another VM on the same host (same shared data and queue) drains the queue.
    var other = TestPipeline.init(&test_env, testSettings(), "q/ns", "q/ns/depth", "node-1", "ueba", .{ 8, 7, 6, 5, 4, 3, 2, 1 });
    other.flush();
    try testing.expectEqual(@as(u32, 1), test_env.calls);
    try testing.expect(std.mem.indexOf(u8, test_env.body(), "\"dropped\":2,") != null);
    try testing.expect(other.onHttpResponse(1, 200));
    pipeline.flush();
    try testing.expectEqual(@as(u32, 2), test_env.calls);
    try testing.expect(std.mem.indexOf(u8, test_env.body(), "\"dropped\":0,") != null);
}

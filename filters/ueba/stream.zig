//! One HTTP exchange through the UEBA filter.
//!
//! - Request headers: identify the entity (and its peer group) while the request headers
//!   are readable; an entity under a throttle or block penalty is answered 429 (with
//!   Retry-After) or 403 at once, and the refused request still counts toward its rate.
//! - Response headers: the exchange (status, the DLP filter's findings tag, the length when
//!   known) is added to the entity's window in shared data and scored; the score's action
//!   is applied to this very response: record (event), tag (response header), throttle or
//!   block (the response is replaced by a local reply, so flagged data does not leave).
//!   An error is an HTTP status of 400 or more, or a trailers-only gRPC answer whose
//!   `grpc-status` is not 0 (a status sent only in trailers is not seen). The findings
//!   tag is removed from every response (unless the policy says not to): it is mesh
//!   metadata, and would tell a client which detectors fired.
//! - Response body: when the length was unknown, the bytes are counted as they pass and
//!   added at the end of the stream.
//! - Log (the stream has ended): findings the DLP filter made in the bodies, which did
//!   not exist yet when the findings tag was written, are counted from the filter-state
//!   property it leaves at the end of the response (`meshveil_dlp_findings`: the whole
//!   exchange's totals; what the tag already counted is subtracted). They count toward
//!   the entity's window, so the exchanges after them are scored with them.
//! - Done: a request that never got a response (reset upstream) counts as an error.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const config = @import("config.zig");
const limits = @import("limits.zig");
const entity = @import("entity.zig");
const jwt = @import("jwt.zig");
const features = @import("features.zig");
const analysis = @import("analysis.zig");
const events = @import("events.zig");
const telemetry = @import("telemetry.zig");
const scoring = @import("scoring.zig");
const record = @import("record.zig");
const host_env = @import("host_env.zig");
const Filter = @import("filter.zig").Filter;
const Fixed3 = @import("decimal.zig").Fixed3;

const host = abi.host;
const Action = config.Action;

/// The DLP filter's filter-state property (filters/dlp/stream.zig, findings_property).
/// Envoy keeps filter state for the whole filter chain, so the filters before DLP read it.
pub const dlp_findings_property = "meshveil_dlp_findings";

// Per-VM scratch for the hot path (callbacks of one VM never overlap): nothing allocates.
var jwt_scratch: jwt.Scratch = .{};
var event_buffer: [limits.event_bytes_max]u8 = undefined;

const Phase = enum(u8) {
    /// Not identified (or the filter is not configured): nothing to do.
    idle,
    /// Identified; waiting for the response.
    identified,
    /// Refused at the request by a penalty; our own local reply passes back through us.
    refused,
    /// Scored at the response headers.
    scored,
};

pub const Stream = struct {
    filter: *Filter,
    phase: Phase = .idle,
    identity: entity.Identity = undefined,
    group: entity.Identity = undefined,
    has_group: bool = false,
    endpoint: ?u64 = null,
    /// Response bytes seen in body callbacks when the headers gave no length.
    body_bytes: u64 = 0,
    length_known: bool = false,
    /// Findings (total and per rule) counted at the response headers from the DLP tag.
    tagged_findings: u32 = 0,
    tagged_rule_amounts: [limits.rules_max]u64 = .{0} ** limits.rules_max,

    pub fn init(filter: *Filter) Stream {
        return .{ .filter = filter };
    }

    pub fn onRequestHeaders(self: *Stream) abi.Action {
        const filter = self.filter;
        if (!filter.ready) return .@"continue";
        const settings = &filter.settings;
        const facts = host_env.RequestFacts{};
        self.identity = entity.identify(settings, .entity, settings.entitySources(), &filter.claims.entity, &facts, &jwt_scratch) orelse {
            filter.metrics.count(.unidentified, 1);
            return .@"continue";
        };
        if (entity.identify(settings, .group, settings.groupSources(), &filter.claims.group, &facts, &jwt_scratch)) |group| {
            self.group = group;
            self.has_group = true;
        }
        const method = facts.header(":method") orelse "";
        const path = facts.header(":path") orelse "";
        self.endpoint = entity.endpointHash(settings.identityKey(), method, path);
        self.phase = .identified;
        const now_s = nowSeconds();
        const current = filter.entities.find(self.identity.id) orelse return .@"continue";
        const penalty = current.penaltyAt(now_s) orelse return .@"continue";
        // Refused requests count toward the rate: hammering through a throttle shows.
        var observation = features.Observation{ .requests = 1, .endpoint = self.endpoint };
        features.ruleAmounts(settings, &observation, &features.Findings{});
        self.count(&observation, now_s);
        filter.metrics.count(.refused_by_penalty, 1);
        self.phase = .refused;
        refuse(settings, penalty.action, penalty.remaining_s, "penalty");
        return .pause;
    }

    pub fn onResponseHeaders(self: *Stream, end_of_stream: bool) abi.Action {
        const filter = self.filter;
        if (!filter.ready) return .@"continue";
        const settings = &filter.settings;
        // Read the DLP filter's tag, then keep it inside the mesh: it would tell a client
        // which detectors fired.
        const findings = features.Findings.parse(responseHeader(settings.findings_header.slice()) orelse "");
        if (settings.strip_findings_header) host.removeHeader(.http_response_headers, settings.findings_header.slice()) catch {};
        if (self.phase != .identified) return .@"continue";
        const now_s = nowSeconds();
        const status = responseStatus();
        var bytes: u64 = 0;
        if (responseHeader("content-length")) |length| {
            if (std.fmt.parseUnsigned(u64, length, 10)) |value| {
                bytes = value;
                self.length_known = true;
            } else |_| {}
        }
        if (end_of_stream) self.length_known = true;
        var observation = features.Observation{
            .requests = 1,
            .errors = @intFromBool(status >= 400 or grpcFailed()),
            .findings = findings.total,
            .response_bytes = bytes,
            .endpoint = self.endpoint,
        };
        features.ruleAmounts(settings, &observation, &findings);
        self.tagged_findings = observation.findings;
        self.tagged_rule_amounts = observation.rule_amounts;
        var mutation: analysis.ExchangeMutation = undefined;
        self.observe(&mutation, &observation, now_s, true);
        self.phase = .scored;
        filter.metrics.count(.exchanges, 1);
        return self.act(&mutation, status);
    }

    pub fn onResponseBody(self: *Stream, body_size: usize, end_of_stream: bool) abi.Action {
        if (self.phase != .scored or self.length_known) return .@"continue";
        self.body_bytes +|= body_size;
        if (!end_of_stream) return .@"continue";
        self.length_known = true;
        var observation = features.Observation{ .response_bytes = self.body_bytes };
        features.ruleAmounts(&self.filter.settings, &observation, &features.Findings{});
        self.count(&observation, nowSeconds());
        return .@"continue";
    }

    /// The stream has ended (Envoy's access-log phase, before `onDone`): counts the
    /// findings the DLP filter made after its tag was written, i.e. in the bodies.
    pub fn onLog(self: *Stream) void {
        if (self.phase != .scored) return;
        const value = host.getProperty(&.{dlp_findings_property}) catch return;
        const totals = features.Findings.parse(value orelse return);
        var observation = features.Observation{ .findings = totals.total };
        features.ruleAmounts(&self.filter.settings, &observation, &totals);
        if (!features.subtractCounted(&observation, self.tagged_findings, &self.tagged_rule_amounts)) return;
        self.count(&observation, nowSeconds());
        self.filter.metrics.count(.body_findings, observation.findings);
    }

    pub fn onDone(self: *Stream) bool {
        if (self.phase == .identified) {
            // No response reached this filter: the upstream failed or reset.
            var observation = features.Observation{ .requests = 1, .errors = 1, .endpoint = self.endpoint };
            features.ruleAmounts(&self.filter.settings, &observation, &features.Findings{});
            self.count(&observation, nowSeconds());
            self.phase = .scored;
        }
        return true;
    }

    /// Adds the observation to the entity (and, when a window closed, to its group).
    fn observe(self: *Stream, mutation: *analysis.ExchangeMutation, observation: *const features.Observation, now_s: u64, score: bool) void {
        const filter = self.filter;
        const group: ?*const entity.Identity = if (self.has_group) &self.group else null;
        var group_record: ?record.GroupRecord = null;
        if (score) {
            if (group) |known| group_record = filter.groups.find(known.id);
        }
        mutation.* = analysis.ExchangeMutation{
            .settings = &filter.settings,
            .identity = &self.identity,
            .group = group,
            .observation = observation,
            .group_baseline = if (group_record) |*found| &found.baseline else null,
            .now_s = now_s,
            .score = score,
        };
        filter.countOutcome(filter.entities.update(self.identity.id, now_s, mutation));
        if (mutation.closed) |values| {
            if (group) |known| filter.teachGroup(known.id, values, now_s);
        }
    }

    /// Adds an observation that is counted, not scored.
    fn count(self: *Stream, observation: *const features.Observation, now_s: u64) void {
        var mutation: analysis.ExchangeMutation = undefined;
        self.observe(&mutation, observation, now_s, false);
    }

    fn act(self: *Stream, mutation: *const analysis.ExchangeMutation, status: u32) abi.Action {
        const filter = self.filter;
        const settings = &filter.settings;
        const verdict = &mutation.verdict;
        var rule_hits: u64 = 0;
        for (verdict.reasonList()) |reason| rule_hits += @intFromBool(reason == .rule);
        filter.metrics.count(.rule_hits, rule_hits);
        if (!verdict.action.atLeast(.record)) return .@"continue";
        filter.metrics.count(.anomalies, 1);
        const enforced = verdict.action.atLeast(.throttle);
        if (mutation.emit_event) self.emitEvent(mutation, status, enforced);
        switch (verdict.action) {
            .none, .record => return .@"continue",
            .tag => {
                filter.metrics.count(.tagged, 1);
                var tag_buffer: [64]u8 = undefined;
                const tag = tagValue(&tag_buffer, verdict);
                host.replaceHeader(.http_response_headers, settings.tag_header.slice(), tag) catch {};
                return .@"continue";
            },
            .throttle, .block => {
                filter.metrics.count(if (verdict.action == .block) .blocked else .throttled, 1);
                const seconds: u64 = if (verdict.action == .block) settings.block_seconds else settings.throttle_seconds;
                refuse(settings, verdict.action, seconds, "anomaly");
                return .pause;
            },
        }
    }

    fn emitEvent(self: *Stream, mutation: *const analysis.ExchangeMutation, status: u32, enforced: bool) void {
        const verdict = &mutation.verdict;
        const filter = self.filter;
        const pipeline = filter.telemetryPipeline() orelse return;
        const settings = &filter.settings;
        var id_buffer: [telemetry.event_id_len]u8 = undefined;
        const event_id = pipeline.nextEventId(&id_buffer);
        const include_path = if (settings.telemetry) |telemetry_settings| telemetry_settings.include_path else false;
        const event = events.Anomaly{
            .event_id = event_id,
            .time_ms = host_env.nowNanoseconds() / std.time.ns_per_ms,
            .plugin = filter.plugin_name.slice(),
            .settings = settings,
            .identity = &self.identity,
            .group = if (self.has_group) &self.group else null,
            .request = .{
                .request_id = property(&.{ "request", "id" }),
                .method = property(&.{ "request", "method" }),
                .path = if (include_path) property(&.{ "request", "url_path" }) else null,
                .route = property(&.{"route_name"}),
                .endpoint = self.endpoint,
                .status = status,
            },
            .verdict = verdict,
            .enforced = enforced,
            .window = &mutation.window,
        };
        const json = events.writeAnomaly(&event, &event_buffer) catch {
            filter.metrics.count(.events_too_large, 1);
            return;
        };
        _ = pipeline.emit(json);
    }
};

/// `action=tag; score=12.345`: enough for an upstream or client to act on, nothing identifying.
fn tagValue(buffer: []u8, verdict: *const scoring.Verdict) []const u8 {
    return std.fmt.bufPrint(buffer, "action={s}; score={}", .{ @tagName(verdict.action), Fixed3{ .value = verdict.score } }) catch "action=tag";
}

/// Answers the exchange locally: 429 with Retry-After for a throttle, 403 for a block.
fn refuse(settings: *const config.Settings, action: Action, seconds: u64, comptime why: []const u8) void {
    assert(action.atLeast(.throttle));
    var retry_buffer: [24]u8 = undefined;
    const retry_after = std.fmt.bufPrint(&retry_buffer, "{d}", .{@max(seconds, 1)}) catch unreachable;
    const tag = if (action == .block) "action=block" else "action=throttle";
    const throttled = [_]abi.header_map.Pair{
        .{ .name = "retry-after", .value = retry_after },
        .{ .name = settings.tag_header.slice(), .value = tag },
    };
    const blocked = [_]abi.header_map.Pair{.{ .name = settings.tag_header.slice(), .value = tag }};
    var serialized: [512]u8 = undefined;
    const headers = abi.header_map.serialize(if (action == .block) &blocked else &throttled, &serialized) catch "";
    const block = action == .block;
    host.sendLocalResponse(.{
        .status_code = if (block) 403 else 429,
        .details = if (block) "meshveil_ueba_block_" ++ why else "meshveil_ueba_throttle_" ++ why,
        .body = if (block) "request refused by behaviour policy\n" else "too many requests for this identity; retry later\n",
        .headers = headers,
    }) catch |err| host.logFmt(.err, "meshveil-ueba: local reply failed: {s}", .{@errorName(err)});
}

fn nowSeconds() u64 {
    return host_env.nowNanoseconds() / std.time.ns_per_s;
}

fn responseStatus() u32 {
    const status = responseHeader(":status") orelse return 0;
    return std.fmt.parseUnsigned(u32, status, 10) catch 0;
}

/// A trailers-only gRPC answer carries its status in the headers (HTTP 200 regardless).
fn grpcFailed() bool {
    const status = responseHeader("grpc-status") orelse return false;
    return !std.mem.eql(u8, status, "0");
}

fn responseHeader(name: []const u8) ?[]const u8 {
    return host.getHeader(.http_response_headers, name) catch null;
}

fn property(path: []const []const u8) []const u8 {
    const value = host.getProperty(path) catch return "";
    return value orelse "";
}

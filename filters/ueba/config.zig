//! The UEBA filter's own configuration (the verified inner config the trust layer hands
//! over): compact JSON, parsed once at configure time into fixed-capacity `Settings`.
//! Until the policy compiler emits it, this file is the format's definition:
//!
//! ```json
//! {
//!   "identity_key": "<hex, 32-128 chars>",        // keys the hash of every identity
//!   "state_namespace": "default",                  // shared-data and queue names
//!   "entity_sources": [                            // first one that yields a value wins
//!     {"source": "jwt_payload_header", "header": "x-jwt-payload"},
//!     {"source": "bearer_jwt"},                    // Authorization: Bearer; NOT verified here
//!     {"source": "peer_principal"},                // source.principal (mTLS)
//!     {"source": "api_key_header", "header": "x-api-key"},
//!     {"source": "source_ip"}                      // source.address without the port
//!   ],                                             // also {"source": "header", "header": …}
//!                                                  // JWT sources take "claim" (default "sub")
//!   "group_sources": [{"source": "peer_principal"}],
//!   "reveal_identities": ["peer_principal"],       // kinds whose raw value may reach telemetry
//!   "findings_header": "x-meshveil-findings", "strip_findings_header": true,
//!   "tag_header": "x-meshveil-ueba",
//!   "window_seconds": 60, "warmup_windows": 10, "ewma_alpha": 0.1, "learning_cap_z": 4,
//!   "max_entities": 4096, "max_groups": 256, "entity_ttl_seconds": 604800,
//!   "score_features": ["requests", "response_bytes", "findings", "errors", "endpoints", "hour_of_day"],
//!   "min_stddev": {"requests": 2, "response_bytes": 4096, "findings": 2, "errors": 1, "endpoints": 2},
//!   "hour_of_day": {"history_hours": 24, "half_life_hours": 168, "sample_cap": 1000},
//!   "bands": [{"min_score": 4, "action": "record"}, {"min_score": 6, "action": "tag"},
//!             {"min_score": 10, "action": "throttle"}, {"min_score": 20, "action": "block"}],
//!   "rules": [{"name": "card-volume", "feature": "findings", "detector": "credit_card",
//!              "threshold": 500, "window_seconds": 3600, "action": "block"}],
//!   "throttle_seconds": 60, "block_seconds": 300, "event_interval_seconds": 60,
//!   "tick_ms": 1000,   // "sweep_slots_per_tick": by default each table is swept once a window
//!   "telemetry": {"cluster": "meshveil-controlplane", "authority": "meshveil-controlplane",
//!                 "path": "/v1/telemetry", "token": "<per-node credential>",
//!                 "batch_events": 32, "queue_events_max": 1024, "timeout_ms": 5000,
//!                 "backoff_initial_ms": 1000, "backoff_max_ms": 60000, "max_attempts": 20,
//!                 "include_path": false}
//! }
//! ```
//!
//! Only `identity_key` and `entity_sources` are required. The values shown are the
//! defaults, except: `group_sources`, `reveal_identities` and `rules` default to empty,
//! and `telemetry` to none (no events are sent); inside it `cluster` and `token` are
//! required and `authority` defaults to the cluster name. A config that breaks a rule is
//! refused with a message naming the field (or the JSON line and column) and what was
//! wrong.

const std = @import("std");
const limits = @import("limits.zig");
const telemetry_settings = @import("telemetry").settings;

/// What a score band or a rule does to the exchange. Ordered: a later one includes the
/// earlier ones (a block is also recorded).
pub const Action = enum(u8) {
    none = 0,
    /// Count it and send an anomaly event.
    record = 1,
    /// Also add the tag header to the response.
    tag = 2,
    /// Also answer 429 with Retry-After, now and until the throttle ends.
    throttle = 3,
    /// Also answer 403, now and until the block ends.
    block = 4,

    pub fn atLeast(self: Action, other: Action) bool {
        return @intFromEnum(self) >= @intFromEnum(other);
    }

    pub fn max(a: Action, b: Action) Action {
        return if (a.atLeast(b)) a else b;
    }
};

/// Where an identity (or a peer group) comes from.
pub const SourceKind = enum(u8) {
    /// A JWT payload that Istio's RequestAuthentication verified and forwarded
    /// (`outputPayloadToHeader`): base64url JSON in `header`.
    jwt_payload_header = 0,
    /// The payload of `Authorization: Bearer <jwt>`, decoded but NOT verified by this filter;
    /// telemetry marks these identities `"verified": false`.
    bearer_jwt = 1,
    /// The mTLS peer's principal (`source.principal`, a SPIFFE id under Istio).
    peer_principal = 2,
    /// An API key header; only its keyed hash is ever kept.
    api_key_header = 3,
    /// The downstream peer address (`source.address`) without its port.
    source_ip = 4,
    /// Any other request header, hashed like the rest.
    header = 5,

    pub fn needsHeader(self: SourceKind) bool {
        return switch (self) {
            .jwt_payload_header, .api_key_header, .header => true,
            .bearer_jwt, .peer_principal, .source_ip => false,
        };
    }

    pub fn isJwt(self: SourceKind) bool {
        return self == .jwt_payload_header or self == .bearer_jwt;
    }

    /// Whether the value was checked by someone before it reached this filter.
    pub fn verified(self: SourceKind) bool {
        return self != .bearer_jwt and self != .header;
    }
};

/// Features a window keeps and a baseline learns; `hour_of_day` is scored from a separate
/// per-entity histogram.
pub const Feature = enum(u8) {
    requests = 0,
    response_bytes = 1,
    findings = 2,
    errors = 3,
    endpoints = 4,
    hour_of_day = 5,

    pub const windowed_count = 5;

    pub fn isWindowed(self: Feature) bool {
        return @intFromEnum(self) < windowed_count;
    }
};

pub const Source = struct {
    kind: SourceKind,
    header: Text(limits.header_name_bytes_max) = .{},
    /// JWT kinds: the claim to read ("sub" for entities).
    claim: Text(limits.name_bytes_max) = .{},
};

pub const Rule = struct {
    name: Text(limits.name_bytes_max) = .{},
    feature: Feature,
    /// `findings` only: the DLP detector counted; empty counts every detector.
    detector: Text(limits.name_bytes_max) = .{},
    threshold: u64,
    window_seconds: u32,
    action: Action,
};

pub const Band = struct {
    min_score: f64,
    action: Action,
};

pub const HourOfDay = struct {
    /// History an entity needs before its hours are scored.
    history_hours: u32 = 24,
    /// Half-life of the hour histogram's counts.
    half_life_hours: u32 = 168,
    /// Most observations the hour z-score counts, so a busy identity is not flagged for
    /// a slightly quieter hour.
    sample_cap: u32 = 1000,
};

/// Where events go and how they are batched (filters/telemetry/settings.zig).
pub const Telemetry = telemetry_settings.Settings;

/// The parsed configuration: fixed capacity, no pointers into the config bytes.
pub const Settings = struct {
    identity_key: [limits.identity_key_bytes_max]u8 = undefined,
    identity_key_len: usize = 0,
    state_namespace: Text(limits.name_bytes_max) = .{},
    entity_sources: [limits.sources_max]Source = undefined,
    entity_sources_len: usize = 0,
    group_sources: [limits.sources_max]Source = undefined,
    group_sources_len: usize = 0,
    /// Indexed by `SourceKind`.
    reveal: [@typeInfo(SourceKind).@"enum".fields.len]bool = .{false} ** @typeInfo(SourceKind).@"enum".fields.len,
    findings_header: Text(limits.header_name_bytes_max) = .{},
    /// Remove the findings tag from responses: it is for the mesh, not for clients.
    strip_findings_header: bool = true,
    tag_header: Text(limits.header_name_bytes_max) = .{},
    window_seconds: u32 = 60,
    warmup_windows: u32 = 10,
    ewma_alpha: f64 = 0.1,
    /// A closed window teaches a warm baseline at most this many deviations above its mean.
    learning_cap_z: f64 = 4,
    max_entities: u32 = 4096,
    max_groups: u32 = 256,
    entity_ttl_seconds: u32 = 7 * 24 * 3600,
    /// Indexed by `Feature`.
    score_features: [@typeInfo(Feature).@"enum".fields.len]bool = .{true} ** @typeInfo(Feature).@"enum".fields.len,
    /// Indexed by windowed `Feature`.
    min_stddev: [Feature.windowed_count]f64 = .{ 2, 4096, 2, 1, 2 },
    hour_of_day: HourOfDay = .{},
    bands: [limits.bands_max]Band = undefined,
    bands_len: usize = 0,
    rules: [limits.rules_max]Rule = undefined,
    rules_len: usize = 0,
    throttle_seconds: u32 = 60,
    block_seconds: u32 = 300,
    event_interval_seconds: u32 = 60,
    tick_ms: u32 = 1000,
    /// Slots of each table a tick ages; null: enough to go round each table once per window.
    sweep_slots_per_tick: ?u32 = null,
    telemetry: ?Telemetry = null,

    pub fn identityKey(self: *const Settings) []const u8 {
        return self.identity_key[0..self.identity_key_len];
    }

    pub fn entitySources(self: *const Settings) []const Source {
        return self.entity_sources[0..self.entity_sources_len];
    }

    pub fn groupSources(self: *const Settings) []const Source {
        return self.group_sources[0..self.group_sources_len];
    }

    /// Slots of a table of `capacity` that one tick ages: as configured, or enough to go
    /// round the table once per window (at least one).
    pub fn sweepSlots(self: *const Settings, capacity: u32) u32 {
        if (self.sweep_slots_per_tick) |slots| return @min(slots, capacity);
        const per_window_ms = @as(u64, self.window_seconds) * 1000;
        const slots = std.math.divCeil(u64, @as(u64, capacity) * self.tick_ms, per_window_ms) catch unreachable;
        return @intCast(std.math.clamp(slots, 1, @min(capacity, limits.sweep_slots_per_tick_max)));
    }

    pub fn bandList(self: *const Settings) []const Band {
        return self.bands[0..self.bands_len];
    }

    pub fn ruleList(self: *const Settings) []const Rule {
        return self.rules[0..self.rules_len];
    }

    pub fn reveals(self: *const Settings, kind: SourceKind) bool {
        return self.reveal[@intFromEnum(kind)];
    }

    pub fn scores(self: *const Settings, feature: Feature) bool {
        return self.score_features[@intFromEnum(feature)];
    }

    /// The action of the highest band `score` reaches.
    pub fn bandAction(self: *const Settings, score: f64) Action {
        var action: Action = .none;
        for (self.bandList()) |band| {
            if (score >= band.min_score) action = action.max(band.action);
        }
        return action;
    }

    /// Whether some JWT source (entity or group) is configured, so requests decode a token.
    pub fn readsJwt(self: *const Settings) bool {
        for (self.entitySources()) |source| if (source.kind.isJwt()) return true;
        for (self.groupSources()) |source| if (source.kind.isJwt()) return true;
        return false;
    }
};

/// A bounded string kept inside `Settings` (the one the telemetry settings use).
pub const Text = telemetry_settings.Text;

/// Why a config was refused: a message naming the field, for the log.
pub const Problem = struct {
    buffer: [256]u8 = undefined,
    len: usize = 0,

    pub fn text(self: *const Problem) []const u8 {
        return self.buffer[0..self.len];
    }

    fn set(self: *Problem, comptime format: []const u8, args: anytype) error{Invalid} {
        const written = std.fmt.bufPrint(&self.buffer, format, args) catch self.buffer[0..];
        self.len = written.len;
        return error.Invalid;
    }
};

// -- The JSON shape ----------------------------------------------------------

const SourceJson = struct {
    source: SourceKind,
    header: ?[]const u8 = null,
    claim: ?[]const u8 = null,
};

const RuleJson = struct {
    name: []const u8,
    feature: Feature,
    detector: ?[]const u8 = null,
    threshold: u64,
    window_seconds: u32,
    action: Action,
};

const BandJson = struct {
    min_score: f64,
    action: Action,
};

const MinStddevJson = struct {
    requests: f64 = 2,
    response_bytes: f64 = 4096,
    findings: f64 = 2,
    errors: f64 = 1,
    endpoints: f64 = 2,
};

const TelemetryJson = telemetry_settings.Json;

const default_bands = [_]BandJson{
    .{ .min_score = 4, .action = .record },
    .{ .min_score = 6, .action = .tag },
    .{ .min_score = 10, .action = .throttle },
    .{ .min_score = 20, .action = .block },
};

const ConfigJson = struct {
    identity_key: []const u8,
    state_namespace: []const u8 = "default",
    entity_sources: []const SourceJson,
    group_sources: []const SourceJson = &.{},
    reveal_identities: []const SourceKind = &.{},
    findings_header: []const u8 = "x-meshveil-findings",
    strip_findings_header: bool = true,
    tag_header: []const u8 = "x-meshveil-ueba",
    window_seconds: u32 = 60,
    warmup_windows: u32 = 10,
    ewma_alpha: f64 = 0.1,
    learning_cap_z: f64 = 4,
    max_entities: u32 = 4096,
    max_groups: u32 = 256,
    entity_ttl_seconds: u32 = 7 * 24 * 3600,
    score_features: []const Feature = &.{ .requests, .response_bytes, .findings, .errors, .endpoints, .hour_of_day },
    min_stddev: MinStddevJson = .{},
    hour_of_day: HourOfDay = .{},
    bands: []const BandJson = &default_bands,
    rules: []const RuleJson = &.{},
    throttle_seconds: u32 = 60,
    block_seconds: u32 = 300,
    event_interval_seconds: u32 = 60,
    tick_ms: u32 = 1000,
    sweep_slots_per_tick: ?u32 = null,
    telemetry: ?TelemetryJson = null,
};

pub const ParseError = error{Invalid};

/// Parses `bytes` into `out`. `scratch` holds the JSON structure while it is copied; nothing
/// in `out` points into `bytes` or `scratch` afterwards.
pub fn parse(bytes: []const u8, scratch: []u8, out: *Settings, problem: *Problem) ParseError!void {
    if (bytes.len == 0) return problem.set("the configuration is empty; expected a JSON object", .{});
    if (bytes.len > limits.config_bytes_max) {
        return problem.set("the configuration is {d} bytes; at most {d} are read", .{ bytes.len, limits.config_bytes_max });
    }
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    var scanner = std.json.Scanner.initCompleteInput(fba.allocator(), bytes);
    var diagnostics = std.json.Diagnostics{};
    scanner.enableDiagnostics(&diagnostics);
    const json = std.json.parseFromTokenSourceLeaky(ConfigJson, fba.allocator(), &scanner, .{}) catch |err| {
        return problem.set("JSON line {d} column {d}: {s}", .{ diagnostics.getLine(), diagnostics.getColumn(), describeJsonError(err) });
    };
    out.* = .{};
    try copyIdentity(json, out, problem);
    try copySources(json, out, problem);
    try copyScoring(json, out, problem);
    try copyRules(json, out, problem);
    try copyTelemetry(json, out, problem);
}

fn describeJsonError(err: anyerror) []const u8 {
    return switch (err) {
        error.UnknownField => "unknown field",
        error.MissingField => "a required field is missing",
        error.DuplicateField => "a field appears twice",
        error.InvalidEnumTag => "not one of the allowed names",
        error.Overflow => "number out of range",
        error.InvalidNumber, error.InvalidCharacter, error.UnexpectedToken => "wrong type of value",
        error.OutOfMemory => "structure too large",
        error.SyntaxError, error.UnexpectedEndOfInput => "not valid JSON",
        else => @errorName(err),
    };
}

fn copyIdentity(json: ConfigJson, out: *Settings, problem: *Problem) ParseError!void {
    const key_hex = json.identity_key;
    if (key_hex.len % 2 != 0 or key_hex.len < 2 * limits.identity_key_bytes_min or key_hex.len > 2 * limits.identity_key_bytes_max) {
        return problem.set("identity_key: expected {d} to {d} hex characters (an even count), got {d}", .{
            2 * limits.identity_key_bytes_min, 2 * limits.identity_key_bytes_max, key_hex.len,
        });
    }
    const key = std.fmt.hexToBytes(&out.identity_key, key_hex) catch {
        return problem.set("identity_key: not hexadecimal", .{});
    };
    out.identity_key_len = key.len;
    if (json.state_namespace.len == 0) return problem.set("state_namespace: must not be empty", .{});
    for (json.state_namespace) |byte| {
        if (!std.ascii.isAlphanumeric(byte) and byte != '-' and byte != '_' and byte != '.') {
            return problem.set("state_namespace: only letters, digits, '-', '_' and '.' are allowed", .{});
        }
    }
    out.state_namespace.set(json.state_namespace) catch return problem.set("state_namespace: longer than {d} bytes", .{limits.name_bytes_max});
    for (json.reveal_identities) |kind| out.reveal[@intFromEnum(kind)] = true;
}

fn copySources(json: ConfigJson, out: *Settings, problem: *Problem) ParseError!void {
    if (json.entity_sources.len == 0) return problem.set("entity_sources: list at least one source", .{});
    if (json.entity_sources.len > limits.sources_max) return problem.set("entity_sources: at most {d} sources", .{limits.sources_max});
    if (json.group_sources.len > limits.sources_max) return problem.set("group_sources: at most {d} sources", .{limits.sources_max});
    for (json.entity_sources, 0..) |source, index| {
        out.entity_sources[index] = try copySource(source, "entity_sources", index, problem);
    }
    out.entity_sources_len = json.entity_sources.len;
    for (json.group_sources, 0..) |source, index| {
        out.group_sources[index] = try copySource(source, "group_sources", index, problem);
    }
    out.group_sources_len = json.group_sources.len;
    try copyHeaderName(&out.findings_header, json.findings_header, "findings_header", problem);
    out.strip_findings_header = json.strip_findings_header;
    try copyHeaderName(&out.tag_header, json.tag_header, "tag_header", problem);
}

fn copySource(json: SourceJson, comptime list: []const u8, index: usize, problem: *Problem) ParseError!Source {
    var source = Source{ .kind = json.source };
    if (json.source.needsHeader()) {
        const header = json.header orelse return problem.set(list ++ "[{d}]: source {s} needs a \"header\"", .{ index, @tagName(json.source) });
        try copyHeaderName(&source.header, header, list ++ ".header", problem);
    } else if (json.header != null) {
        return problem.set(list ++ "[{d}]: source {s} takes no \"header\"", .{ index, @tagName(json.source) });
    }
    if (json.source.isJwt()) {
        const claim = json.claim orelse "sub";
        if (claim.len == 0) return problem.set(list ++ "[{d}]: claim must not be empty", .{index});
        source.claim.set(claim) catch return problem.set(list ++ "[{d}]: claim longer than {d} bytes", .{ index, limits.name_bytes_max });
    } else if (json.claim != null) {
        return problem.set(list ++ "[{d}]: source {s} takes no \"claim\"", .{ index, @tagName(json.source) });
    }
    return source;
}

fn copyHeaderName(out: anytype, name: []const u8, comptime field: []const u8, problem: *Problem) ParseError!void {
    if (name.len == 0) return problem.set(field ++ ": must not be empty", .{});
    for (name) |byte| {
        // Envoy keeps header names lowercase; a mixed-case name would never match.
        if (std.ascii.isUpper(byte) or byte <= ' ' or byte == ':' or byte >= 0x7f) {
            return problem.set(field ++ ": \"{s}\" is not a lowercase header name", .{name});
        }
    }
    out.set(name) catch return problem.set(field ++ ": longer than {d} bytes", .{limits.header_name_bytes_max});
}

fn copyScoring(json: ConfigJson, out: *Settings, problem: *Problem) ParseError!void {
    if (json.window_seconds < 1 or json.window_seconds > 86400) return problem.set("window_seconds: expected 1 to 86400, got {d}", .{json.window_seconds});
    if (json.warmup_windows < 1 or json.warmup_windows > 100_000) return problem.set("warmup_windows: expected 1 to 100000, got {d}", .{json.warmup_windows});
    if (!(json.ewma_alpha > 0 and json.ewma_alpha <= 1)) return problem.set("ewma_alpha: expected a number in (0, 1]", .{});
    if (!(json.learning_cap_z > 0)) return problem.set("learning_cap_z: must be positive", .{});
    if (json.max_entities < limits.probes or json.max_entities > limits.entities_max) {
        return problem.set("max_entities: expected {d} to {d}, got {d}", .{ limits.probes, limits.entities_max, json.max_entities });
    }
    if (json.max_groups < limits.probes or json.max_groups > limits.groups_max) {
        return problem.set("max_groups: expected {d} to {d}, got {d}", .{ limits.probes, limits.groups_max, json.max_groups });
    }
    if (json.entity_ttl_seconds < json.window_seconds) return problem.set("entity_ttl_seconds: must be at least window_seconds ({d})", .{json.window_seconds});
    if (json.tick_ms < 10 or json.tick_ms > 3_600_000) return problem.set("tick_ms: expected 10 to 3600000, got {d}", .{json.tick_ms});
    if ((json.sweep_slots_per_tick orelse 0) > limits.sweep_slots_per_tick_max) {
        return problem.set("sweep_slots_per_tick: at most {d}", .{limits.sweep_slots_per_tick_max});
    }
    const hours = json.hour_of_day;
    if (hours.half_life_hours < 1 or hours.sample_cap < 24) return problem.set("hour_of_day: half_life_hours must be at least 1 and sample_cap at least 24", .{});
    out.window_seconds = json.window_seconds;
    out.warmup_windows = json.warmup_windows;
    out.ewma_alpha = json.ewma_alpha;
    out.learning_cap_z = json.learning_cap_z;
    out.max_entities = json.max_entities;
    out.max_groups = json.max_groups;
    out.entity_ttl_seconds = json.entity_ttl_seconds;
    out.tick_ms = json.tick_ms;
    out.sweep_slots_per_tick = json.sweep_slots_per_tick;
    out.hour_of_day = hours;
    out.throttle_seconds = json.throttle_seconds;
    out.block_seconds = json.block_seconds;
    out.event_interval_seconds = json.event_interval_seconds;
    out.score_features = .{false} ** out.score_features.len;
    for (json.score_features) |feature| out.score_features[@intFromEnum(feature)] = true;
    const floors = json.min_stddev;
    out.min_stddev = .{ floors.requests, floors.response_bytes, floors.findings, floors.errors, floors.endpoints };
    for (out.min_stddev, 0..) |floor, index| {
        if (!(floor > 0)) return problem.set("min_stddev.{s}: must be positive", .{@tagName(@as(Feature, @enumFromInt(index)))});
    }
    if (json.bands.len > limits.bands_max) return problem.set("bands: at most {d}", .{limits.bands_max});
    for (json.bands, 0..) |band, index| {
        if (!(band.min_score > 0) or band.action == .none) return problem.set("bands[{d}]: min_score must be positive and action not \"none\"", .{index});
        if (index > 0 and !(band.min_score > json.bands[index - 1].min_score)) return problem.set("bands[{d}]: min_score must grow from band to band", .{index});
        out.bands[index] = .{ .min_score = band.min_score, .action = band.action };
    }
    out.bands_len = json.bands.len;
}

fn copyRules(json: ConfigJson, out: *Settings, problem: *Problem) ParseError!void {
    if (json.rules.len > limits.rules_max) return problem.set("rules: at most {d}", .{limits.rules_max});
    for (json.rules, 0..) |rule, index| {
        if (rule.name.len == 0 or rule.name.len > limits.name_bytes_max) return problem.set("rules[{d}].name: 1 to {d} bytes", .{ index, limits.name_bytes_max });
        for (json.rules[0..index]) |earlier| {
            if (std.mem.eql(u8, earlier.name, rule.name)) return problem.set("rules[{d}].name: \"{s}\" is used twice", .{ index, rule.name });
        }
        if (!rule.feature.isWindowed() or rule.feature == .endpoints) {
            // Distinct counts do not add up across a sliding window's buckets.
            return problem.set("rules[{d}].feature: {s} takes no threshold rule; use score_features", .{ index, @tagName(rule.feature) });
        }
        if (rule.detector != null and rule.feature != .findings) return problem.set("rules[{d}].detector: only a findings rule names a detector", .{index});
        if (rule.threshold == 0) return problem.set("rules[{d}].threshold: must be positive", .{index});
        if (rule.window_seconds < 1 or rule.window_seconds > 7 * 86400) return problem.set("rules[{d}].window_seconds: expected 1 to 604800", .{index});
        if (rule.action == .none) return problem.set("rules[{d}].action: must not be \"none\"", .{index});
        var copy = Rule{ .feature = rule.feature, .threshold = rule.threshold, .window_seconds = rule.window_seconds, .action = rule.action };
        copy.name.set(rule.name) catch unreachable;
        copy.detector.set(rule.detector orelse "") catch return problem.set("rules[{d}].detector: longer than {d} bytes", .{ index, limits.name_bytes_max });
        out.rules[index] = copy;
    }
    out.rules_len = json.rules.len;
}

fn copyTelemetry(json: ConfigJson, out: *Settings, problem: *Problem) ParseError!void {
    const telemetry = json.telemetry orelse return;
    var copy: Telemetry = undefined;
    if (telemetry_settings.copy(telemetry, &copy)) |message| return problem.set("{s}", .{message});
    out.telemetry = copy;
}

// -- Tests --------------------------------------------------------------------

const testing = std.testing;
var test_scratch: [limits.config_scratch_bytes]u8 = undefined;

fn parseForTest(bytes: []const u8, settings: *Settings, problem: *Problem) ParseError!void {
    return parse(bytes, &test_scratch, settings, problem);
}

const minimal =
    \\{"identity_key": "000102030405060708090a0b0c0d0e0f",
    \\ "entity_sources": [{"source": "bearer_jwt"}, {"source": "source_ip"}]}
;

test "a minimal config takes the documented defaults" {
    var settings: Settings = undefined;
    var problem = Problem{};
    try parseForTest(minimal, &settings, &problem);
    try testing.expectEqual(@as(usize, 16), settings.identityKey().len);
    try testing.expectEqual(SourceKind.bearer_jwt, settings.entitySources()[0].kind);
    try testing.expectEqualStrings("sub", settings.entitySources()[0].claim.slice());
    try testing.expectEqual(@as(u32, 60), settings.window_seconds);
    try testing.expectEqualStrings("x-meshveil-findings", settings.findings_header.slice());
    try testing.expectEqual(@as(usize, 4), settings.bandList().len);
    try testing.expectEqual(Action.tag, settings.bandAction(7));
    try testing.expectEqual(Action.none, settings.bandAction(3.9));
    try testing.expectEqual(Action.block, settings.bandAction(25));
    try testing.expect(settings.telemetry == null);
    try testing.expect(settings.readsJwt());
    // 4096 slots, a tick a second, a minute per window: 69 slots a tick; 256 slots: 5.
    try testing.expectEqual(@as(u32, 69), settings.sweepSlots(4096));
    try testing.expectEqual(@as(u32, 5), settings.sweepSlots(256));
    try testing.expectEqual(@as(u32, 1), settings.sweepSlots(8));
}

test "rules, telemetry and reveal lists are copied" {
    var settings: Settings = undefined;
    var problem = Problem{};
    try parseForTest(
        \\{"identity_key": "000102030405060708090a0b0c0d0e0f",
        \\ "entity_sources": [{"source": "api_key_header", "header": "x-api-key"}],
        \\ "reveal_identities": ["peer_principal"],
        \\ "rules": [{"name": "cards", "feature": "findings", "detector": "credit_card",
        \\            "threshold": 500, "window_seconds": 3600, "action": "block"}],
        \\ "telemetry": {"cluster": "cp", "token": "t0k3n", "batch_events": 8}}
    , &settings, &problem);
    try testing.expectEqualStrings("credit_card", settings.ruleList()[0].detector.slice());
    try testing.expectEqual(@as(u64, 500), settings.ruleList()[0].threshold);
    try testing.expect(settings.reveals(.peer_principal));
    try testing.expect(!settings.reveals(.api_key_header));
    const telemetry = settings.telemetry.?;
    try testing.expectEqualStrings("cp", telemetry.authority.slice());
    try testing.expectEqualStrings("/v1/telemetry", telemetry.path.slice());
    try testing.expectEqual(@as(u32, 8), telemetry.batch_events);
}

test "bad configs are refused with the field named" {
    const cases = [_]struct { json: []const u8, expected: []const u8 }{
        .{ .json = "{\"identity_key\": \"00\", \"entity_sources\": [{\"source\": \"source_ip\"}]}", .expected = "identity_key: expected 32 to 128" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": []}", .expected = "entity_sources: list at least one" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"api_key_header\"}]}", .expected = "entity_sources[0]: source api_key_header needs a \"header\"" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"nope\"}]}", .expected = "not one of the allowed names" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"source_ip\"}], \"colour\": 1}", .expected = "JSON line 1 column" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"source_ip\"}], \"bands\": [{\"min_score\": 5, \"action\": \"tag\"}, {\"min_score\": 4, \"action\": \"block\"}]}", .expected = "bands[1]: min_score must grow" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"header\", \"header\": \"X-User\"}]}", .expected = "is not a lowercase header name" },
        .{ .json = "{\"identity_key\": \"000102030405060708090a0b0c0d0e0f\", \"entity_sources\": [{\"source\": \"source_ip\"}], \"telemetry\": {\"cluster\": \"cp\", \"token\": \"\"}}", .expected = "telemetry.token: must not be empty" },
    };
    for (cases) |case| {
        var settings: Settings = undefined;
        var problem = Problem{};
        try testing.expectError(error.Invalid, parseForTest(case.json, &settings, &problem));
        if (std.mem.indexOf(u8, problem.text(), case.expected) == null) {
            std.debug.print("expected \"{s}\" in \"{s}\"\n", .{ case.expected, problem.text() });
            return error.TestUnexpectedResult;
        }
    }
}

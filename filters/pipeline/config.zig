//! The DLP and mask filters' config, as controlplane/policy/filter_config.py packs it:
//! a 16-byte header ("MVPC", version 1, header size, JSON length, tables length), the
//! JSON document of routes and rules, zero padding to 8 bytes, then the matcher tables.
//!
//! Parsed once at configure time into a `Policy` whose slices live in the caller's
//! allocator (an arena per accepted config); nothing here runs on the hot path. A config
//! that breaks a rule is refused with a `Problem` naming the field and what was wrong.

const std = @import("std");
const assert = std.debug.assert;
const masking = @import("masking");
const walkers = @import("walkers");
const actions = masking.actions;
const protobuf = walkers.protobuf;
const body_plan = masking.body_plan;

pub const magic = "MVPC";
pub const format_version: u16 = 1;
pub const header_bytes: u32 = 16;
pub const json_format = "meshveil.filter-config/v1";

/// Bounds the control plane keeps (controlplane/policy/model.py): a config past them is
/// an attack or a bug, and refused.
pub const routes_max: usize = 256;
pub const rules_max: usize = 128;
pub const globs_max: usize = 64;
pub const content_types_max: usize = 32;
pub const detectors_max: usize = 512;
pub const name_bytes_max: usize = 64;
/// Keys are 16 to 64 bytes (controlplane/policy/mask_keys.py).
pub const key_bytes_min: usize = 16;
pub const key_bytes_max: usize = 64;
/// masking/redact.zig's bound on a placeholder.
pub const placeholder_bytes_max: usize = 64;
const no_rule: u8 = 0xff;
/// The gRPC field table's bounds (controlplane/policy/grpc_field_table.py: METHODS_MAX,
/// MESSAGES_MAX, FIELDS_MAX; grpc_schema.py: FIELD_TABLE_BYTES_MAX).
pub const grpc_methods_max: usize = 256;
pub const grpc_messages_max: usize = 1024;
pub const grpc_fields_max: usize = 8192;
pub const grpc_field_table_bytes_max: usize = 192 * 1024;

comptime {
    assert(rules_max < no_rule);
}

pub const Failure = enum { fail_open, fail_closed };

/// What a DLP rule does once a message holds `threshold` findings of its detector.
pub const Verdict = enum {
    /// Log, count and send a finding event.
    alert,
    /// Also name the detector in the tag header for the filters and services after us.
    tag,
    /// Answer the request ourselves (403), or end a response before its body leaves.
    block,
};

pub const Direction = enum(u1) { request = 0, response = 1 };

pub const Rule = struct {
    detector: u16,
    /// Thousandths; findings scored below it are not this route's.
    min_score: u16,
    /// Findings in one message before `verdict` applies (DLP).
    threshold: u32,
    verdict: Verdict,
    /// What the mask filter writes instead (null in the DLP filter's config).
    mask: ?actions.Action,
    /// Set when the policy asked for a keyed mask whose key the control plane did not
    /// have: the rule redacts instead, and configure says so.
    missing_key: []const u8,
    /// Envoy metric ids, defined on first use: [direction][findings, verdict].
    metric_ids: [2][2]?u32 = .{ .{ null, null }, .{ null, null } },
};

pub const Route = struct {
    name: []const u8,
    paths: []const []const u8,
    methods: []const []const u8,
    hosts: []const []const u8,
    request: bool,
    response: bool,
    content_types: []const []const u8,
    body: body_plan.RoutePolicy,
    scan_numbers: bool,
    rules: []Rule,
    /// Rule index by table detector; `no_rule` when this route does not run it.
    rule_of: []const u8,

    pub fn ruleIndex(self: *const Route, detector: u16) ?u8 {
        if (detector >= self.rule_of.len) return null;
        const index = self.rule_of[detector];
        return if (index == no_rule) null else index;
    }

    pub fn covers(self: *const Route, direction: Direction) bool {
        return switch (direction) {
            .request => self.request,
            .response => self.response,
        };
    }
};

pub const Detector = struct {
    id: []const u8,
    entity: []const u8,
};

pub const Policy = struct {
    name: []const u8,
    tenant: []const u8,
    failure: Failure,
    detectors: []const Detector,
    fingerprint_key: ?[]const u8,
    routes: []Route,
    /// The matcher tables (empty when no detector is on).
    tables: []const u8,
    /// Field names for gRPC bodies, from the policy's descriptor set.
    field_table: ?protobuf.FieldTable = null,
};

/// Why a config was refused, for the configure log line.
pub const Problem = struct {
    buffer: [256]u8 = undefined,
    len: usize = 0,

    pub fn text(self: *const Problem) []const u8 {
        return self.buffer[0..self.len];
    }

    pub fn set(self: *Problem, comptime format: []const u8, args: anytype) error{Invalid} {
        const message = std.fmt.bufPrint(&self.buffer, format, args) catch self.buffer[0..];
        self.len = message.len;
        return error.Invalid;
    }
};

pub const ParseError = error{ Invalid, OutOfMemory };

// The JSON shapes; field names are the format's (filter_config.py).
const MaskJson = struct {
    type: enum { partial, redact, hash, format_preserving, drop_field },
    character: []const u8 = "*",
    keep_first: u8 = 0,
    keep_last: u8 = 4,
    placeholder: []const u8 = "",
    key: []const u8 = "",
    truncate_bytes: u8 = 16,
    prefix: []const u8 = "tok_",
    missing_key: []const u8 = "",
};

const RuleJson = struct {
    detector: u16,
    min_score: u16,
    threshold: u32 = 1,
    action: Verdict = .alert,
    mask: ?MaskJson = null,
};

const RouteJson = struct {
    name: []const u8,
    paths: []const []const u8,
    methods: []const []const u8,
    hosts: []const []const u8,
    request: bool,
    response: bool,
    content_types: []const []const u8,
    mode: body_plan.Mode,
    max_buffer_bytes: u32,
    on_overflow: body_plan.Overflow,
    gzip: body_plan.CompressedHandling,
    scan_numbers: bool,
    rules: []const RuleJson,
};

const ConfigJson = struct {
    format: []const u8,
    filter: []const u8,
    policy: []const u8,
    tenant: []const u8,
    failure: Failure,
    detectors: []const Detector,
    fingerprint_key: ?[]const u8 = null,
    /// The "MVFT" field table (walkers/protobuf.zig), base64.
    grpc_fields: ?[]const u8 = null,
    routes: []const RouteJson,
    /// Where the DLP filter's root sends finding events: read and checked there
    /// (filters/telemetry/settings.zig), skipped here.
    telemetry: ?Skipped = null,
};

/// A JSON value passed over without keeping it. (A `std.json.Value` here would pull
/// std.json's dynamic tree into both modules: about 27 KiB each.)
const Skipped = struct {
    pub fn jsonParse(_: std.mem.Allocator, source: anytype, _: std.json.ParseOptions) !Skipped {
        try source.skipValue();
        return .{};
    }
};

/// The JSON document and the tables of a packed config.
pub const Parts = struct { json: []const u8, tables: []const u8 };

pub fn split(config: []const u8, problem: *Problem) error{Invalid}!Parts {
    if (config.len < header_bytes) return problem.set("{d} bytes: shorter than the 16-byte header", .{config.len});
    if (!std.mem.eql(u8, config[0..4], magic)) return problem.set("not a meshveil filter config (bad magic)", .{});
    const version = std.mem.readInt(u16, config[4..6], .little);
    if (version != format_version) return problem.set("format version {d}; this filter reads {d}", .{ version, format_version });
    if (std.mem.readInt(u16, config[6..8], .little) != header_bytes) return problem.set("header size is not 16", .{});
    const json_len = std.mem.readInt(u32, config[8..12], .little);
    const tables_len = std.mem.readInt(u32, config[12..16], .little);
    const tables_start = std.mem.alignForward(u64, header_bytes + @as(u64, json_len), 8);
    if (tables_start + tables_len != config.len) {
        return problem.set("the header's lengths ({d} JSON, {d} tables) do not add up to {d} bytes", .{ json_len, tables_len, config.len });
    }
    const start: usize = @intCast(tables_start);
    return .{ .json = config[header_bytes..][0..json_len], .tables = config[start..] };
}

/// Parses `config` for the filter `module_name`. `masks`: this is the mask filter's
/// config (every rule carries a mask). Slices point into `config` and `allocator`.
pub fn parse(config: []const u8, allocator: std.mem.Allocator, module_name: []const u8, masks: bool, problem: *Problem) ParseError!Policy {
    const parts = try split(config, problem);
    var scanner = std.json.Scanner.initCompleteInput(allocator, parts.json);
    var diagnostics = std.json.Diagnostics{};
    scanner.enableDiagnostics(&diagnostics);
    const json = std.json.parseFromTokenSourceLeaky(ConfigJson, allocator, &scanner, .{}) catch |err| switch (err) {
        error.OutOfMemory => return error.OutOfMemory,
        else => return problem.set("JSON line {d} column {d}: {s}", .{ diagnostics.getLine(), diagnostics.getColumn(), @errorName(err) }),
    };
    if (!std.mem.eql(u8, json.format, json_format)) return problem.set("format: \"{s}\" is not {s}", .{ json.format, json_format });
    if (!std.mem.eql(u8, json.filter, module_name)) return problem.set("filter: this config is for {s}, not {s}", .{ json.filter, module_name });
    if (json.detectors.len > detectors_max) return problem.set("detectors: {d} is over the bound of {d}", .{ json.detectors.len, detectors_max });
    if (json.routes.len > routes_max) return problem.set("routes: {d} is over the bound of {d}", .{ json.routes.len, routes_max });
    if (json.detectors.len > 0 and parts.tables.len == 0) return problem.set("detectors are named but no matcher tables follow", .{});
    var policy = Policy{
        .name = json.policy,
        .tenant = json.tenant,
        .failure = json.failure,
        .detectors = json.detectors,
        .fingerprint_key = null,
        .routes = try allocator.alloc(Route, json.routes.len),
        .tables = parts.tables,
    };
    if (json.fingerprint_key) |hex| policy.fingerprint_key = try decodeKey(allocator, hex, "fingerprint_key", problem);
    if (json.grpc_fields) |text| policy.field_table = try parseFieldTable(allocator, text, problem);
    for (json.routes, policy.routes, 0..) |route_json, *route, index| {
        route.* = try parseRoute(allocator, route_json, json.detectors.len, masks, index, problem);
    }
    return policy;
}

fn parseRoute(allocator: std.mem.Allocator, json: RouteJson, detector_count: usize, masks: bool, index: usize, problem: *Problem) ParseError!Route {
    if (json.name.len == 0 or json.name.len > name_bytes_max) return problem.set("routes[{d}].name: 1 to {d} bytes", .{ index, name_bytes_max });
    if (json.paths.len == 0 or json.paths.len > globs_max or json.hosts.len > globs_max or json.methods.len > 7) {
        return problem.set("routes[{d}] ({s}): paths, hosts or methods over their bounds", .{ index, json.name });
    }
    if (json.content_types.len == 0 or json.content_types.len > content_types_max) {
        return problem.set("routes[{d}] ({s}).content_types: 1 to {d} media ranges", .{ index, json.name, content_types_max });
    }
    if (json.rules.len == 0 or json.rules.len > rules_max) return problem.set("routes[{d}] ({s}).rules: 1 to {d} rules", .{ index, json.name, rules_max });
    const rule_of = try allocator.alloc(u8, detector_count);
    @memset(rule_of, no_rule);
    const rules = try allocator.alloc(Rule, json.rules.len);
    for (json.rules, rules, 0..) |rule_json, *rule, rule_index| {
        if (rule_json.detector >= detector_count) return problem.set("routes[{d}].rules[{d}].detector: {d} is not a detector of this config", .{ index, rule_index, rule_json.detector });
        if (rule_of[rule_json.detector] != no_rule) return problem.set("routes[{d}].rules[{d}].detector: {d} has two rules", .{ index, rule_index, rule_json.detector });
        if (rule_json.min_score > 1000 or rule_json.threshold == 0) return problem.set("routes[{d}].rules[{d}]: min_score 0..1000 and threshold >= 1", .{ index, rule_index });
        rule_of[rule_json.detector] = @intCast(rule_index);
        rule.* = .{
            .detector = rule_json.detector,
            .min_score = rule_json.min_score,
            .threshold = rule_json.threshold,
            .verdict = rule_json.action,
            .mask = null,
            .missing_key = "",
        };
        if (!masks) continue;
        const mask = rule_json.mask orelse return problem.set("routes[{d}].rules[{d}].mask: a mask rule needs one", .{ index, rule_index });
        rule.mask = try parseMask(allocator, mask, index, rule_index, problem);
        rule.missing_key = mask.missing_key;
    }
    return .{
        .name = json.name,
        .paths = json.paths,
        .methods = json.methods,
        .hosts = json.hosts,
        .request = json.request,
        .response = json.response,
        .content_types = json.content_types,
        .body = .{
            .mode = json.mode,
            .max_buffer_bytes = json.max_buffer_bytes,
            .on_overflow = json.on_overflow,
            .compressed = json.gzip,
            .rewrites = masks,
            .reencode = true,
        },
        .scan_numbers = json.scan_numbers,
        .rules = rules,
        .rule_of = rule_of,
    };
}

fn parseMask(allocator: std.mem.Allocator, json: MaskJson, route: usize, rule: usize, problem: *Problem) ParseError!actions.Action {
    switch (json.type) {
        .partial => {
            if (json.character.len != 1 or !std.ascii.isPrint(json.character[0])) {
                return problem.set("routes[{d}].rules[{d}].mask.character: one printable ASCII character", .{ route, rule });
            }
            if (json.keep_first > 64 or json.keep_last > 64) return problem.set("routes[{d}].rules[{d}].mask: keep at most 64", .{ route, rule });
            return .{ .partial = .{ .mask_char = json.character[0], .keep_first = json.keep_first, .keep_last = json.keep_last } };
        },
        .redact => {
            if (json.placeholder.len == 0 or json.placeholder.len > placeholder_bytes_max or !printable(json.placeholder)) {
                return problem.set("routes[{d}].rules[{d}].mask.placeholder: 1 to 64 printable ASCII bytes", .{ route, rule });
            }
            return .{ .redact = .{ .placeholder = json.placeholder } };
        },
        .hash => {
            if (json.truncate_bytes < 8 or json.truncate_bytes > 32) return problem.set("routes[{d}].rules[{d}].mask.truncate_bytes: 8 to 32", .{ route, rule });
            if (json.prefix.len > 16 or !printable(json.prefix)) return problem.set("routes[{d}].rules[{d}].mask.prefix: at most 16 printable bytes", .{ route, rule });
            const key = try decodeKey(allocator, json.key, "mask.key", problem);
            return .{ .hash_token = .{ .key = key, .prefix = json.prefix, .truncate_bytes = json.truncate_bytes } };
        },
        .format_preserving => {
            if (json.keep_last > 64) return problem.set("routes[{d}].rules[{d}].mask.keep_last: at most 64", .{ route, rule });
            const key = try decodeKey(allocator, json.key, "mask.key", problem);
            return .{ .format_preserving = .{ .key = key, .keep_last = json.keep_last } };
        },
        .drop_field => return .drop,
    }
}

/// Decodes and checks the gRPC field table; its arrays and names live in `allocator`.
fn parseFieldTable(allocator: std.mem.Allocator, text: []const u8, problem: *Problem) ParseError!protobuf.FieldTable {
    const decoder = std.base64.standard.Decoder;
    const size = decoder.calcSizeForSlice(text) catch return problem.set("grpc_fields: not base64", .{});
    if (size > grpc_field_table_bytes_max) {
        return problem.set("grpc_fields: {d} bytes, over the bound of {d}", .{ size, grpc_field_table_bytes_max });
    }
    const bytes = try allocator.alloc(u8, size);
    decoder.decode(bytes, text) catch return problem.set("grpc_fields: not base64", .{});
    // Arrays of the declared sizes (a table short of its counts is refused by `parse`).
    const counts = protobuf.FieldTable.declaredCounts(bytes) orelse protobuf.FieldTable.Counts{ .methods = 0, .fields = 0 };
    if (counts.methods > grpc_methods_max or counts.fields > grpc_fields_max) {
        return problem.set("grpc_fields: {d} methods and {d} fields, over the bounds of {d} and {d}", .{ counts.methods, counts.fields, grpc_methods_max, grpc_fields_max });
    }
    const methods = try allocator.alloc(protobuf.Method, counts.methods);
    const fields = try allocator.alloc(protobuf.FieldEntry, counts.fields);
    var diagnostic = walkers.walker.Diagnostic{};
    const table = protobuf.FieldTable.parse(bytes, methods, fields, &diagnostic) catch |err| switch (err) {
        error.MalformedFieldTable => return problem.set("grpc_fields: {s} (byte {d})", .{ diagnostic.reason, diagnostic.offset }),
        error.FieldTableTooLarge => unreachable, // the arrays hold the declared counts
    };
    if (table.message_count > grpc_messages_max) {
        return problem.set("grpc_fields: {d} message types, over the bound of {d}", .{ table.message_count, grpc_messages_max });
    }
    return table;
}

fn printable(text: []const u8) bool {
    for (text) |byte| if (!std.ascii.isPrint(byte)) return false;
    return true;
}

fn decodeKey(allocator: std.mem.Allocator, hex: []const u8, comptime field: []const u8, problem: *Problem) ParseError![]const u8 {
    if (hex.len % 2 != 0 or hex.len / 2 < key_bytes_min or hex.len / 2 > key_bytes_max) {
        return problem.set(field ++ ": {d} to {d} bytes as hex", .{ key_bytes_min, key_bytes_max });
    }
    const key = try allocator.alloc(u8, hex.len / 2);
    _ = std.fmt.hexToBytes(key, hex) catch return problem.set(field ++ ": not hex", .{});
    return key;
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

pub fn packForTest(allocator: std.mem.Allocator, json: []const u8, tables: []const u8) ![]u8 {
    const tables_start = std.mem.alignForward(usize, header_bytes + json.len, 8);
    const packed_bytes = try allocator.alloc(u8, tables_start + tables.len);
    @memset(packed_bytes, 0);
    @memcpy(packed_bytes[0..4], magic);
    std.mem.writeInt(u16, packed_bytes[4..6], format_version, .little);
    std.mem.writeInt(u16, packed_bytes[6..8], header_bytes, .little);
    std.mem.writeInt(u32, packed_bytes[8..12], @intCast(json.len), .little);
    std.mem.writeInt(u32, packed_bytes[12..16], @intCast(tables.len), .little);
    @memcpy(packed_bytes[header_bytes..][0..json.len], json);
    @memcpy(packed_bytes[tables_start..], tables);
    return packed_bytes;
}

const example_json =
    \\{"format":"meshveil.filter-config/v1","filter":"meshveil-mask","policy":"p","tenant":"t",
    \\ "failure":"fail_closed","detectors":[{"id":"credit-card","entity":"CREDIT_CARD"},{"id":"email-address","entity":"EMAIL_ADDRESS"}],
    \\ "routes":[{"name":"cards","paths":["/v1/**"],"methods":["GET"],"hosts":[],"request":false,"response":true,
    \\  "content_types":["application/json"],"mode":"streaming","max_buffer_bytes":1048576,"on_overflow":"block",
    \\  "gzip":"decode","scan_numbers":false,"rules":[
    \\   {"detector":1,"min_score":500,"mask":{"type":"hash","key":"000102030405060708090a0b0c0d0e0f","truncate_bytes":8,"prefix":"tok_"}},
    \\   {"detector":0,"min_score":800,"mask":{"type":"partial","character":"#","keep_first":0,"keep_last":4}}]}]}
;

test "a packed config parses into routes, rules and masks" {
    var arena = std.heap.ArenaAllocator.init(testing.allocator);
    defer arena.deinit();
    const packed_bytes = try packForTest(arena.allocator(), example_json, "TABLES!!");
    var problem = Problem{};
    const policy = try parse(packed_bytes, arena.allocator(), "meshveil-mask", true, &problem);
    try testing.expectEqualStrings("TABLES!!", policy.tables);
    try testing.expectEqual(@as(usize, 1), policy.routes.len);
    const route = &policy.routes[0];
    try testing.expectEqual(@as(?u8, 1), route.ruleIndex(0));
    try testing.expectEqual(@as(?u8, 0), route.ruleIndex(1));
    try testing.expectEqual(@as(u8, '#'), route.rules[1].mask.?.partial.mask_char);
    try testing.expectEqual(@as(usize, 16), route.rules[0].mask.?.hash_token.key.len);
    try testing.expect(route.response and !route.request);
    try testing.expectEqual(body_plan.Mode.streaming, route.body.mode);
}

test "a config for another filter, or with a bad field, is refused by name" {
    var arena = std.heap.ArenaAllocator.init(testing.allocator);
    defer arena.deinit();
    var problem = Problem{};
    const packed_bytes = try packForTest(arena.allocator(), example_json, "TABLES!!");
    try testing.expectError(error.Invalid, parse(packed_bytes, arena.allocator(), "meshveil-dlp", false, &problem));
    try testing.expect(std.mem.indexOf(u8, problem.text(), "not meshveil-dlp") != null);
    const bad_key = try std.mem.replaceOwned(u8, arena.allocator(), example_json, "0e0f", "0e0g");
    const packed_bad = try packForTest(arena.allocator(), bad_key, "TABLES!!");
    try testing.expectError(error.Invalid, parse(packed_bad, arena.allocator(), "meshveil-mask", true, &problem));
    try testing.expectEqualStrings("mask.key: not hex", problem.text());
    packed_bytes[12] +%= 1;
    try testing.expectError(error.Invalid, parse(packed_bytes, arena.allocator(), "meshveil-mask", true, &problem));
}

test "a config's gRPC field table is parsed, and a malformed one refused with the walker's reason" {
    var arena = std.heap.ArenaAllocator.init(testing.allocator);
    defer arena.deinit();
    const allocator = arena.allocator();
    var storage: [512]u8 = undefined;
    const table_bytes = protobuf.sampleTable(&storage);
    const encoder = std.base64.standard.Encoder;
    const text = try allocator.alloc(u8, encoder.calcSize(table_bytes.len));
    _ = encoder.encode(text, table_bytes);
    const with_table = try std.mem.replaceOwned(u8, allocator, example_json, "\"routes\":", try std.fmt.allocPrint(allocator, "\"grpc_fields\":\"{s}\",\"routes\":", .{text}));
    var problem = Problem{};
    const policy = try parse(try packForTest(allocator, with_table, "TABLES!!"), allocator, "meshveil-mask", true, &problem);
    const table = &policy.field_table.?;
    try testing.expectEqual(@as(?u16, 2), table.rootFor("/shop.Payments/Charge", true));
    try testing.expectEqualStrings("number", table.lookup(1, 1).?.name);
    // Without the member there is no table.
    const plain = try parse(try packForTest(allocator, example_json, "TABLES!!"), allocator, "meshveil-mask", true, &problem);
    try testing.expect(plain.field_table == null);

    // The last field cut short: refused, with the walker's reason.
    const cut = text[0..encoder.calcSize(table_bytes.len - 3)];
    const short = try allocator.alloc(u8, cut.len);
    _ = encoder.encode(short, table_bytes[0 .. table_bytes.len - 3]);
    const with_short = try std.mem.replaceOwned(u8, allocator, with_table, text, short);
    try testing.expectError(error.Invalid, parse(try packForTest(allocator, with_short, "TABLES!!"), allocator, "meshveil-mask", true, &problem));
    try testing.expect(std.mem.startsWith(u8, problem.text(), "grpc_fields: field table: truncated"));
    const with_junk = try std.mem.replaceOwned(u8, allocator, with_table, text, "not*base64");
    try testing.expectError(error.Invalid, parse(try packForTest(allocator, with_junk, "TABLES!!"), allocator, "meshveil-mask", true, &problem));
    try testing.expectEqualStrings("grpc_fields: not base64", problem.text());
}

test "the telemetry member is passed over, whatever it holds, and must still be JSON" {
    var arena = std.heap.ArenaAllocator.init(testing.allocator);
    defer arena.deinit();
    const allocator = arena.allocator();
    var problem = Problem{};
    const member = "\"telemetry\":{\"cluster\":\"c\",\"nested\":[1,{\"a\":null}],\"token\":\"t\"},\"routes\":";
    const with_telemetry = try std.mem.replaceOwned(u8, allocator, example_json, "\"routes\":", member);
    const policy = try parse(try packForTest(allocator, with_telemetry, "TABLES!!"), allocator, "meshveil-mask", true, &problem);
    try testing.expectEqual(@as(usize, 1), policy.routes.len);
    const broken = try std.mem.replaceOwned(u8, allocator, with_telemetry, "[1,", "[1,,");
    try testing.expectError(error.Invalid, parse(try packForTest(allocator, broken, "TABLES!!"), allocator, "meshveil-mask", true, &problem));
}

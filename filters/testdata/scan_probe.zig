//! The scan probe: runs meshveil's scanning engine inside Wasm so the harness's
//! tests, `meshveil detectors test` and `meshveil bench scan` exercise the real
//! engine on the real tables.
//!
//! Plugin path: the plugin configuration is the matcher tables (the bytes
//! `meshveil detectors compile --out` writes). Each request body is scanned as it
//! streams in, chunk by chunk; when the request ends the probe answers a local
//! reply 200 whose JSON body lists the findings, never the matched bytes:
//!   {"findings":[{"detector":"us-ssn","entity":"US_SSN","pattern":3,"score":500,"start":1,"end":12}],"dropped":0}
//! Refused tables fail the configure callback with one log line saying why and where.
//!
//! Direct path (plain wasmtime, imports stubbed): `meshveil_bench_*` time the
//! engine inside the module with no host in between, `meshveil_scan_chunks`
//! scans a buffer cut at given offsets, `meshveil_validate` runs one validator.

const std = @import("std");
const abi = @import("abi");
const engine = @import("engine");
const masking = @import("masking");
const walkers = @import("walkers");

const host = abi.host;

pub const panic = abi.panic;

/// Findings one request may report; more are counted as dropped.
const stream_findings_max = 2048;
/// JSON bytes of one finding at most (ids and entities are short).
const finding_json_bytes_max = 256;
const page_bytes = 64 * 1024;

// -- Memory that outlives a callback ----------------------------------------------

/// Bump allocation of whole pages, never freed: configurations and bench buffers
/// are kept for the life of the VM (the per-callback arena is reset every call).
fn grow(size: usize) ?[]u8 {
    const pages = std.math.divCeil(usize, @max(size, 1), page_bytes) catch unreachable;
    const previous = @wasmMemoryGrow(0, pages);
    if (previous < 0) return null;
    const base: [*]u8 = @ptrFromInt(@as(usize, @intCast(previous)) * page_bytes);
    return base[0 .. pages * page_bytes];
}

/// Holds one configuration's tables; a larger one grows a new region. Declared
/// `undefined` (and set up by `load`) so the module carries no data image of it.
const TableStore = struct {
    region: []u8,
    tables: engine.Tables,
    loaded: bool,

    fn reset(self: *TableStore) void {
        self.region = &.{};
        self.loaded = false;
    }

    fn load(self: *TableStore, bytes: []const u8) ?engine.tables.LoadError {
        self.loaded = false;
        if (bytes.len > self.region.len) self.region = grow(bytes.len) orelse return error.TooLarge;
        @memcpy(self.region[0..bytes.len], bytes);
        var where: u32 = 0;
        self.tables.load(self.region[0..bytes.len], &where) catch |err| {
            host.logFmt(.err, "scan-probe: tables refused at byte {d}: {s}", .{ where, engine.tables.describe(err) });
            return err;
        };
        self.loaded = true;
        return null;
    }
};

// -- Plugin path ------------------------------------------------------------------

var plugin_store: TableStore = undefined;

const RootContext = struct {
    context_id: u32,

    pub fn init(context_id: u32) RootContext {
        if (!stores_ready) resetStores();
        return .{ .context_id = context_id };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        _ = self;
        if (plugin_store.load(configuration)) |_| return false;
        host.logFmt(.info, "scan-probe: {d} detectors, {d} patterns, {d} scan automata", .{
            plugin_store.tables.detector_count, plugin_store.tables.pattern_count, plugin_store.tables.scan_count,
        });
        return true;
    }
};

/// What one request's scan holds; kept in a pool, not in the context, so creating a
/// stream copies a few bytes instead of a scanner.
const StreamScan = struct {
    started: bool,
    scanner: engine.Scanner,
    findings: [stream_findings_max]engine.Finding,
    found: usize,
    dropped: usize,
};

const streams_max = 4;
var stream_scans: [streams_max]StreamScan = undefined;
var stream_in_use = [_]bool{false} ** streams_max;

fn claimStreamScan() ?*StreamScan {
    for (&stream_scans, &stream_in_use) |*scan, *in_use| {
        if (in_use.*) continue;
        in_use.* = true;
        scan.started = false;
        scan.found = 0;
        scan.dropped = 0;
        return scan;
    }
    return null;
}

fn releaseStreamScan(scan: *StreamScan) void {
    const index = (@intFromPtr(scan) - @intFromPtr(&stream_scans)) / @sizeOf(StreamScan);
    std.debug.assert(stream_in_use[index]);
    stream_in_use[index] = false;
}

const HttpContext = struct {
    context_id: u32,
    scan: ?*StreamScan,

    pub fn init(root: *RootContext, context_id: u32) HttpContext {
        _ = root;
        const scan = claimStreamScan();
        if (scan == null) host.logFmt(.err, "scan-probe: stream {d} not scanned: all {d} scans in use", .{ context_id, streams_max });
        return .{ .context_id = context_id, .scan = scan };
    }

    pub fn onDelete(self: *HttpContext) void {
        if (self.scan) |scan| releaseStreamScan(scan);
        self.scan = null;
    }

    pub fn onRequestHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = headers_count;
        if (end_of_stream) self.scanChunk(&.{}, true);
        return .@"continue";
    }

    pub fn onRequestBody(self: *HttpContext, body_size: usize, end_of_stream: bool) abi.Action {
        const chunk = if (body_size == 0) &[_]u8{} else host.getBufferBytes(.http_request_body, 0, body_size) catch |err| {
            host.logFmt(.err, "scan-probe: reading the body failed: {s}", .{@errorName(err)});
            return .@"continue";
        };
        self.scanChunk(chunk, end_of_stream);
        return .@"continue";
    }

    fn scanChunk(self: *HttpContext, chunk: []const u8, final: bool) void {
        const scan = self.scan orelse return;
        if (!plugin_store.loaded) {
            host.log(.err, "scan-probe: no tables configured");
            return;
        }
        if (!scan.started) {
            scan.scanner.init(&plugin_store.tables);
            scan.started = true;
        }
        scan.scanner.feed(chunk, final);
        var overflow: [64]engine.Finding = undefined;
        while (true) {
            // Once the stream's list is full, findings are still scanned but only counted.
            const room = scan.findings[scan.found..];
            const batch = scan.scanner.collect(if (room.len > 0) room else &overflow);
            if (room.len > 0) scan.found += batch.count else scan.dropped += batch.count;
            if (batch.done) break;
        }
        if (final) reply(scan);
    }
};

fn reply(scan: *const StreamScan) void {
    var json = Json{};
    json.text("{\"findings\":[");
    for (scan.findings[0..scan.found], 0..) |finding, index| {
        if (index > 0) json.text(",");
        const detector = &plugin_store.tables.detectors[finding.detector];
        json.text("{\"detector\":");
        json.string(detector.id);
        json.text(",\"entity\":");
        json.string(detector.entity);
        json.text(",\"pattern\":");
        json.int(finding.pattern);
        json.text(",\"score\":");
        json.int(finding.score);
        json.text(",\"start\":");
        json.int(finding.start);
        json.text(",\"end\":");
        json.int(finding.end);
        json.text("}");
    }
    json.text("],\"dropped\":");
    json.int(scan.dropped);
    json.text("}");
    host.sendLocalResponse(.{ .status_code = 200, .details = "scan_probe_findings", .body = json.written() }) catch |err| {
        host.logFmt(.err, "scan-probe: local reply failed: {s}", .{@errorName(err)});
    };
}

/// The reply body, built in place in a buffer sized for a full findings list.
var reply_buffer: [stream_findings_max * finding_json_bytes_max + 64]u8 = undefined;

const Json = struct {
    len: usize = 0,

    fn text(self: *Json, bytes: []const u8) void {
        std.debug.assert(self.len + bytes.len <= reply_buffer.len);
        @memcpy(reply_buffer[self.len..][0..bytes.len], bytes);
        self.len += bytes.len;
    }

    fn int(self: *Json, value: u64) void {
        var digits: [24]u8 = undefined;
        self.text(std.fmt.bufPrint(&digits, "{d}", .{value}) catch unreachable);
    }

    /// Ids and entity names are short ASCII; anything else is escaped.
    fn string(self: *Json, value: []const u8) void {
        const hex = "0123456789abcdef";
        self.text("\"");
        for (value[0..@min(value.len, 64)]) |byte| {
            if (byte >= 0x20 and byte < 0x7f and byte != '"' and byte != '\\') {
                self.text(&.{byte});
            } else {
                self.text(&.{ '\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf] });
            }
        }
        self.text("\"");
    }

    fn written(self: *const Json) []const u8 {
        return reply_buffer[0..self.len];
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = HttpContext;
        pub const streams_max = 64;
        pub const roots_max = 2;
    });
}

// -- Direct path ------------------------------------------------------------------

var direct_store: TableStore = undefined;
var stores_ready = false;

fn resetStores() void {
    plugin_store.reset();
    direct_store.reset();
    stores_ready = true;
}
var direct_scanner: engine.Scanner = undefined;
var direct_findings: [1024]engine.Finding = undefined;

/// A buffer of `size` bytes in linear memory for the caller to fill; 0 when memory is exhausted.
export fn meshveil_bench_alloc(size: u32) u32 {
    const region = grow(size) orelse return 0;
    return @intCast(@intFromPtr(region.ptr));
}

/// Loads tables for the direct entry points: 0 when accepted, 1 when refused.
export fn meshveil_bench_configure(pointer: [*]const u8, length: u32) u32 {
    if (!stores_ready) resetStores();
    return if (direct_store.load(pointer[0..length]) == null) 0 else 1;
}

/// Scans the buffer as one whole text `iterations` times; answers the findings of one
/// scan (0 when no tables are configured).
export fn meshveil_bench_scan(pointer: [*]const u8, length: u32, iterations: u32) u32 {
    if (!stores_ready or !direct_store.loaded) return 0;
    var found: u32 = 0;
    for (0..iterations) |_| found = scanDirect(pointer[0..length], &.{}, null);
    return found;
}

var direct_prefilter: masking.prefilter.Prefilter = undefined;
var direct_pieces: masking.engine_scanner.EngineScanner = undefined;
var pieces_ready = false;

/// Scans the buffer's pieces `iterations` times as the filters scan JSON values: each
/// record is a key and a value (two u16 lengths, little-endian, then the bytes), and
/// each is scanned as `key: value` after the prefilter. Answers the findings of one
/// pass (0 when no tables are configured, or the records are malformed).
export fn meshveil_bench_pieces(pointer: [*]const u8, length: u32, iterations: u32) u32 {
    if (!stores_ready or !direct_store.loaded) return 0;
    if (!pieces_ready) {
        direct_prefilter.init(&direct_store.tables, std.heap.wasm_allocator) catch return 0;
        direct_pieces = masking.engine_scanner.EngineScanner.init(&direct_store.tables, &direct_scanner);
        direct_pieces.prefilter = &direct_prefilter;
        pieces_ready = true;
    }
    const buffer = pointer[0..length];
    var found: u32 = 0;
    for (0..iterations) |_| {
        found = 0;
        var at: usize = 0;
        while (at + 4 <= buffer.len) {
            const key_len = std.mem.readInt(u16, buffer[at..][0..2], .little);
            const value_len = std.mem.readInt(u16, buffer[at + 2 ..][0..2], .little);
            at += 4;
            if (at + key_len + value_len > buffer.len or value_len > walkers.walker.piece_bytes_max) return 0;
            if (key_len > walkers.walker.context_key_bytes_max) return 0;
            const value = walkers.walker.Value{
                .kind = .string,
                .encoding = .identity,
                .bytes = buffer[at + key_len ..][0..value_len],
                .path = "",
                .context_key = buffer[at..][0..key_len],
                .raw = walkers.walker.RawMap.identity(0, value_len),
                .token_start = 0,
                .token_end = value_len,
            };
            at += key_len + value_len;
            var out: [64]masking.stream_masker.Finding = undefined;
            found += @intCast(direct_pieces.scan(&value, 0, &out).len);
        }
    }
    return found;
}

/// Scans the buffer cut at `cuts` (ascending offsets) and writes each finding as five
/// u32 (detector, pattern, score, start, end) to `out`, at most `capacity` of them;
/// answers how many there were in all (0 when no tables are configured).
export fn meshveil_scan_chunks(pointer: [*]const u8, length: u32, cuts: [*]const u32, cut_count: u32, out: [*]u32, capacity: u32) u32 {
    if (!stores_ready or !direct_store.loaded) return 0;
    return scanDirect(pointer[0..length], cuts[0..cut_count], out[0 .. 5 * @as(usize, capacity)]);
}

fn scanDirect(text: []const u8, cuts: []const u32, out: ?[]u32) u32 {
    direct_scanner.init(&direct_store.tables);
    var found: u32 = 0;
    var previous: usize = 0;
    for (0..cuts.len + 1) |index| {
        const cut = if (index < cuts.len) @min(@max(cuts[index], previous), text.len) else text.len;
        direct_scanner.feed(text[previous..cut], index == cuts.len);
        previous = cut;
        while (true) {
            const batch = direct_scanner.collect(&direct_findings);
            if (out) |words| {
                for (direct_findings[0..batch.count]) |finding| {
                    const at = 5 * @as(usize, found);
                    if (at + 5 <= words.len) {
                        words[at..][0..5].* = .{ finding.detector, finding.pattern, finding.score, @intCast(finding.start), @intCast(finding.end) };
                    }
                    found += 1;
                }
            } else found += @intCast(batch.count);
            if (batch.done) break;
        }
    }
    return found;
}

/// Runs validator `id` on the buffer: 1 accepted, 0 refused, 2 no such validator.
export fn meshveil_validate(id: u32, pointer: [*]const u8, length: u32, parameter: u32) u32 {
    if (id < 1 or id > engine.validators.count) return 2;
    return @intFromBool(engine.validators.run(@intCast(id), pointer[0..length], parameter));
}

//! The ABI probe: a test module that calls every host function of proxy-Wasm
//! 0.2.1 on request, so the harness's tests can assert the host's answers.
//!
//! It runs scripts. A stream takes its scripts from request headers named
//! `x-probe-<phase>` (phases: request_headers, request_body, request_trailers,
//! response_headers, response_body, response_trailers, log, done); the root
//! context takes its scripts from the plugin configuration, one `phase: script`
//! per line (phases: configure, tick, queue_ready, http_call_response,
//! grpc_initial_metadata, grpc_message, grpc_trailing_metadata, grpc_close,
//! foreign_function, root_done, new_connection, downstream_data, upstream_data,
//! downstream_close, upstream_close), and `vm_start: script` from the VM
//! configuration. A script is commands separated by `;`, arguments by spaces,
//! each argument percent-decoded (`%20` is a space, `%3b` a semicolon); a lone
//! `-` is the empty argument.
//!
//! Every callback logs `probe <phase> called <details>` and every command logs
//! `probe <phase> <command>: <STATUS> <detail>` at info level, where STATUS is
//! the host's answer (OK, NOT_FOUND, BAD_ARGUMENT, ...) and bytes are escaped
//! (printable ASCII as is, anything else, space, `\`, `|` and `=` as \xNN).

const std = @import("std");
const abi = @import("abi");

const host = abi.host;
const types = abi.types;
const header_map = abi.header_map;

pub const panic = abi.panic;

const script_bytes_max: usize = 1024;
const message_bytes_max: usize = 4096;
const args_max: usize = 24;
const arg_storage_bytes: usize = 8192;
const serialize_bytes_max: usize = 4096;
const calls_max: usize = 32;

// -- Scripts ------------------------------------------------------------------

const Script = struct {
    bytes: [script_bytes_max]u8 = undefined,
    len: usize = 0,

    fn set(self: *Script, text: []const u8) void {
        const length = @min(text.len, script_bytes_max);
        @memcpy(self.bytes[0..length], text[0..length]);
        self.len = length;
    }

    fn contents(self: *const Script) []const u8 {
        return self.bytes[0..self.len];
    }
};

const StreamPhase = enum { request_headers, request_body, request_trailers, response_headers, response_body, response_trailers, log, done };

const RootPhase = enum {
    vm_start,
    configure,
    tick,
    queue_ready,
    http_call_response,
    grpc_initial_metadata,
    grpc_message,
    grpc_trailing_metadata,
    grpc_close,
    foreign_function,
    root_done,
    new_connection,
    downstream_data,
    upstream_data,
    downstream_close,
    upstream_close,
};

/// Fills `scripts` from `phase: script` lines; unknown phases are ignored.
fn loadScripts(comptime Phase: type, scripts: *[@typeInfo(Phase).@"enum".fields.len]Script, text: []const u8) void {
    var lines = std.mem.splitScalar(u8, text, '\n');
    var guard: usize = 0;
    while (lines.next()) |line| : (guard += 1) {
        std.debug.assert(guard <= text.len);
        const colon = std.mem.indexOfScalar(u8, line, ':') orelse continue;
        const name = std.mem.trim(u8, line[0..colon], " \t\r");
        const phase = std.meta.stringToEnum(Phase, name) orelse continue;
        scripts[@intFromEnum(phase)].set(std.mem.trim(u8, line[colon + 1 ..], " \t\r"));
    }
}

// -- Output -------------------------------------------------------------------

/// A log line built in place; overflowing text is cut, never allocated.
const Line = struct {
    buffer: [message_bytes_max]u8 = undefined,
    len: usize = 0,

    fn text(self: *Line, bytes: []const u8) void {
        const room = message_bytes_max - self.len;
        const length = @min(room, bytes.len);
        @memcpy(self.buffer[self.len..][0..length], bytes[0..length]);
        self.len += length;
    }

    fn int(self: *Line, value: anytype) void {
        var digits: [24]u8 = undefined;
        const printed = std.fmt.bufPrint(&digits, "{d}", .{value}) catch unreachable;
        self.text(printed);
    }

    fn escaped(self: *Line, bytes: []const u8) void {
        const hex = "0123456789abcdef";
        for (bytes) |byte| {
            const plain = byte > 0x20 and byte < 0x7f and byte != '\\' and byte != '|' and byte != '=';
            if (plain) {
                self.text(&.{byte});
            } else {
                self.text(&.{ '\\', 'x', hex[byte >> 4], hex[byte & 0xf] });
            }
        }
    }

    fn send(self: *Line) void {
        host.log(.info, self.buffer[0..self.len]);
    }
};

fn statusName(err: anyerror) []const u8 {
    return switch (err) {
        error.NotFound => "NOT_FOUND",
        error.BadArgument => "BAD_ARGUMENT",
        error.SerializationFailure => "SERIALIZATION_FAILURE",
        error.ParseFailure => "PARSE_FAILURE",
        error.InvalidMemoryAccess => "INVALID_MEMORY_ACCESS",
        error.Empty => "EMPTY",
        error.CasMismatch => "CAS_MISMATCH",
        error.InternalFailure => "INTERNAL_FAILURE",
        error.Unimplemented => "UNIMPLEMENTED",
        error.MalformedHeaderMap => "MALFORMED_PAIRS",
        error.PathTooLong => "PATH_TOO_LONG",
        else => @errorName(err),
    };
}

/// `probe <phase> called <values...>`: every callback says it ran and with what.
fn logCalled(phase_name: []const u8, values: []const u32) void {
    var line = Line{};
    line.text("probe ");
    line.text(phase_name);
    line.text(" called");
    for (values) |value| {
        line.text(" ");
        line.int(value);
    }
    line.send();
}

// -- Arguments ------------------------------------------------------------------

/// Decoded arguments of the command being run; reset for every command.
var arg_storage: [arg_storage_bytes]u8 = undefined;
var arg_storage_used: usize = 0;

fn percentDecode(raw: []const u8) []const u8 {
    // A lone "-" is the empty argument (words cannot be empty); a literal dash is %2d.
    if (std.mem.eql(u8, raw, "-")) return "";
    const start = arg_storage_used;
    var index: usize = 0;
    while (index < raw.len and arg_storage_used < arg_storage_bytes) : (index += 1) {
        var byte = raw[index];
        if (byte == '%' and index + 2 < raw.len) {
            if (std.fmt.parseInt(u8, raw[index + 1 .. index + 3], 16)) |decoded| {
                byte = decoded;
                index += 2;
            } else |_| {}
        }
        arg_storage[arg_storage_used] = byte;
        arg_storage_used += 1;
    }
    return arg_storage[start..arg_storage_used];
}

const Args = struct {
    items: [args_max][]const u8 = undefined,
    len: usize = 0,

    fn get(self: *const Args, index: usize) []const u8 {
        return if (index < self.len) self.items[index] else "";
    }

    fn number(self: *const Args, comptime T: type, index: usize) ?T {
        return std.fmt.parseInt(T, self.get(index), 10) catch null;
    }

    fn rest(self: *const Args, from: usize) []const []const u8 {
        return if (from < self.len) self.items[from..self.len] else &.{};
    }
};

// -- Root context -----------------------------------------------------------------

const CallRecord = struct { token: u32, stream_id: u32 };

const ProbeRoot = struct {
    context_id: u32,
    scripts: [@typeInfo(RootPhase).@"enum".fields.len]Script = [_]Script{.{}} ** @typeInfo(RootPhase).@"enum".fields.len,
    calls: [calls_max]CallRecord = undefined,
    calls_len: usize = 0,
    /// The callout token whose answer is being delivered (for `effective_caller`).
    current_token: u32 = 0,
    last_queue: u32 = 0,
    last_metric: u32 = 0,
    last_call: u32 = 0,
    last_cas: u32 = 0,

    pub fn init(context_id: u32) ProbeRoot {
        return .{ .context_id = context_id };
    }

    fn remember(self: *ProbeRoot, token: u32, stream_id: u32) void {
        self.last_call = token;
        if (self.calls_len == calls_max) self.calls_len = 0;
        self.calls[self.calls_len] = .{ .token = token, .stream_id = stream_id };
        self.calls_len += 1;
    }

    fn callerOf(self: *const ProbeRoot, token: u32) u32 {
        for (self.calls[0..self.calls_len]) |record| {
            if (record.token == token) return record.stream_id;
        }
        return 0;
    }

    fn runPhase(self: *ProbeRoot, phase: RootPhase) Outcome {
        return run(self, self.context_id, @tagName(phase), self.scripts[@intFromEnum(phase)].contents());
    }

    fn called(self: *ProbeRoot, phase: RootPhase, values: []const u32) Outcome {
        logCalled(@tagName(phase), values);
        return self.runPhase(phase);
    }

    pub fn onVmStart(self: *ProbeRoot, configuration: []const u8) bool {
        loadScripts(RootPhase, &self.scripts, configuration);
        return !self.called(.vm_start, &.{@intCast(configuration.len)}).fail;
    }

    pub fn onConfigure(self: *ProbeRoot, configuration: []const u8) bool {
        const vm_start = self.scripts[@intFromEnum(RootPhase.vm_start)];
        loadScripts(RootPhase, &self.scripts, configuration);
        self.scripts[@intFromEnum(RootPhase.vm_start)] = vm_start;
        return !self.called(.configure, &.{@intCast(configuration.len)}).fail;
    }

    pub fn onTick(self: *ProbeRoot) void {
        _ = self.called(.tick, &.{});
    }

    pub fn onQueueReady(self: *ProbeRoot, queue_id: u32) void {
        self.last_queue = queue_id;
        _ = self.called(.queue_ready, &.{queue_id});
    }

    pub fn onForeignFunction(self: *ProbeRoot, function_id: u32, arguments: []const u8) void {
        _ = self.called(.foreign_function, &.{ function_id, @intCast(arguments.len) });
    }

    pub fn onHttpCallResponse(self: *ProbeRoot, call_id: u32, headers_count: u32, body_size: usize, trailers_count: u32) void {
        self.current_token = call_id;
        _ = self.called(.http_call_response, &.{ call_id, headers_count, @intCast(body_size), trailers_count });
        self.current_token = 0;
    }

    pub fn onGrpcReceiveInitialMetadata(self: *ProbeRoot, call_id: u32, count: u32) void {
        self.current_token = call_id;
        _ = self.called(.grpc_initial_metadata, &.{ call_id, count });
        self.current_token = 0;
    }

    pub fn onGrpcReceive(self: *ProbeRoot, call_id: u32, size: usize) void {
        self.current_token = call_id;
        _ = self.called(.grpc_message, &.{ call_id, @intCast(size) });
        self.current_token = 0;
    }

    pub fn onGrpcReceiveTrailingMetadata(self: *ProbeRoot, call_id: u32, count: u32) void {
        self.current_token = call_id;
        _ = self.called(.grpc_trailing_metadata, &.{ call_id, count });
        self.current_token = 0;
    }

    pub fn onGrpcClose(self: *ProbeRoot, call_id: u32, status_code: u32) void {
        self.current_token = call_id;
        _ = self.called(.grpc_close, &.{ call_id, status_code });
        self.current_token = 0;
    }

    pub fn onDone(self: *ProbeRoot) bool {
        return !self.called(.root_done, &.{}).fail;
    }
};

// -- Stream contexts ----------------------------------------------------------------

const header_prefix = "x-probe-";

const ProbeHttp = struct {
    root: *ProbeRoot,
    context_id: u32,
    scripts: [@typeInfo(StreamPhase).@"enum".fields.len]Script = [_]Script{.{}} ** @typeInfo(StreamPhase).@"enum".fields.len,

    pub fn init(root: *ProbeRoot, context_id: u32) ProbeHttp {
        return .{ .root = root, .context_id = context_id };
    }

    fn loadFromHeaders(self: *ProbeHttp) void {
        inline for (@typeInfo(StreamPhase).@"enum".fields) |field| {
            const name = header_prefix ++ field.name;
            if (host.getHeader(.http_request_headers, name) catch null) |value| {
                self.scripts[field.value].set(value);
            }
        }
    }

    fn phase(self: *ProbeHttp, which: StreamPhase, values: []const u32) Outcome {
        logCalled(@tagName(which), values);
        return run(self.root, self.context_id, @tagName(which), self.scripts[@intFromEnum(which)].contents());
    }

    fn action(outcome: Outcome) abi.Action {
        return if (outcome.pause) .pause else .@"continue";
    }

    pub fn onRequestHeaders(self: *ProbeHttp, count: u32, end_of_stream: bool) abi.Action {
        self.loadFromHeaders();
        return action(self.phase(.request_headers, &.{ count, @intFromBool(end_of_stream) }));
    }

    pub fn onRequestBody(self: *ProbeHttp, size: usize, end_of_stream: bool) abi.Action {
        return action(self.phase(.request_body, &.{ @intCast(size), @intFromBool(end_of_stream) }));
    }

    pub fn onRequestTrailers(self: *ProbeHttp, count: u32) abi.Action {
        return action(self.phase(.request_trailers, &.{count}));
    }

    pub fn onResponseHeaders(self: *ProbeHttp, count: u32, end_of_stream: bool) abi.Action {
        return action(self.phase(.response_headers, &.{ count, @intFromBool(end_of_stream) }));
    }

    pub fn onResponseBody(self: *ProbeHttp, size: usize, end_of_stream: bool) abi.Action {
        return action(self.phase(.response_body, &.{ @intCast(size), @intFromBool(end_of_stream) }));
    }

    pub fn onResponseTrailers(self: *ProbeHttp, count: u32) abi.Action {
        return action(self.phase(.response_trailers, &.{count}));
    }

    pub fn onLog(self: *ProbeHttp) void {
        _ = self.phase(.log, &.{});
    }

    pub fn onDone(self: *ProbeHttp) bool {
        _ = self.phase(.done, &.{});
        return true;
    }
};

const ProbeTcp = struct {
    root: *ProbeRoot,
    context_id: u32,

    pub fn init(root: *ProbeRoot, context_id: u32) ProbeTcp {
        return .{ .root = root, .context_id = context_id };
    }

    fn phase(self: *ProbeTcp, which: RootPhase, values: []const u32) Outcome {
        logCalled(@tagName(which), values);
        return run(self.root, self.context_id, @tagName(which), self.root.scripts[@intFromEnum(which)].contents());
    }

    pub fn onNewConnection(self: *ProbeTcp) abi.Action {
        return if (self.phase(.new_connection, &.{}).pause) .pause else .@"continue";
    }

    pub fn onDownstreamData(self: *ProbeTcp, size: usize, end_of_stream: bool) abi.Action {
        return if (self.phase(.downstream_data, &.{ @intCast(size), @intFromBool(end_of_stream) }).pause) .pause else .@"continue";
    }

    pub fn onUpstreamData(self: *ProbeTcp, size: usize, end_of_stream: bool) abi.Action {
        return if (self.phase(.upstream_data, &.{ @intCast(size), @intFromBool(end_of_stream) }).pause) .pause else .@"continue";
    }

    pub fn onDownstreamConnectionClose(self: *ProbeTcp, peer: abi.PeerType) void {
        _ = self.phase(.downstream_close, &.{@intFromEnum(peer)});
    }

    pub fn onUpstreamConnectionClose(self: *ProbeTcp, peer: abi.PeerType) void {
        _ = self.phase(.upstream_close, &.{@intFromEnum(peer)});
    }
};

// -- The interpreter ---------------------------------------------------------------

const Outcome = struct { pause: bool = false, fail: bool = false };

fn run(root: *ProbeRoot, context_id: u32, phase_name: []const u8, script: []const u8) Outcome {
    var outcome = Outcome{};
    var commands = std.mem.splitScalar(u8, script, ';');
    var guard: usize = 0;
    while (commands.next()) |command| : (guard += 1) {
        std.debug.assert(guard <= script.len);
        arg_storage_used = 0;
        var words = std.mem.tokenizeScalar(u8, command, ' ');
        const name = words.next() orelse continue;
        var args = Args{};
        while (words.next()) |word| {
            if (args.len == args_max) break;
            args.items[args.len] = percentDecode(word);
            args.len += 1;
        }
        var line = Line{};
        line.text("probe ");
        line.text(phase_name);
        line.text(" ");
        line.text(name);
        line.text(": ");
        execute(root, context_id, name, &args, &line, &outcome);
        line.send();
    }
    return outcome;
}

fn ok(line: *Line) void {
    line.text("OK");
}

fn failed(line: *Line, err: anyerror) void {
    line.text(statusName(err));
}

fn badArgs(line: *Line) void {
    line.text("BAD_SCRIPT");
}

fn mapArg(args: *const Args, index: usize) ?types.MapType {
    const value = args.number(u32, index) orelse return null;
    return std.meta.intToEnum(types.MapType, value) catch null;
}

fn bufferArg(args: *const Args, index: usize) ?types.BufferType {
    const value = args.number(u32, index) orelse return null;
    return std.meta.intToEnum(types.BufferType, value) catch null;
}

fn streamArg(args: *const Args, index: usize) ?types.StreamType {
    const value = args.number(u32, index) orelse return null;
    return std.meta.intToEnum(types.StreamType, value) catch null;
}

/// `last` stands for the token / id the previous command of that kind produced.
fn idArg(args: *const Args, index: usize, last: u32) ?u32 {
    if (std.mem.eql(u8, args.get(index), "last")) return last;
    return args.number(u32, index);
}

var serialize_buffer: [serialize_bytes_max]u8 = undefined;

/// Pairs from alternating name/value arguments, serialised for the host.
fn pairsArg(args: *const Args, from: usize) ?[]const u8 {
    const words = args.rest(from);
    if (words.len % 2 != 0) return null;
    var pairs: [args_max / 2]header_map.Pair = undefined;
    var count: usize = 0;
    while (count * 2 < words.len) : (count += 1) {
        pairs[count] = .{ .name = words[count * 2], .value = words[count * 2 + 1] };
    }
    return header_map.serialize(pairs[0..count], &serialize_buffer) catch null;
}

fn writePairs(line: *Line, bytes: []const u8) void {
    const view = header_map.View.parse(bytes) catch {
        line.text(" MALFORMED");
        return;
    };
    line.text(" ");
    line.int(view.count);
    var it = view.iterator();
    var first = true;
    while (it.next()) |pair| {
        line.text(if (first) " " else "|");
        first = false;
        line.escaped(pair.name);
        line.text("=");
        line.escaped(pair.value);
    }
}

fn execute(root: *ProbeRoot, context_id: u32, name: []const u8, args: *const Args, line: *Line, outcome: *Outcome) void {
    const Command = enum {
        log,
        log_level,
        time,
        tick,
        buf_get,
        buf_set,
        buf_status,
        hdr_pairs,
        hdr_set_pairs,
        hdr_size,
        hdr_get,
        hdr_add,
        hdr_replace,
        hdr_remove,
        prop_get,
        prop_set,
        local_reply,
        @"continue",
        close,
        status,
        effective,
        effective_caller,
        done,
        shared_get,
        shared_set,
        queue_register,
        queue_resolve,
        queue_enqueue,
        queue_dequeue,
        http_call,
        grpc_call,
        grpc_stream,
        grpc_send,
        grpc_cancel,
        grpc_close,
        metric_define,
        metric_inc,
        metric_record,
        metric_get,
        foreign,
        pause,
        fail,
        trap,
        spin,
        oom,
        context_id,
    };
    const command = std.meta.stringToEnum(Command, name) orelse {
        line.text("UNKNOWN_COMMAND");
        return;
    };
    switch (command) {
        .log => {
            const level = args.number(u32, 0) orelse return badArgs(line);
            host.log(@enumFromInt(level), args.get(1));
            ok(line);
        },
        .log_level => {
            const level = host.logLevel() catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(@intFromEnum(level));
        },
        .time => {
            const nanos = host.currentTimeNanoseconds() catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(nanos);
        },
        .tick => {
            const period = args.number(u32, 0) orelse return badArgs(line);
            host.setTickPeriodMilliseconds(period) catch |err| return failed(line, err);
            ok(line);
        },
        .buf_get => {
            const buffer = bufferArg(args, 0) orelse return badArgs(line);
            const start = args.number(u32, 1) orelse return badArgs(line);
            const size = args.number(u32, 2) orelse return badArgs(line);
            const bytes = host.getBufferBytes(buffer, start, size) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(bytes.len);
            line.text(" ");
            line.escaped(bytes);
        },
        .buf_set => {
            const buffer = bufferArg(args, 0) orelse return badArgs(line);
            const start = args.number(u32, 1) orelse return badArgs(line);
            const size = args.number(u32, 2) orelse return badArgs(line);
            host.setBufferBytes(buffer, start, size, args.get(3)) catch |err| return failed(line, err);
            ok(line);
        },
        .buf_status => {
            const buffer = bufferArg(args, 0) orelse return badArgs(line);
            const size = host.getBufferSize(buffer) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(size);
        },
        .hdr_pairs => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            const view = host.getHeaderMap(map) catch |err| return failed(line, err);
            ok(line);
            writePairs(line, view.bytes);
        },
        .hdr_set_pairs => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            const serialized = pairsArg(args, 1) orelse return badArgs(line);
            host.setHeaderMap(map, serialized) catch |err| return failed(line, err);
            ok(line);
        },
        .hdr_size => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            const size = host.getHeaderMapSize(map) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(size);
        },
        .hdr_get => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            const value = host.getHeader(map, args.get(1)) catch |err| return failed(line, err);
            if (value) |found| {
                ok(line);
                line.text(" ");
                line.escaped(found);
            } else {
                line.text("NOT_FOUND");
            }
        },
        .hdr_add, .hdr_replace => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            const result = if (command == .hdr_add)
                host.addHeader(map, args.get(1), args.get(2))
            else
                host.replaceHeader(map, args.get(1), args.get(2));
            result catch |err| return failed(line, err);
            ok(line);
        },
        .hdr_remove => {
            const map = mapArg(args, 0) orelse return badArgs(line);
            host.removeHeader(map, args.get(1)) catch |err| return failed(line, err);
            ok(line);
        },
        .prop_get => {
            const value = host.getProperty(args.rest(0)) catch |err| return failed(line, err);
            if (value) |found| {
                ok(line);
                line.text(" ");
                line.int(found.len);
                line.text(" ");
                line.escaped(found);
            } else {
                line.text("NOT_FOUND");
            }
        },
        .prop_set => {
            if (args.len < 2) return badArgs(line);
            host.setProperty(args.items[0 .. args.len - 1], args.items[args.len - 1]) catch |err| return failed(line, err);
            ok(line);
        },
        .local_reply => {
            const status_code = args.number(u32, 0) orelse return badArgs(line);
            const grpc_status = args.number(i32, 1) orelse return badArgs(line);
            const headers = pairsArg(args, 4) orelse return badArgs(line);
            host.sendLocalResponse(.{
                .status_code = status_code,
                .grpc_status = grpc_status,
                .details = args.get(2),
                .body = args.get(3),
                .headers = headers,
            }) catch |err| return failed(line, err);
            ok(line);
        },
        .@"continue", .close => {
            const stream = streamArg(args, 0) orelse return badArgs(line);
            const result = if (command == .@"continue") host.continueStream(stream) else host.closeStream(stream);
            result catch |err| return failed(line, err);
            ok(line);
        },
        .status => {
            const status = host.getStatus() catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(status.code);
            line.text(" ");
            line.escaped(status.message);
        },
        .effective, .effective_caller => {
            const target = if (command == .effective)
                args.number(u32, 0) orelse return badArgs(line)
            else
                root.callerOf(root.current_token);
            host.setEffectiveContext(target) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(target);
        },
        .done => {
            host.done() catch |err| return failed(line, err);
            ok(line);
        },
        .shared_get => {
            const entry = host.getSharedData(args.get(0)) catch |err| return failed(line, err);
            if (entry) |found| {
                root.last_cas = found.cas;
                ok(line);
                line.text(" ");
                line.int(found.cas);
                line.text(" ");
                line.escaped(found.value);
            } else {
                line.text("NOT_FOUND");
            }
        },
        .shared_set => {
            const cas = idArg(args, 2, root.last_cas) orelse 0;
            host.setSharedData(args.get(0), args.get(1), cas) catch |err| return failed(line, err);
            ok(line);
        },
        .queue_register => {
            root.last_queue = host.registerSharedQueue(args.get(0)) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(root.last_queue);
        },
        .queue_resolve => {
            root.last_queue = host.resolveSharedQueue(args.get(0), args.get(1)) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(root.last_queue);
        },
        .queue_enqueue => {
            const queue = idArg(args, 0, root.last_queue) orelse return badArgs(line);
            host.enqueueSharedQueue(queue, args.get(1)) catch |err| return failed(line, err);
            ok(line);
        },
        .queue_dequeue => {
            const queue = idArg(args, 0, root.last_queue) orelse return badArgs(line);
            const item = host.dequeueSharedQueue(queue) catch |err| return failed(line, err);
            if (item) |found| {
                ok(line);
                line.text(" ");
                line.escaped(found);
            } else {
                line.text("EMPTY");
            }
        },
        .http_call => {
            // http_call <upstream> <timeout_ms> <body> <name> <value> ...
            const timeout = args.number(u32, 1) orelse return badArgs(line);
            const headers = pairsArg(args, 3) orelse return badArgs(line);
            const token = host.httpCall(.{
                .upstream = args.get(0),
                .headers = headers,
                .body = args.get(2),
                .timeout_milliseconds = timeout,
            }) catch |err| return failed(line, err);
            root.remember(token, context_id);
            ok(line);
            line.text(" ");
            line.int(token);
        },
        .grpc_call => {
            // grpc_call <upstream> <service> <method> <timeout_ms> <message> <name> <value> ...
            const timeout = args.number(u32, 3) orelse return badArgs(line);
            const metadata = pairsArg(args, 5) orelse return badArgs(line);
            const token = host.grpcCall(.{
                .upstream = args.get(0),
                .service = args.get(1),
                .method = args.get(2),
                .metadata = metadata,
            }, args.get(4), timeout) catch |err| return failed(line, err);
            root.remember(token, context_id);
            ok(line);
            line.text(" ");
            line.int(token);
        },
        .grpc_stream => {
            const metadata = pairsArg(args, 3) orelse return badArgs(line);
            const token = host.grpcStream(.{
                .upstream = args.get(0),
                .service = args.get(1),
                .method = args.get(2),
                .metadata = metadata,
            }) catch |err| return failed(line, err);
            root.remember(token, context_id);
            ok(line);
            line.text(" ");
            line.int(token);
        },
        .grpc_send => {
            const token = idArg(args, 0, root.last_call) orelse return badArgs(line);
            host.grpcSend(token, args.get(1), std.mem.eql(u8, args.get(2), "1")) catch |err| return failed(line, err);
            ok(line);
        },
        .grpc_cancel, .grpc_close => {
            const token = idArg(args, 0, root.last_call) orelse return badArgs(line);
            const result = if (command == .grpc_cancel) host.grpcCancel(token) else host.grpcClose(token);
            result catch |err| return failed(line, err);
            ok(line);
        },
        .metric_define => {
            const kind = args.number(u32, 0) orelse return badArgs(line);
            const metric_type = std.meta.intToEnum(types.MetricType, kind) catch return badArgs(line);
            root.last_metric = host.defineMetric(metric_type, args.get(1)) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(root.last_metric);
        },
        .metric_inc => {
            const metric = idArg(args, 0, root.last_metric) orelse return badArgs(line);
            const delta = args.number(i64, 1) orelse return badArgs(line);
            host.incrementMetric(metric, delta) catch |err| return failed(line, err);
            ok(line);
        },
        .metric_record => {
            const metric = idArg(args, 0, root.last_metric) orelse return badArgs(line);
            const value = args.number(u64, 1) orelse return badArgs(line);
            host.recordMetric(metric, value) catch |err| return failed(line, err);
            ok(line);
        },
        .metric_get => {
            const metric = idArg(args, 0, root.last_metric) orelse return badArgs(line);
            const value = host.getMetric(metric) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.int(value);
        },
        .foreign => {
            const result = host.callForeignFunction(args.get(0), args.get(1)) catch |err| return failed(line, err);
            ok(line);
            line.text(" ");
            line.escaped(result);
        },
        .pause => {
            outcome.pause = true;
            ok(line);
        },
        .fail => {
            outcome.fail = true;
            ok(line);
        },
        .trap => {
            line.send();
            @trap();
        },
        .spin => {
            line.send();
            spinForever();
        },
        .oom => {
            line.send();
            growUntilRefused();
        },
        .context_id => {
            ok(line);
            line.text(" ");
            line.int(context_id);
        },
    }
}

/// A callback that never returns: the host's deadline must interrupt it.
fn spinForever() noreturn {
    var counter: u64 = 0;
    while (true) {
        counter +%= 1;
        std.mem.doNotOptimizeAway(&counter);
    }
}

/// Grows linear memory until the host refuses, then traps, as an allocator that
/// runs out of memory would.
fn growUntilRefused() noreturn {
    var grown: usize = 0;
    while (grown < 65536) : (grown += 1) {
        if (@wasmMemoryGrow(0, 16) < 0) break;
    }
    @trap();
}

comptime {
    abi.exportPlugin(struct {
        pub const Root = ProbeRoot;
        pub const Http = ProbeHttp;
        pub const Tcp = ProbeTcp;
        pub const streams_max: u32 = 16;
    });
}

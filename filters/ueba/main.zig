//! meshveil-ueba: user and entity behaviour analytics. Identifies who each request is
//! from, keeps per-identity behaviour in shared data across workers, scores each exchange
//! against the identity's (or its peer group's) baseline and the policy's rules, and
//! records, tags, throttles or blocks; anomaly events go to the control plane in batches.
//! This file wires the ABI's contexts to the logic (filter.zig, stream.zig).

const abi = @import("abi");
const trust = @import("trust");
const Filter = @import("filter.zig").Filter;
const Stream = @import("stream.zig").Stream;

pub const panic = abi.panic;

const RootContext = struct {
    context_id: u32,
    /// The verified configuration this plugin serves (see filters/trust/).
    config: trust.Configured("meshveil-ueba") = .{},
    ueba: Filter,

    pub fn init(context_id: u32) RootContext {
        return .{ .context_id = context_id, .ueba = Filter.init(context_id) };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        if (!self.config.apply(configuration)) return false;
        // The UEBA settings are the verified inner config the trust layer hands over.
        const active = self.config.current() orelse return false;
        return self.ueba.configure(active.bytes, active.generation);
    }

    pub fn onTick(self: *RootContext) void {
        self.ueba.onTick();
    }

    pub fn onQueueReady(self: *RootContext, queue_id: u32) void {
        self.ueba.onQueueReady(queue_id);
    }

    pub fn onHttpCallResponse(self: *RootContext, call_id: u32, headers_count: u32, body_size: usize, trailers_count: u32) void {
        _ = body_size;
        _ = trailers_count;
        self.ueba.onHttpCallResponse(call_id, headers_count);
    }
};

const HttpContext = struct {
    context_id: u32,
    stream: Stream,

    pub fn init(root: *RootContext, context_id: u32) HttpContext {
        return .{ .context_id = context_id, .stream = Stream.init(&root.ueba) };
    }

    pub fn onRequestHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = headers_count;
        _ = end_of_stream;
        return self.stream.onRequestHeaders();
    }

    pub fn onResponseHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = headers_count;
        return self.stream.onResponseHeaders(end_of_stream);
    }

    pub fn onResponseBody(self: *HttpContext, body_size: usize, end_of_stream: bool) abi.Action {
        return self.stream.onResponseBody(body_size, end_of_stream);
    }

    pub fn onLog(self: *HttpContext) void {
        self.stream.onLog();
    }

    pub fn onDone(self: *HttpContext) bool {
        return self.stream.onDone();
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = HttpContext;
    });
}

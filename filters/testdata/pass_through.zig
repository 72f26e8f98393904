//! pass-through: the smallest plugin on the ABI layer. It logs the size of its
//! configuration and passes every stream, so tests and benchmarks can measure
//! the ABI layer's dispatch, registry and arena apart from any filter logic.

const abi = @import("abi");

pub const panic = abi.panic;

const RootContext = struct {
    context_id: u32,

    pub fn init(context_id: u32) RootContext {
        return .{ .context_id = context_id };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        _ = self;
        abi.host.logFmt(.info, "pass-through: configured ({d} bytes)", .{configuration.len});
        return true;
    }
};

const HttpContext = struct {
    context_id: u32,

    pub fn init(root: *RootContext, context_id: u32) HttpContext {
        _ = root;
        return .{ .context_id = context_id };
    }

    pub fn onRequestHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = .{ self, headers_count, end_of_stream };
        return .@"continue";
    }

    pub fn onResponseHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = .{ self, headers_count, end_of_stream };
        return .@"continue";
    }

    /// Handled (as nothing), so the dispatcher's end-of-stream callbacks stay
    /// exported: the ABI layer's tests drive them through this plugin.
    pub fn onLog(self: *HttpContext) void {
        _ = self;
    }

    pub fn onDone(self: *HttpContext) bool {
        _ = self;
        return true;
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = HttpContext;
    });
}

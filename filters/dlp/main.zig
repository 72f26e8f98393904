//! meshveil-dlp: detects sensitive data in traffic and blocks, alerts or tags
//! by threshold. This is the module's frame: it loads, accepts its
//! configuration and passes traffic through; detection arrives with the engine.

const abi = @import("abi");

pub const panic = abi.panic;

const RootContext = struct {
    context_id: u32,
    configured: bool = false,

    pub fn init(context_id: u32) RootContext {
        return .{ .context_id = context_id };
    }

    pub fn onConfigure(self: *RootContext, configuration: []const u8) bool {
        abi.host.logFmt(.info, "meshveil-dlp: configured ({d} bytes)", .{configuration.len});
        self.configured = true;
        return true;
    }
};

const HttpContext = struct {
    root: *RootContext,
    context_id: u32,

    pub fn init(root: *RootContext, context_id: u32) HttpContext {
        return .{ .root = root, .context_id = context_id };
    }

    pub fn onRequestHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = self;
        _ = headers_count;
        _ = end_of_stream;
        return .@"continue";
    }

    pub fn onResponseHeaders(self: *HttpContext, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = self;
        _ = headers_count;
        _ = end_of_stream;
        return .@"continue";
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = RootContext;
        pub const Http = HttpContext;
    });
}

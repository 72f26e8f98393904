//! Native unit tests of the UEBA logic: everything but the host bindings (host_env.zig,
//! filter.zig, stream.zig, main.zig), which the harness tests in tests/ueba/ drive.

test {
    _ = @import("config.zig");
    _ = @import("jwt.zig");
    _ = @import("entity.zig");
    _ = @import("baseline.zig");
    _ = @import("features.zig");
    _ = @import("hours.zig");
    _ = @import("record.zig");
    _ = @import("scoring.zig");
    _ = @import("state.zig");
    _ = @import("analysis.zig");
    _ = @import("events.zig");
    _ = @import("decimal.zig");
    _ = @import("json_member.zig");
}

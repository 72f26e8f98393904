//! The body pipeline meshveil-dlp and meshveil-mask share: their config (routes, rules,
//! matcher tables), route selection, the route-narrowed scanner and per-message tally,
//! body processors built in per-stream slots, finding events, and the host glue.
//! Everything but `host_io` is pure and tests natively.

pub const config = @import("config.zig");
pub const glob = @import("glob.zig");
pub const routes = @import("routes.zig");
pub const tally = @import("tally.zig");
pub const scan = @import("scan.zig");
pub const body = @import("body.zig");
pub const slots = @import("slots.zig");
pub const events = @import("events.zig");
pub const message = @import("message.zig");
pub const report = @import("report.zig");
pub const exchange = @import("exchange.zig");
pub const configure = @import("configure.zig");
pub const loaded = @import("loaded.zig");
pub const host_io = @import("host_io.zig");
pub const root = @import("root.zig");
pub const stream = @import("stream.zig");
pub const text = @import("text.zig");

test {
    _ = config;
    _ = glob;
    _ = routes;
    _ = tally;
    _ = scan;
    _ = body;
    _ = slots;
    _ = events;
    _ = message;
    _ = exchange;
    _ = loaded;
    _ = text;
}

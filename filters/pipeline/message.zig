//! One message's (a request's or a response's) handling, decided at its headers: is
//! it the route's to scan, how its body is read (walker, decoder, streaming or
//! buffered), and the state that carries across its body callbacks.

const std = @import("std");
const walkers = @import("walkers");
const masking = @import("masking");
const config = @import("config.zig");
const routes = @import("routes.zig");
const body = @import("body.zig");
const tally_module = @import("tally.zig");

const content_type = walkers.content_type;
const body_plan = masking.body_plan;

pub const BodyHandling = enum {
    /// The route does not cover this direction or content type, or there is no body.
    none,
    /// Walk and scan it.
    scan,
    /// The policy lets it through unscanned (a coding it cannot decode, a format no
    /// walker reads) and asks for an alert.
    pass_and_alert,
    /// The policy refuses it (e.g. gzip with `gzip: block`).
    refuse,
};

pub fn Message(comptime Processor: type) type {
    return struct {
        const Self = @This();

        covered: bool = false,
        handling: BodyHandling = .none,
        plan: body_plan.Plan = undefined,
        setup: body.Setup = .{ .format = .other },
        /// Held until the end of the body (buffered mode, not past its limit).
        buffering: bool = false,
        /// Bytes of a buffered body already handed to the processor.
        consumed: usize = 0,
        slot: ?u16 = null,
        processor: ?Processor = null,
        /// Finished (or given up): later body callbacks pass.
        done: bool = false,
        /// Findings a masker could not rewrite, as already handled (mask filter).
        unmasked_reported: u32 = 0,
        /// Some of the body has gone on (as it came or rewritten): a failure can no
        /// longer fall back to passing the whole body as it came.
        passed_some: bool = false,
        tally: tally_module.Tally = .{},

        /// Decides at the headers; `hold_members` when the route drops whole fields.
        pub fn begin(self: *Self, route: *const config.Route, direction: config.Direction, content_type_value: []const u8, content_encoding: []const u8, grpc_encoding: []const u8, grpc_schema: body.GrpcSchema, end_of_stream: bool) void {
            self.covered = route.covers(direction);
            self.handling = .none;
            self.done = false;
            self.buffering = false;
            self.consumed = 0;
            self.unmasked_reported = 0;
            self.passed_some = false;
            self.tally.reset();
            if (!self.covered or end_of_stream) return;
            if (!routes.coversContentType(route, content_type_value)) return;
            self.plan = body_plan.plan(route.body, content_type_value, content_encoding);
            self.handling = switch (self.plan.disposition) {
                .scan => .scan,
                .pass_and_alert => .pass_and_alert,
                .block => .refuse,
            };
            if (self.handling != .scan) return;
            self.buffering = self.plan.mode == .buffered;
            self.setup = .{
                .format = self.plan.format,
                .coding = switch (self.plan.coding) {
                    .decode => |container| container,
                    .identity, .unsupported => null,
                },
                .grpc_coding = switch (content_type.grpcCodingOf(grpc_encoding)) {
                    .decode => |container| container,
                    .identity, .unsupported => null,
                },
                .grpc_schema = grpc_schema,
                .scan_numbers = route.scan_numbers,
                .hold_members = dropsFields(route),
            };
        }

        /// Whether later body callbacks still have work.
        pub fn scanning(self: *const Self) bool {
            return self.handling == .scan and !self.done;
        }

        /// The message's processor, built in a slot of `pool` on first use; null when
        /// every slot is busy (the caller applies the failure mode).
        pub fn processorIn(self: *Self, pool: anytype, allocator: std.mem.Allocator) ?Processor {
            if (self.processor) |processor| return processor;
            const slot = pool.acquire(allocator) orelse return null;
            self.slot = slot;
            self.processor = Processor.build(pool.bytes(slot), self.setup);
            return self.processor;
        }

        /// Gives the slot back (the message is done or abandoned).
        pub fn release(self: *Self, pool: anytype) void {
            const slot = self.slot orelse return;
            pool.release(slot);
            self.slot = null;
            self.processor = null;
        }

        /// The message is done (finished, refused or given up): later body callbacks
        /// pass, and the slot goes back to the pool.
        pub fn close(self: *Self, pool: anytype) void {
            self.release(pool);
            self.done = true;
        }
    };
}

/// What a buffered body of `buffered_bytes` so far does next (the route's limit and
/// overflow choice).
pub fn onBuffered(route: *const config.Route, buffered_bytes: u64) body_plan.BufferDecision {
    return body_plan.onBuffered(route.body, buffered_bytes);
}

/// A route whose masks drop fields needs members held back until they end.
fn dropsFields(route: *const config.Route) bool {
    for (route.rules) |rule| {
        if (rule.mask) |mask| if (mask == .drop) return true;
    }
    return false;
}

test "headers decide: covered directions and content types, codings by policy" {
    const testing = std.testing;
    var rules = [_]config.Rule{.{ .detector = 0, .min_score = 0, .threshold = 1, .verdict = .alert, .mask = .drop, .missing_key = "" }};
    const route = config.Route{ .name = "r", .paths = &.{"/**"}, .methods = &.{}, .hosts = &.{}, .request = false, .response = true, .content_types = &.{ "application/json", "text/*" }, .body = .{ .mode = .buffered, .compressed = .pass_and_alert }, .scan_numbers = true, .rules = &rules, .rule_of = &.{0} };
    var message = Message(u8){};
    message.begin(&route, .request, "application/json", "", "", .{}, false);
    try testing.expectEqual(BodyHandling.none, message.handling);
    message.begin(&route, .response, "image/png", "", "", .{}, false);
    try testing.expectEqual(BodyHandling.none, message.handling);
    message.begin(&route, .response, "application/json", "br", "", .{}, false);
    try testing.expectEqual(BodyHandling.pass_and_alert, message.handling);
    message.begin(&route, .response, "application/json; charset=utf-8", "gzip", "", .{}, false);
    try testing.expectEqual(BodyHandling.pass_and_alert, message.handling);
    var decoding = route;
    decoding.body.compressed = .decode;
    message.begin(&decoding, .response, "application/json; charset=utf-8", "gzip", "", .{}, false);
    try testing.expectEqual(BodyHandling.scan, message.handling);
    try testing.expect(message.buffering and message.setup.hold_members and message.setup.scan_numbers);
    try testing.expectEqual(@as(?walkers.inflate.Container, .gzip), message.setup.coding);
    message.begin(&decoding, .response, "application/json", "", "", .{}, true);
    try testing.expectEqual(BodyHandling.none, message.handling);
}

//! The HTTP stream lifecycle meshveil-dlp and meshveil-mask share: the proxy-Wasm
//! callbacks, holding the config and picking the route at the request's headers, a
//! message per direction, the buffer limit, the report at a message's end, refusal
//! and release. `Filter` (the filter's stream file) says only what is its own:
//!
//! - `Root`: its root context, holding a `pipeline.root.Root` as `frame`;
//! - `Processor`: the body processor built in a slot (`Detector`, `Masker`);
//! - `onHeaders`, `onBody`, `onTrailers`: what it does with a message's parts
//!   (`onHeaders` is called for each routed message once it has begun; whether the
//!   route covers it is `message(direction).covered`);
//! - `headersUnreadable`: its failure mode when the host cannot give the headers;
//! - optionally `headersRead(direction, view)`: sees every header map read, routed or
//!   not (to remove a copy of the filter's own headers that it did not write).

const std = @import("std");
const abi = @import("abi");
const config = @import("config.zig");
const exchange_module = @import("exchange.zig");
const host_io = @import("host_io.zig");
const message_module = @import("message.zig");

const host = abi.host;
const header_map = abi.header_map;
const Direction = config.Direction;
const assert = std.debug.assert;

/// A buffered body's next step against the route's buffer limit.
pub const Buffering = enum { keep_buffering, refuse, stream };

pub fn Stream(comptime Filter: type) type {
    return struct {
        const Self = @This();
        const Frame = @FieldType(Filter.Root, "frame");
        const module_name = Frame.module_name;
        /// Whether every response's headers are read (see `headersRead`).
        const reads_unrouted = @hasDecl(Filter, "headersRead");

        pub const Message = message_module.Message(Filter.Processor);

        root: *Filter.Root,
        exchange: exchange_module.Exchange = .{},
        messages: [2]Message = .{ .{}, .{} },

        pub fn init(root: *Filter.Root, context_id: u32) Self {
            _ = context_id;
            return .{ .root = root };
        }

        // -- Callbacks ------------------------------------------------------------

        pub fn onRequestHeaders(self: *Self, headers_count: u32, end_of_stream: bool) abi.Action {
            _ = headers_count;
            if (!self.exchange.hold(&self.root.frame.configs)) return .@"continue";
            const view = host_io.readHeaders(.request) orelse return Filter.headersUnreadable(self, .request);
            if (reads_unrouted) Filter.headersRead(.request, view);
            const facts = host_io.HeaderFacts.of(view);
            _ = self.exchange.begin(facts) orelse return .@"continue";
            return self.onHeaders(.request, view, facts, end_of_stream);
        }

        pub fn onRequestBody(self: *Self, body_size: usize, end_of_stream: bool) abi.Action {
            return Filter.onBody(self, .request, body_size, end_of_stream);
        }

        pub fn onRequestTrailers(self: *Self, trailers_count: u32) abi.Action {
            _ = trailers_count;
            return Filter.onTrailers(self, .request);
        }

        pub fn onResponseHeaders(self: *Self, headers_count: u32, end_of_stream: bool) abi.Action {
            _ = headers_count;
            if (self.exchange.ended) return .@"continue";
            // A route implies a config; without the hook, unrouted responses are not read.
            if (if (reads_unrouted) self.exchange.loaded == null else self.exchange.route == null) return .@"continue";
            const view = host_io.readHeaders(.response) orelse return Filter.headersUnreadable(self, .response);
            if (reads_unrouted) Filter.headersRead(.response, view);
            if (self.exchange.route == null) return .@"continue";
            return self.onHeaders(.response, view, host_io.HeaderFacts.of(view), end_of_stream);
        }

        pub fn onResponseBody(self: *Self, body_size: usize, end_of_stream: bool) abi.Action {
            return Filter.onBody(self, .response, body_size, end_of_stream);
        }

        pub fn onResponseTrailers(self: *Self, trailers_count: u32) abi.Action {
            _ = trailers_count;
            return Filter.onTrailers(self, .response);
        }

        pub fn onDelete(self: *Self) void {
            for (&self.messages) |*message_state| message_state.release(&self.root.frame.pool);
            self.exchange.end(&self.root.frame.configs);
        }

        // -- For the filter -------------------------------------------------------

        pub fn message(self: *Self, direction: Direction) *Message {
            return &self.messages[@intFromEnum(direction)];
        }

        /// Starts `direction`'s message on the route, then hands its headers to the filter.
        fn onHeaders(self: *Self, direction: Direction, view: header_map.View, facts: host_io.HeaderFacts, end_of_stream: bool) abi.Action {
            const route = self.exchange.route.?;
            self.message(direction).begin(route, direction, facts.content_type, facts.content_encoding, facts.grpc_encoding, self.exchange.grpcSchema(direction), end_of_stream);
            return Filter.onHeaders(self, direction, view, end_of_stream);
        }

        /// A body no walker reads, as the policy handles it: passed with a warning
        /// (`passes_as` says how), or refused. Null when the body is read.
        pub fn unreadBody(self: *Self, direction: Direction, comptime passes_as: []const u8) ?abi.Action {
            const route = self.exchange.route.?;
            switch (self.message(direction).handling) {
                .none, .scan => return null,
                .pass_and_alert => {
                    self.root.frame.count(.passed_unscanned, 1);
                    host.logFmt(.warn, module_name ++ ": route {s} {s} body " ++ passes_as ++ ", as the policy allows (a coding or type no walker reads)", .{ route.name, @tagName(direction) });
                    return null;
                },
                .refuse => {
                    host.logFmt(.warn, module_name ++ ": route {s} {s} body refused: its content-encoding is not one the policy lets through", .{ route.name, @tagName(direction) });
                    return self.refuse(direction, .unscannable);
                },
            }
        }

        /// A buffered body of `body_size` bytes so far against the route's limit; past
        /// it, the warning says it is refused or `streams_as` (how it goes on).
        pub fn buffering(self: *Self, direction: Direction, body_size: usize, comptime streams_as: []const u8) Buffering {
            const route = self.exchange.route.?;
            const buffered = self.message(direction);
            assert(buffered.buffering);
            switch (message_module.onBuffered(route, body_size)) {
                .keep_buffering => return .keep_buffering,
                .block => {
                    host.logFmt(.warn, module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: refused", .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    return .refuse;
                },
                .switch_to_streaming => {
                    host.logFmt(.warn, module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: " ++ streams_as, .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    buffered.buffering = false;
                    return .stream;
                },
            }
        }

        /// `direction`'s body processor, built in a free slot on first use.
        pub fn processor(self: *Self, direction: Direction) error{NoFreeSlot}!Filter.Processor {
            return self.message(direction).processorIn(&self.root.frame.pool, std.heap.wasm_allocator) orelse {
                self.root.frame.count(.slots_exhausted, 1);
                return error.NoFreeSlot;
            };
        }

        /// The message is done: its slot goes back, its findings are reported.
        pub fn report(self: *Self, direction: Direction, enforced: bool) void {
            const done = self.message(direction);
            done.close(&self.root.frame.pool);
            self.root.frame.reporter.message(.{
                .loaded = self.exchange.loaded.?,
                .route = self.exchange.route.?,
                .direction = direction,
                .request_id = self.exchange.requestId(),
                .method = self.exchange.methodName(),
                .enforced = enforced,
            }, &done.tally);
        }

        /// Ends the stream with the refusal's local reply; both messages are done.
        pub fn refuse(self: *Self, direction: Direction, refusal: host_io.Refusal) abi.Action {
            self.exchange.refuse(module_name, direction, refusal);
            for (&self.messages) |*message_state| message_state.close(&self.root.frame.pool);
            return .pause;
        }
    };
}

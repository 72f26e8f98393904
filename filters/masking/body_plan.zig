//! What a filter does with a body, decided when its headers arrive: stream it
//! or buffer it (per route), how to read it (walker, decoder), what happens to
//! `content-length` and `content-encoding`, and what happens past the buffer
//! limit. Pure decisions from the route's policy and the headers; the filter
//! carries them out with host calls.
//!
//! Content-Length: Envoy has sent a streamed body's headers before the first
//! body chunk, so a filter that may change a body's length must remove
//! `content-length` in the headers callback (HTTP/1.1 then uses chunked
//! encoding, HTTP/2 needs no length). A buffered body's headers are held until
//! the body is done, but proxy-Wasm offers no portable way to edit headers from
//! a body callback, so those are removed up front too, and only when the body
//! may be rewritten: detection alone keeps the header.

const std = @import("std");
const walkers = @import("walkers");
const content_type = walkers.content_type;

pub const Mode = enum { streaming, buffered };
pub const Overflow = enum {
    /// Refuse the message (fail closed).
    block,
    /// Keep going in streaming mode; masking that needed the whole body is
    /// reported as skipped (fail open, with an alert).
    stream,
};
pub const CompressedHandling = enum { decode, block, pass_and_alert };

/// The parts of a route's policy that decide body handling.
pub const RoutePolicy = struct {
    mode: Mode = .streaming,
    max_buffer_bytes: u32 = 1024 * 1024,
    on_overflow: Overflow = .block,
    compressed: CompressedHandling = .decode,
    /// The route masks (the mask filter) rather than only detecting (DLP).
    rewrites: bool = false,
    /// Re-encode a decoded body as gzip; else it goes on decoded.
    reencode: bool = true,
};

pub const Disposition = enum {
    /// Walk and scan the body.
    scan,
    /// Let it through unscanned and say so in telemetry (policy allows it).
    pass_and_alert,
    /// Refuse the message.
    block,
};

pub const Plan = struct {
    disposition: Disposition,
    format: content_type.BodyFormat,
    coding: content_type.Coding,
    mode: Mode,
    remove_content_length: bool,
    /// The output is decoded: remove `content-encoding`.
    remove_content_encoding: bool,
};

pub fn plan(policy: RoutePolicy, content_type_value: []const u8, content_encoding: []const u8) Plan {
    const format = content_type.formatOf(content_type_value);
    const coding = content_type.codingOf(content_encoding);
    var result = Plan{
        .disposition = .scan,
        .format = format,
        .coding = coding,
        .mode = policy.mode,
        .remove_content_length = false,
        .remove_content_encoding = false,
    };
    switch (coding) {
        .identity => {},
        .decode => switch (policy.compressed) {
            .decode => {},
            .block => result.disposition = .block,
            .pass_and_alert => result.disposition = .pass_and_alert,
        },
        // Never passed on unscanned silently: only the policy's explicit choice lets it by.
        .unsupported => result.disposition = if (policy.compressed == .pass_and_alert) .pass_and_alert else .block,
    }
    if (format == .other and result.disposition == .scan) result.disposition = .pass_and_alert;
    const rewrites = policy.rewrites and result.disposition == .scan;
    result.remove_content_length = rewrites;
    result.remove_content_encoding = rewrites and coding == .decode and !policy.reencode;
    return result;
}

pub const BufferDecision = enum { keep_buffering, block, switch_to_streaming };

/// Called as a buffered body grows: what to do once it passes the limit.
pub fn onBuffered(policy: RoutePolicy, buffered_bytes: u64) BufferDecision {
    std.debug.assert(policy.mode == .buffered);
    if (buffered_bytes <= policy.max_buffer_bytes) return .keep_buffering;
    return switch (policy.on_overflow) {
        .block => .block,
        .stream => .switch_to_streaming,
    };
}

const testing = std.testing;

test "compressed bodies are decoded, refused or passed only as the policy says" {
    const decoding = plan(.{ .rewrites = true }, "application/json", "gzip");
    try testing.expectEqual(Disposition.scan, decoding.disposition);
    try testing.expect(decoding.remove_content_length and !decoding.remove_content_encoding);
    const plain_out = plan(.{ .rewrites = true, .reencode = false }, "application/json", "gzip");
    try testing.expect(plain_out.remove_content_encoding);
    try testing.expectEqual(Disposition.block, plan(.{ .compressed = .block }, "application/json", "gzip").disposition);
    try testing.expectEqual(Disposition.block, plan(.{}, "application/json", "br").disposition);
    try testing.expectEqual(Disposition.pass_and_alert, plan(.{ .compressed = .pass_and_alert }, "application/json", "br").disposition);
}

test "content-length goes only when the body may be rewritten" {
    try testing.expect(!plan(.{ .rewrites = false }, "application/json", "").remove_content_length);
    try testing.expect(plan(.{ .rewrites = true }, "application/json", "").remove_content_length);
    try testing.expect(!plan(.{ .rewrites = true }, "image/png", "").remove_content_length);
}

test "past the buffer limit: block or continue streaming" {
    const blocking = RoutePolicy{ .mode = .buffered, .max_buffer_bytes = 1024 };
    try testing.expectEqual(BufferDecision.keep_buffering, onBuffered(blocking, 1024));
    try testing.expectEqual(BufferDecision.block, onBuffered(blocking, 1025));
    const streaming = RoutePolicy{ .mode = .buffered, .max_buffer_bytes = 1024, .on_overflow = .stream };
    try testing.expectEqual(BufferDecision.switch_to_streaming, onBuffered(streaming, 4096));
}

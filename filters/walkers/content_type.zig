//! Which walker reads a body, from its `content-type`, and which decoder,
//! from its `content-encoding`. Media types compare case-insensitively and
//! ignore parameters (`application/json; charset=utf-8`).

const std = @import("std");
const inflate = @import("inflate.zig");

pub const BodyFormat = enum {
    json,
    /// JSON lines / NDJSON: one document per line.
    json_lines,
    form,
    text,
    event_stream,
    grpc,
    /// No walker reads it (images, octet streams, multipart): the policy
    /// decides whether it is scanned as text, passed or refused.
    other,
};

pub fn formatOf(content_type: []const u8) BodyFormat {
    const media = mediaType(content_type);
    const exact = [_]struct { name: []const u8, format: BodyFormat }{
        .{ .name = "application/json", .format = .json },
        .{ .name = "application/x-ndjson", .format = .json_lines },
        .{ .name = "application/jsonl", .format = .json_lines },
        .{ .name = "application/json-seq", .format = .json_lines },
        .{ .name = "application/x-www-form-urlencoded", .format = .form },
        .{ .name = "text/event-stream", .format = .event_stream },
        .{ .name = "application/grpc", .format = .grpc },
    };
    for (exact) |entry| if (std.ascii.eqlIgnoreCase(media, entry.name)) return entry.format;
    // application/grpc+proto, application/grpc+json: still gRPC framing.
    if (startsWithIgnoreCase(media, "application/grpc+")) return .grpc;
    // application/problem+json, application/vnd.api+json and the like.
    if (endsWithIgnoreCase(media, "+json")) return .json;
    if (startsWithIgnoreCase(media, "text/")) return .text;
    return .other;
}

pub const Coding = union(enum) {
    identity,
    decode: inflate.Container,
    /// br, zstd, compress, or several codings stacked: cannot be decoded here.
    unsupported,
};

pub fn codingOf(content_encoding: []const u8) Coding {
    const value = std.mem.trim(u8, content_encoding, " \t");
    if (value.len == 0 or std.ascii.eqlIgnoreCase(value, "identity")) return .identity;
    if (std.ascii.eqlIgnoreCase(value, "gzip") or std.ascii.eqlIgnoreCase(value, "x-gzip")) return .{ .decode = .gzip };
    if (std.ascii.eqlIgnoreCase(value, "deflate")) return .{ .decode = .zlib_or_raw };
    return .unsupported;
}

/// The `grpc-encoding` of compressed gRPC messages.
pub fn grpcCodingOf(grpc_encoding: []const u8) Coding {
    return codingOf(grpc_encoding);
}

fn mediaType(content_type: []const u8) []const u8 {
    const end = std.mem.indexOfScalar(u8, content_type, ';') orelse content_type.len;
    return std.mem.trim(u8, content_type[0..end], " \t");
}

fn startsWithIgnoreCase(text: []const u8, prefix: []const u8) bool {
    return text.len >= prefix.len and std.ascii.eqlIgnoreCase(text[0..prefix.len], prefix);
}

fn endsWithIgnoreCase(text: []const u8, suffix: []const u8) bool {
    return text.len >= suffix.len and std.ascii.eqlIgnoreCase(text[text.len - suffix.len ..], suffix);
}

test "media types pick walkers" {
    const testing = std.testing;
    try testing.expectEqual(BodyFormat.json, formatOf("application/json; charset=utf-8"));
    try testing.expectEqual(BodyFormat.json, formatOf("Application/Problem+JSON"));
    try testing.expectEqual(BodyFormat.json_lines, formatOf("application/x-ndjson"));
    try testing.expectEqual(BodyFormat.form, formatOf("application/x-www-form-urlencoded"));
    try testing.expectEqual(BodyFormat.event_stream, formatOf("text/event-stream"));
    try testing.expectEqual(BodyFormat.grpc, formatOf("application/grpc+proto"));
    try testing.expectEqual(BodyFormat.text, formatOf("text/plain"));
    try testing.expectEqual(BodyFormat.other, formatOf("image/png"));
    try testing.expectEqual(BodyFormat.other, formatOf(""));
}

test "content codings" {
    const testing = std.testing;
    try testing.expectEqual(Coding.identity, codingOf(""));
    try testing.expectEqual(Coding{ .decode = .gzip }, codingOf("GZIP"));
    try testing.expectEqual(Coding{ .decode = .zlib_or_raw }, codingOf(" deflate "));
    try testing.expectEqual(Coding.unsupported, codingOf("br"));
    try testing.expectEqual(Coding.unsupported, codingOf("gzip, br"));
}

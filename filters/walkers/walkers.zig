//! meshveil's body walkers: resumable, allocation-free parsers that report the
//! scannable values of a body (or header) with their location and a raw map
//! for rewriting. The contract is in walker.zig.

pub const walker = @import("walker.zig");
pub const path = @import("path.zig");
pub const piece_buffer = @import("piece_buffer.zig");
pub const json = @import("json.zig");
pub const form = @import("form.zig");
pub const text = @import("text.zig");
pub const sse = @import("sse.zig");
pub const protobuf = @import("protobuf.zig");
pub const grpc = @import("grpc.zig");
pub const inflate = @import("inflate.zig");
pub const headers = @import("headers.zig");
pub const content_type = @import("content_type.zig");
pub const in_place = @import("in_place.zig");

test {
    _ = walker;
    _ = path;
    _ = piece_buffer;
    _ = json;
    _ = form;
    _ = text;
    _ = sse;
    _ = protobuf;
    _ = grpc;
    _ = inflate;
    _ = headers;
    _ = content_type;
    _ = in_place;
}

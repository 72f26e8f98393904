//! meshveil's masking: the mask actions a policy applies per detector, the
//! encoders that write a replacement back in its body's format, and the
//! rewriters that apply them to a stream (held-back tail) or a gRPC message
//! (protobuf lengths fixed up).

pub const actions = @import("actions.zig");
pub const encode = @import("encode.zig");
pub const characters = @import("characters.zig");
pub const rewriter = @import("rewriter.zig");
pub const stream_masker = @import("stream_masker.zig");
pub const protobuf_rewrite = @import("protobuf_rewrite.zig");
pub const gzip_encoder = @import("gzip_encoder.zig");
pub const decoded_body = @import("decoded_body.zig");
pub const grpc_masker = @import("grpc_masker.zig");
pub const body_plan = @import("body_plan.zig");
pub const engine_scanner = @import("engine_scanner.zig");
pub const prefilter = @import("prefilter.zig");
pub const match_shape = @import("match_shape.zig");
/// A stand-in scanner and policy for tests and the harness's walker probe
/// (filters/testdata); the filters never use it.
pub const test_support = @import("test_support.zig");

test {
    _ = actions;
    _ = encode;
    _ = characters;
    _ = rewriter;
    _ = stream_masker;
    _ = protobuf_rewrite;
    _ = gzip_encoder;
    _ = decoded_body;
    _ = grpc_masker;
    _ = body_plan;
    _ = engine_scanner;
    _ = prefilter;
    _ = match_shape;
    _ = @import("stream_masker_test.zig");
}

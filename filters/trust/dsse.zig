//! DSSE envelopes as JSON (secure-systems-lab/dsse v1) and signature checks over
//! PAE(type, payload) = "DSSEv1" SP len(type) SP type SP len(payload) SP payload,
//! streamed into the verifier so the message is never copied.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");

const Ed25519 = std.crypto.sign.Ed25519;
const base64 = std.base64.standard;

/// The JSON shape of an envelope; strings borrow from the input.
pub const Envelope = struct {
    payloadType: []const u8,
    payload: []const u8,
    signatures: []const Signature,
};

pub const Signature = struct {
    keyid: []const u8,
    sig: []const u8,
};

/// Whether `envelope` is well-formed enough to process: bounded signatures and valid
/// base64 throughout. Decoding errors later would then be bugs, not input problems.
pub fn wellFormed(envelope: Envelope) bool {
    if (envelope.signatures.len > limits.signatures_max) return false;
    _ = decodedSize(envelope.payload) orelse return false;
    for (envelope.signatures) |signature| {
        _ = decodedSize(signature.sig) orelse return false;
    }
    return true;
}

/// Decoded length of standard, padded base64, or null when `text` is not that.
pub fn decodedSize(text: []const u8) ?usize {
    const size = base64.Decoder.calcSizeForSlice(text) catch return null;
    // Padding may only end the text; calcSizeForSlice looks at the end alone.
    if (text.len > 4 and std.mem.indexOfScalar(u8, text[0 .. text.len - 4], '=') != null) return null;
    // A quad-by-quad decode checks the alphabet without a buffer of the full size.
    var scratch: [3]u8 = undefined;
    var offset: usize = 0;
    while (offset < text.len) : (offset += 4) {
        const quad = text[offset..@min(offset + 4, text.len)];
        const quad_size = base64.Decoder.calcSizeForSlice(quad) catch return null;
        base64.Decoder.decode(scratch[0..quad_size], quad) catch return null;
    }
    return size;
}

/// Decodes standard base64 into `out`; null when it does not fit or is not base64.
pub fn decode(out: []u8, text: []const u8) ?[]u8 {
    const size = base64.Decoder.calcSizeForSlice(text) catch return null;
    if (size > out.len) return null;
    base64.Decoder.decode(out[0..size], text) catch return null;
    return out[0..size];
}

/// Whether `signature_base64` is `public_key`'s Ed25519 signature of PAE(type, payload).
pub fn verifySignature(payload_type: []const u8, payload: []const u8, signature_base64: []const u8, public_key: [32]u8) bool {
    var raw: [Ed25519.Signature.encoded_length]u8 = undefined;
    const decoded = decode(&raw, signature_base64) orelse return false;
    if (decoded.len != raw.len) return false;
    const key = Ed25519.PublicKey.fromBytes(public_key) catch return false;
    var verifier = Ed25519.Signature.fromBytes(raw).verifier(key) catch return false;
    var number: [20]u8 = undefined;
    verifier.update("DSSEv1 ");
    verifier.update(std.fmt.bufPrint(&number, "{d}", .{payload_type.len}) catch unreachable);
    verifier.update(" ");
    verifier.update(payload_type);
    verifier.update(" ");
    verifier.update(std.fmt.bufPrint(&number, "{d}", .{payload.len}) catch unreachable);
    verifier.update(" ");
    verifier.update(payload);
    verifier.verify() catch return false;
    return true;
}

test "a signature over PAE verifies, and not over anything else" {
    const pair = try Ed25519.KeyPair.generateDeterministic([_]u8{1} ** 32);
    const payload = "{\"hello\":1}";
    const message = "DSSEv1 4 type 11 {\"hello\":1}";
    const signature = try pair.sign(message, null);
    var encoded: [88]u8 = undefined;
    const text = base64.Encoder.encode(&encoded, &signature.toBytes());
    const public_key = pair.public_key.toBytes();
    try std.testing.expect(verifySignature("type", payload, text, public_key));
    try std.testing.expect(!verifySignature("tipe", payload, text, public_key));
    try std.testing.expect(!verifySignature("type", "{\"hello\":2}", text, public_key));
    try std.testing.expect(!verifySignature("type", payload, text[0..84], public_key));
}

test "base64 must be standard and padded" {
    try std.testing.expectEqual(@as(?usize, 2), decodedSize("aGk="));
    try std.testing.expectEqual(@as(?usize, null), decodedSize("aGk"));
    try std.testing.expectEqual(@as(?usize, null), decodedSize("a*k="));
    try std.testing.expectEqual(@as(?usize, 0), decodedSize(""));
    try std.testing.expectEqual(@as(?usize, null), decodedSize("aGk=aGk="));
}

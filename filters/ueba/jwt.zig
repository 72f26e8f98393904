//! Reads one claim from a JWT payload. Two inputs: the payload alone, base64url-encoded
//! (what Istio's RequestAuthentication forwards after verifying the token, via
//! `outputPayloadToHeader`), or a whole compact JWT (`Authorization: Bearer`), whose
//! payload is read WITHOUT checking its signature: this filter trusts a bearer token's
//! claims only as far as telemetry says (`"verified": false`), for attribution, never
//! for authorization.
//!
//! The payload is decoded into a caller's fixed buffer; only a top-level string (or
//! number) member named by the claim counts (`json_member.zig`).

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const json_member = @import("json_member.zig");

pub const Claim = struct {
    name: [limits.name_bytes_max]u8 = undefined,
    name_len: usize = 0,

    pub fn init(name: []const u8) Claim {
        assert(name.len > 0 and name.len <= limits.name_bytes_max);
        var claim = Claim{ .name_len = name.len };
        @memcpy(claim.name[0..name.len], name);
        return claim;
    }

    pub fn text(self: *const Claim) []const u8 {
        return self.name[0..self.name_len];
    }
};

/// Scratch one read needs: the decoded payload and the claim's value. Kept by the caller
/// (one per VM) so reading a claim allocates nothing.
pub const Scratch = struct {
    payload: [limits.jwt_payload_bytes_max]u8 = undefined,
    value: [limits.claim_bytes_max]u8 = undefined,
};

/// The claim's value from a base64url payload, or null when the payload is absent,
/// malformed, too large, or has no such top-level string/number.
pub fn claimFromPayload(encoded_payload: []const u8, claim: *const Claim, scratch: *Scratch) ?[]const u8 {
    const payload = decodeBase64Url(encoded_payload, &scratch.payload) orelse return null;
    return findClaim(payload, claim, scratch);
}

/// The claim's value from a compact JWT (`header.payload.signature`), unverified.
pub fn claimFromToken(token: []const u8, claim: *const Claim, scratch: *Scratch) ?[]const u8 {
    const first_dot = std.mem.indexOfScalar(u8, token, '.') orelse return null;
    const rest = token[first_dot + 1 ..];
    const second_dot = std.mem.indexOfScalar(u8, rest, '.') orelse return null;
    return claimFromPayload(rest[0..second_dot], claim, scratch);
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn bearerToken(authorization: []const u8) ?[]const u8 {
    const scheme = "bearer ";
    if (authorization.len <= scheme.len) return null;
    if (!std.ascii.eqlIgnoreCase(authorization[0..scheme.len], scheme)) return null;
    const token = std.mem.trim(u8, authorization[scheme.len..], " \t");
    return if (token.len == 0) null else token;
}

/// base64url with or without padding (JWTs omit it; some forwarders add it).
fn decodeBase64Url(encoded: []const u8, out: []u8) ?[]const u8 {
    const unpadded = std.mem.trimRight(u8, encoded, "=");
    const decoder = std.base64.url_safe_no_pad.Decoder;
    const size = decoder.calcSizeForSlice(unpadded) catch return null;
    if (size > out.len) return null;
    decoder.decode(out[0..size], unpadded) catch return null;
    return out[0..size];
}

fn findClaim(payload: []const u8, claim: *const Claim, scratch: *Scratch) ?[]const u8 {
    const found = json_member.topLevelMember(payload, claim.text(), &scratch.value) orelse return null;
    // An empty claim does not identify anyone.
    if (found.len == 0) return null;
    assert(found.len <= limits.claim_bytes_max);
    return found;
}

const testing = std.testing;

fn encodeForTest(comptime json: []const u8) [std.base64.url_safe_no_pad.Encoder.calcSize(json.len)]u8 {
    var out: [std.base64.url_safe_no_pad.Encoder.calcSize(json.len)]u8 = undefined;
    _ = std.base64.url_safe_no_pad.Encoder.encode(&out, json);
    return out;
}

var test_scratch: Scratch = .{};

test "the sub of a forwarded payload and of a bearer token" {
    const claim = Claim.init("sub");
    const payload = encodeForTest("{\"iss\":\"https://idp\",\"sub\":\"alice@example.com\",\"nested\":{\"sub\":\"x\"}}");
    try testing.expectEqualStrings("alice@example.com", claimFromPayload(&payload, &claim, &test_scratch).?);
    const token = "eyJhbGciOiJSUzI1NiJ9." ++ payload ++ ".c2ln";
    try testing.expectEqualStrings("alice@example.com", claimFromToken(token, &claim, &test_scratch).?);
    try testing.expectEqualStrings(token, bearerToken("Bearer " ++ token).?);
    try testing.expectEqualStrings(token, bearerToken("bearer  " ++ token).?);
    try testing.expect(bearerToken("Basic abc") == null);
}

test "only a top-level claim counts; numbers are read as written" {
    const nested = encodeForTest("{\"user\":{\"sub\":\"bob\"}}");
    try testing.expect(claimFromPayload(&nested, &Claim.init("sub"), &test_scratch) == null);
    const numeric = encodeForTest("{\"sub\":12345,\"odd-claim\":\"v\"}");
    try testing.expectEqualStrings("12345", claimFromPayload(&numeric, &Claim.init("sub"), &test_scratch).?);
    try testing.expectEqualStrings("v", claimFromPayload(&numeric, &Claim.init("odd-claim"), &test_scratch).?);
}

test "malformed, truncated and oversized payloads identify nobody" {
    const claim = Claim.init("sub");
    try testing.expect(claimFromPayload("!!!not-base64", &claim, &test_scratch) == null);
    const truncated = encodeForTest("{\"sub\":\"alice\"");
    try testing.expect(claimFromPayload(&truncated, &claim, &test_scratch) == null);
    try testing.expect(claimFromToken("no-dots-here", &claim, &test_scratch) == null);
    const long_sub = encodeForTest("{\"sub\":\"" ++ "a" ** (limits.claim_bytes_max + 1) ++ "\"}");
    try testing.expect(claimFromPayload(&long_sub, &claim, &test_scratch) == null);
    const padded = encodeForTest("{\"sub\":\"al\"}") ++ "==".*;
    try testing.expectEqualStrings("al", claimFromPayload(&padded, &claim, &test_scratch).?);
}

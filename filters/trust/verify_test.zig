//! Native tests of config verification: real Ed25519 signatures over real bundles, one
//! test per way a configuration can be wrong.

const std = @import("std");
const testing = std.testing;
const limits = @import("limits.zig");
const key_set = @import("key_set.zig");
const verify_module = @import("verify.zig");
const config_payload = @import("config_payload.zig");
const statement = @import("statement.zig");

const Ed25519 = std.crypto.sign.Ed25519;
const KeySet = key_set.KeySet;
const base64 = std.base64.standard.Encoder;

const build_id = [_]u8{0xab} ** 32;
const now: u64 = 1_800_000_000;

const Fixture = struct {
    pairs: [4]Ed25519.KeyPair,
    set: KeySet,

    fn init() !Fixture {
        var fixture: Fixture = undefined;
        for (&fixture.pairs, 0..) |*pair, index| {
            pair.* = try Ed25519.KeyPair.generateDeterministic([_]u8{@intCast(index + 1)} ** 32);
        }
        // Version 1 trusts keys 0, 1 and 2, two of which must sign.
        fixture.set = .{ .version = 1, .threshold = 2 };
        for (fixture.pairs[0..3]) |pair| {
            const public_key = pair.public_key.toBytes();
            fixture.set.key_ids[fixture.set.keys_len] = key_set.keyIdOf(public_key);
            fixture.set.public_keys[fixture.set.keys_len] = public_key;
            fixture.set.keys_len += 1;
        }
        return fixture;
    }

    fn keyIdHex(fixture: *const Fixture, index: usize) [32]u8 {
        return std.fmt.bytesToHex(key_set.keyIdOf(fixture.pairs[index].public_key.toBytes()), .lower);
    }

    /// A DSSE envelope as JSON, signed by the keys at `signers`.
    fn envelope(fixture: *const Fixture, out: *std.ArrayList(u8), payload_type: []const u8, payload: []const u8, signers: []const usize) !void {
        var message = std.ArrayList(u8).init(testing.allocator);
        defer message.deinit();
        try message.writer().print("DSSEv1 {d} {s} {d} ", .{ payload_type.len, payload_type, payload.len });
        try message.appendSlice(payload);
        const encoded_payload = try testing.allocator.alloc(u8, base64.calcSize(payload.len));
        defer testing.allocator.free(encoded_payload);
        _ = base64.encode(encoded_payload, payload);
        try out.writer().print("{{\"payloadType\":\"{s}\",\"payload\":\"{s}\",\"signatures\":[", .{ payload_type, encoded_payload });
        for (signers, 0..) |signer, position| {
            const signature = try fixture.pairs[signer].sign(message.items, null);
            var encoded_signature: [88]u8 = undefined;
            _ = base64.encode(&encoded_signature, &signature.toBytes());
            const separator = if (position == 0) "" else ",";
            try out.writer().print("{s}{{\"keyid\":\"{s}\",\"sig\":\"{s}\"}}", .{ separator, fixture.keyIdHex(signer), encoded_signature });
        }
        try out.appendSlice("]}");
    }
};

const PayloadOptions = struct {
    version: u64 = 5,
    issued_at: u64 = now - 10,
    expires: u64 = now + 3600,
    module: []const u8 = "meshveil-dlp",
    plugin: []const u8 = "dlp-inbound",
    node: []const u8 = "sidecar~10.0.0.1~checkout-1.shop~shop.svc.cluster.local",
    config: []const u8 = "detectors: v5",
    key_ids: []const usize = &.{ 0, 1 },
};

fn configPayload(fixture: *const Fixture, out: *std.ArrayList(u8), options: PayloadOptions) !void {
    var config_base64: [256]u8 = undefined;
    const config = base64.encode(&config_base64, options.config);
    const build_id_hex = std.fmt.bytesToHex(build_id, .lower);
    try out.writer().print(
        "{{\"config\":\"{s}\",\"expires\":{d},\"issued_at\":{d},\"key_ids\":[",
        .{ config, options.expires, options.issued_at },
    );
    for (options.key_ids, 0..) |index, position| {
        try out.writer().print("{s}\"{s}\"", .{ if (position == 0) "" else ",", fixture.keyIdHex(index) });
    }
    try out.writer().print(
        "],\"module\":{{\"build_id\":\"{s}\",\"name\":\"{s}\",\"sha256\":\"00\"}},\"plugin\":\"{s}\"," ++
            "\"targets\":{{\"nodes\":[\"{s}\"],\"workloads\":[{{\"name\":\"*\",\"namespace\":\"payments\"}}]}},\"version\":{d}}}",
        .{ build_id_hex, options.module, options.plugin, options.node, options.version },
    );
}

const Case = struct {
    payload: PayloadOptions = .{},
    signers: []const usize = &.{ 0, 1 },
    statements: []const []const u8 = &.{},
    tamper: bool = false,
    last_version: ?u64 = null,
};

/// Builds the bundle `case` describes and verifies it against the fixture's version 1.
fn run(fixture: *const Fixture, case: Case) !verify_module.Verdict {
    var payload = std.ArrayList(u8).init(testing.allocator);
    defer payload.deinit();
    try configPayload(fixture, &payload, case.payload);
    var bundle = std.ArrayList(u8).init(testing.allocator);
    defer bundle.deinit();
    try bundle.appendSlice("{\"schema\":\"meshveil.bundle/v1\",\"trust\":[");
    for (case.statements, 0..) |envelope, position| {
        if (position > 0) try bundle.append(',');
        try bundle.appendSlice(envelope);
    }
    try bundle.appendSlice("],\"config\":");
    try fixture.envelope(&bundle, config_payload.payload_type, payload.items, case.signers);
    try bundle.append('}');
    if (case.tamper) {
        // Re-encode a payload with one byte changed, keeping the signatures.
        const start = std.mem.indexOf(u8, bundle.items, "\"payload\":\"").? + 11;
        bundle.items[start + 8] = if (bundle.items[start + 8] == 'A') 'B' else 'A';
    }
    return verifyWith(fixture, bundle.items, case.last_version);
}

var work_json: [limits.json_scratch_bytes]u8 = undefined;
var work_payload: [limits.payload_bytes_max]u8 = undefined;
var work_config: [limits.config_bytes_max]u8 = undefined;

fn verifyWith(fixture: *const Fixture, raw: []const u8, last_version: ?u64) verify_module.Verdict {
    const facts = verify_module.Facts{
        .module_name = "meshveil-dlp",
        .build_id = build_id,
        .now_seconds = now,
        .node_id = "sidecar~10.0.0.1~checkout-1.shop~shop.svc.cluster.local",
        .namespace = "shop",
        .workload = "checkout",
        .plugin_name = "dlp-inbound",
    };
    const work = verify_module.Work{ .json = &work_json, .payload = &work_payload, .config = &work_config };
    return verify_module.verify(raw, facts, &fixture.set, last_version, work);
}

/// A trust statement moving version `version - 1` to `version` with `keys` and `threshold`.
fn trustStatement(fixture: *const Fixture, out: *std.ArrayList(u8), version: u64, keys: []const usize, threshold: u8, revoked: []const usize, signers: []const usize) !void {
    var payload = std.ArrayList(u8).init(testing.allocator);
    defer payload.deinit();
    try payload.writer().print("{{\"issued_at\":{d},\"keys\":[", .{now - 100});
    for (keys, 0..) |index, position| {
        var public_key_base64: [44]u8 = undefined;
        _ = base64.encode(&public_key_base64, &fixture.pairs[index].public_key.toBytes());
        try payload.writer().print("{s}{{\"id\":\"{s}\",\"name\":\"key-{d}\",\"public_key\":\"{s}\"}}", .{
            if (position == 0) "" else ",", fixture.keyIdHex(index), index, public_key_base64,
        });
    }
    try payload.appendSlice("],\"revoked\":[");
    for (revoked, 0..) |index, position| {
        try payload.writer().print("{s}\"{s}\"", .{ if (position == 0) "" else ",", fixture.keyIdHex(index) });
    }
    try payload.writer().print("],\"threshold\":{d},\"version\":{d}}}", .{ threshold, version });
    try fixture.envelope(out, statement.payload_type, payload.items, signers);
}

fn expectRefused(verdict: verify_module.Verdict, reason: @import("reason.zig").Reason) !void {
    switch (verdict) {
        .accepted => return error.TestUnexpectedAcceptance,
        .refused => |refusal| try testing.expectEqual(reason, refusal.reason),
    }
}

test "a config signed by the threshold of trusted keys is accepted with its inner config" {
    const fixture = try Fixture.init();
    const verdict = try run(&fixture, .{});
    try testing.expectEqual(@as(u64, 5), verdict.accepted.version);
    try testing.expectEqualStrings("detectors: v5", verdict.accepted.config);
    try testing.expectEqual(@as(u8, 2), verdict.accepted.signers);
}

test "arbitrary, unsigned and oversized configs are refused" {
    const fixture = try Fixture.init();
    try expectRefused(verifyWith(&fixture, "detectors: attacker", null), .not_signed);
    try expectRefused(try run(&fixture, .{ .signers = &.{} }), .not_signed);
    try expectRefused(try run(&fixture, .{ .signers = &.{3}, .payload = .{ .key_ids = &.{3} } }), .unknown_key);
    const huge = try testing.allocator.alloc(u8, limits.bundle_bytes_max + 1);
    defer testing.allocator.free(huge);
    @memset(huge, ' ');
    try expectRefused(verifyWith(&fixture, huge, null), .too_large);
}

test "a tampered payload and a signature below the threshold are refused" {
    const fixture = try Fixture.init();
    try expectRefused(try run(&fixture, .{ .tamper = true }), .bad_signature);
    const below = try run(&fixture, .{ .signers = &.{0}, .payload = .{ .key_ids = &.{0} } });
    try expectRefused(below, .below_threshold);
    try testing.expectEqual(@as(u8, 1), below.refused.valid_signatures);
    // A second signature by the same key counts once.
    try expectRefused(try run(&fixture, .{ .signers = &.{ 0, 0 }, .payload = .{ .key_ids = &.{0} } }), .below_threshold);
}

test "payloads for another module, plugin or target are refused" {
    const fixture = try Fixture.init();
    try expectRefused(try run(&fixture, .{ .payload = .{ .module = "meshveil-mask" } }), .wrong_module);
    try expectRefused(try run(&fixture, .{ .payload = .{ .plugin = "mask-outbound" } }), .wrong_plugin);
    try expectRefused(try run(&fixture, .{ .payload = .{ .node = "sidecar~10.0.0.2~other" } }), .wrong_target);
    try expectRefused(try run(&fixture, .{ .payload = .{ .key_ids = &.{0} } }), .unlisted_signer);
}

test "expired, future and rolled-back configs are refused" {
    const fixture = try Fixture.init();
    try expectRefused(try run(&fixture, .{ .payload = .{ .expires = now } }), .expired);
    try expectRefused(try run(&fixture, .{ .payload = .{ .issued_at = now + limits.clock_skew_seconds + 1, .expires = now + 7200 } }), .not_yet_valid);
    _ = (try run(&fixture, .{ .payload = .{ .issued_at = now + limits.clock_skew_seconds } })).accepted;
    try expectRefused(try run(&fixture, .{ .last_version = 5 }), .rollback);
    try expectRefused(try run(&fixture, .{ .last_version = 9 }), .rollback);
    try testing.expectEqual(@as(u64, 5), (try run(&fixture, .{ .last_version = 4 })).accepted.version);
}

test "a rotation signed by the current threshold moves trust to new keys" {
    const fixture = try Fixture.init();
    var rotation = std.ArrayList(u8).init(testing.allocator);
    defer rotation.deinit();
    try trustStatement(&fixture, &rotation, 2, &.{ 2, 3 }, 1, &.{}, &.{ 0, 1 });
    const verdict = try run(&fixture, .{ .statements = &.{rotation.items}, .signers = &.{3}, .payload = .{ .key_ids = &.{3} } });
    try testing.expectEqual(@as(u64, 2), verdict.accepted.trust.version);
    try testing.expectEqual(@as(u8, 2), verdict.accepted.trust.keys_len);
    // Key 0 is no longer trusted after the rotation.
    try expectRefused(try run(&fixture, .{ .statements = &.{rotation.items}, .signers = &.{0}, .payload = .{ .key_ids = &.{0} } }), .unknown_key);
}

test "a rotation signed below the threshold, or out of order, is refused" {
    const fixture = try Fixture.init();
    var weak = std.ArrayList(u8).init(testing.allocator);
    defer weak.deinit();
    try trustStatement(&fixture, &weak, 2, &.{3}, 1, &.{}, &.{0});
    try expectRefused(try run(&fixture, .{ .statements = &.{weak.items}, .signers = &.{3}, .payload = .{ .key_ids = &.{3} } }), .bad_trust_statement);
    var gap = std.ArrayList(u8).init(testing.allocator);
    defer gap.deinit();
    try trustStatement(&fixture, &gap, 3, &.{3}, 1, &.{}, &.{ 0, 1 });
    try expectRefused(try run(&fixture, .{ .statements = &.{gap.items}, .signers = &.{3}, .payload = .{ .key_ids = &.{3} } }), .bad_trust_statement);
    // A statement at or below the current version is skipped, not refused.
    var old = std.ArrayList(u8).init(testing.allocator);
    defer old.deinit();
    try trustStatement(&fixture, &old, 1, &.{3}, 1, &.{}, &.{3});
    _ = (try run(&fixture, .{ .statements = &.{old.items} })).accepted;
}

test "a config signed with a revoked key is refused" {
    const fixture = try Fixture.init();
    var revocation = std.ArrayList(u8).init(testing.allocator);
    defer revocation.deinit();
    try trustStatement(&fixture, &revocation, 2, &.{ 1, 2 }, 1, &.{0}, &.{ 1, 2 });
    try expectRefused(try run(&fixture, .{ .statements = &.{revocation.items}, .signers = &.{0}, .payload = .{ .key_ids = &.{0} } }), .revoked_key);
    // The remaining keys still work.
    _ = (try run(&fixture, .{ .statements = &.{revocation.items}, .signers = &.{1}, .payload = .{ .key_ids = &.{1} } })).accepted;
    // And a later statement cannot trust the revoked key again.
    var relapse = std.ArrayList(u8).init(testing.allocator);
    defer relapse.deinit();
    try trustStatement(&fixture, &relapse, 3, &.{ 0, 1 }, 1, &.{}, &.{1});
    try expectRefused(try run(&fixture, .{ .statements = &.{ revocation.items, relapse.items }, .signers = &.{1}, .payload = .{ .key_ids = &.{1} } }), .bad_trust_statement);
}

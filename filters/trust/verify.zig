//! The decision about one plugin configuration: apply the trust statements it carries,
//! verify the config envelope against the resulting keys, then check what the signed
//! payload says against the module, the host and the running version. Pure: the caller
//! supplies the facts, the current state and the buffers, and commits nothing on refusal.
//! The checks and reason codes mirror controlplane/trust/config_verification.py.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const dsse = @import("dsse.zig");
const key_set = @import("key_set.zig");
const statement = @import("statement.zig");
const config_payload = @import("config_payload.zig");
const reason_module = @import("reason.zig");

const KeySet = key_set.KeySet;
const Refusal = reason_module.Refusal;
pub const Facts = config_payload.Facts;

pub const bundle_schema = "meshveil.bundle/v1";

/// The JSON shape of the plugin configuration.
const Bundle = struct {
    schema: []const u8,
    trust: []const dsse.Envelope,
    config: dsse.Envelope,
};

/// Buffers the caller provides, so verification allocates nothing of its own.
pub const Work = struct {
    /// Scratch for JSON structure (`limits.json_scratch_bytes`).
    json: []u8,
    /// Decoded payloads (`limits.payload_bytes_max`).
    payload: []u8,
    /// Receives the filter config on acceptance (`limits.config_bytes_max`).
    config: []u8,
};

pub const Accepted = struct {
    trust: KeySet,
    version: u64,
    expires: u64,
    signers: u8,
    config: []const u8,
};

pub const Verdict = union(enum) {
    accepted: Accepted,
    refused: Refusal,
};

pub fn verify(raw: []const u8, facts: Facts, current: *const KeySet, last_version: ?u64, work: Work) Verdict {
    assert(work.json.len >= limits.json_scratch_bytes / 2);
    assert(work.payload.len >= limits.payload_bytes_max);
    assert(work.config.len >= limits.config_bytes_max);
    if (raw.len > limits.bundle_bytes_max) return refuse(.too_large);
    // The bundle's structure lives in the first half of the scratch, payloads' in the second.
    const half = work.json.len / 2;
    const bundle = parseBundle(raw, work.json[0..half]) orelse return refuse(.not_signed);
    const trust = applyChain(current, bundle.trust, work.payload[0..limits.statement_bytes_max], work.json[half..]) catch
        return refuse(.bad_trust_statement);
    const envelope = bundle.config;
    if (!std.mem.eql(u8, envelope.payloadType, config_payload.payload_type)) return refuse(.wrong_payload_type);
    const payload = dsse.decode(work.payload, envelope.payload) orelse return refuse(.not_signed);
    const signatures = trust.check(envelope, payload);
    if (!signatures.ok()) return .{ .refused = signatureRefusal(signatures) };
    const parsed = config_payload.parse(payload, work.json[half..]) catch return refuse(.malformed);
    const refusal = checkPayload(parsed, &trust, signatures, facts, last_version);
    if (refusal) |found| return .{ .refused = found };
    const config = dsse.decode(work.config, parsed.config) orelse return refuse(.malformed);
    return .{ .accepted = .{
        .trust = trust,
        .version = parsed.version,
        .expires = parsed.expires,
        .signers = signatures.valid,
        .config = config,
    } };
}

fn refuse(reason: reason_module.Reason) Verdict {
    return .{ .refused = .{ .reason = reason } };
}

fn parseBundle(raw: []const u8, scratch: []u8) ?Bundle {
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    const bundle = std.json.parseFromSliceLeaky(Bundle, fba.allocator(), raw, .{}) catch return null;
    if (!std.mem.eql(u8, bundle.schema, bundle_schema)) return null;
    // Bounds and base64 are checked for every envelope before any is used.
    for (bundle.trust) |envelope| if (!dsse.wellFormed(envelope)) return null;
    if (!dsse.wellFormed(bundle.config)) return null;
    return bundle;
}

fn applyChain(current: *const KeySet, envelopes: []const dsse.Envelope, buffer: []u8, scratch: []u8) statement.Error!KeySet {
    if (envelopes.len > limits.statements_max) return error.Malformed;
    var trust = current.*;
    for (envelopes) |envelope| {
        const payload = dsse.decode(buffer, envelope.payload) orelse return error.Malformed;
        // A statement this module already knows is skipped unverified: skipping grants nothing.
        const claimed = try statement.claimedVersion(payload, scratch);
        if (claimed <= @as(i64, @intCast(trust.version))) continue;
        trust = try statement.apply(&trust, envelope, payload, scratch);
    }
    return trust;
}

fn signatureRefusal(signatures: key_set.Verdict) Refusal {
    const reason: reason_module.Reason = if (signatures.revoked_seen)
        .revoked_key
    else if (signatures.failed_seen)
        .bad_signature
    else if (signatures.unknown_seen and signatures.valid == 0)
        .unknown_key
    else if (signatures.valid == 0 and signatures.threshold > 0)
        .not_signed
    else
        .below_threshold;
    return .{ .reason = reason, .valid_signatures = signatures.valid, .threshold = signatures.threshold };
}

fn checkPayload(parsed: config_payload.Payload, trust: *const KeySet, signatures: key_set.Verdict, facts: Facts, last_version: ?u64) ?Refusal {
    const version = parsed.version;
    var signers = signatures.signers.iterator(.{});
    while (signers.next()) |index| {
        const hex = std.fmt.bytesToHex(trust.key_ids[index], .lower);
        if (!config_payload.listsSigner(parsed, &hex)) return .{ .reason = .unlisted_signer, .version = version };
    }
    if (!config_payload.isForModule(parsed, facts)) return .{ .reason = .wrong_module, .version = version };
    if (!config_payload.isForPlugin(parsed, facts)) return .{ .reason = .wrong_plugin, .version = version };
    if (!config_payload.targetsThis(parsed, facts)) return .{ .reason = .wrong_target, .version = version };
    if (config_payload.notYetValid(parsed, facts.now_seconds)) return .{ .reason = .not_yet_valid, .version = version };
    if (config_payload.expired(parsed, facts.now_seconds)) return .{ .reason = .expired, .version = version };
    if (last_version) |running| {
        if (version <= running) return .{ .reason = .rollback, .version = version };
    }
    return null;
}

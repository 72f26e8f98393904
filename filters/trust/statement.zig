//! Trust statements: rotation and revocation. A statement is a DSSE envelope whose
//! payload is the next trust state (version + 1), signed by the threshold of the current
//! one. Applied in order they walk a module from its compiled trust state to today's
//! keys without a rebuild; revoked ids only accumulate.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const dsse = @import("dsse.zig");
const key_set = @import("key_set.zig");

const KeySet = key_set.KeySet;

pub const payload_type = "application/vnd.meshveil.trust.v1+json";

const KeyEntry = struct {
    id: []const u8,
    name: []const u8,
    public_key: []const u8,
};

/// The JSON shape of a statement's payload.
pub const Payload = struct {
    version: u64,
    threshold: u64,
    keys: []const KeyEntry,
    revoked: []const []const u8,
    issued_at: ?u64 = null,
};

pub const Error = error{ Malformed, Unsigned, Gap, Unrevoked };

/// The version a statement claims, read before it is verified to skip known ones. Only
/// the version is looked at, as in the control plane, so both skip the same statements.
pub fn claimedVersion(payload: []const u8, scratch: []u8) error{Malformed}!i64 {
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    const VersionOnly = struct { version: i64 };
    const parsed = std.json.parseFromSliceLeaky(VersionOnly, fba.allocator(), payload, .{
        .ignore_unknown_fields = true,
    }) catch return error.Malformed;
    return parsed.version;
}

/// Parses a decoded statement payload; its strings borrow from `payload`.
pub fn parse(payload: []const u8, scratch: []u8) error{Malformed}!Payload {
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    return std.json.parseFromSliceLeaky(Payload, fba.allocator(), payload, .{}) catch error.Malformed;
}

/// The state `statement` moves `current` to, after checking signatures and continuity.
pub fn apply(current: *const KeySet, envelope: dsse.Envelope, payload: []const u8, scratch: []u8) Error!KeySet {
    if (!std.mem.eql(u8, envelope.payloadType, payload_type)) return error.Malformed;
    if (!current.check(envelope, payload).ok()) return error.Unsigned;
    const statement = try parse(payload, scratch);
    if (statement.version != current.version + 1) return error.Gap;
    const next = try toKeySet(statement);
    // Every id revoked before stays revoked.
    for (current.revoked[0..current.revoked_len]) |revoked| {
        if (!next.isRevokedId(revoked)) return error.Unrevoked;
    }
    return next;
}

fn toKeySet(statement: Payload) error{Malformed}!KeySet {
    const keys_count = statement.keys.len;
    if (keys_count < 1 or keys_count > limits.keys_max) return error.Malformed;
    if (statement.threshold < 1 or statement.threshold > keys_count) return error.Malformed;
    if (statement.revoked.len > limits.revoked_max) return error.Malformed;
    var next = KeySet{ .version = statement.version, .threshold = @intCast(statement.threshold) };
    for (statement.revoked) |text| {
        const revoked = key_set.parseKeyId(text) orelse return error.Malformed;
        if (next.isRevokedId(revoked)) return error.Malformed;
        next.revoked[next.revoked_len] = revoked;
        next.revoked_len += 1;
    }
    for (statement.keys) |entry| {
        if (!validKeyName(entry.name)) return error.Malformed;
        var public_key: key_set.PublicKeyBytes = undefined;
        const decoded = dsse.decode(&public_key, entry.public_key) orelse return error.Malformed;
        if (decoded.len != public_key.len) return error.Malformed;
        const key_id = key_set.keyIdOf(public_key);
        if (!key_set.hexEquals(key_id, entry.id)) return error.Malformed;
        if (next.isRevokedId(key_id)) return error.Malformed;
        for (next.key_ids[0..next.keys_len]) |known| {
            if (std.mem.eql(u8, &known, &key_id)) return error.Malformed;
        }
        next.key_ids[next.keys_len] = key_id;
        next.public_keys[next.keys_len] = public_key;
        next.keys_len += 1;
    }
    assert(next.keys_len == keys_count);
    return next;
}

/// Key names as the control plane allows them: 1-64 of [A-Za-z0-9._-], alphanumeric first.
fn validKeyName(name: []const u8) bool {
    if (name.len < 1 or name.len > 64) return false;
    if (!std.ascii.isAlphanumeric(name[0])) return false;
    for (name) |c| {
        if (!std.ascii.isAlphanumeric(c) and c != '.' and c != '_' and c != '-') return false;
    }
    return true;
}

test "key names follow the control plane's rule" {
    try std.testing.expect(validKeyName("release-1"));
    try std.testing.expect(!validKeyName("-release"));
    try std.testing.expect(!validKeyName(""));
    try std.testing.expect(!validKeyName("a b"));
}

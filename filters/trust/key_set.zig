//! A trust state: the keys trusted at one version, how many must sign, which are revoked.
//! Fixed-size, copied by value, so a candidate state can be built and thrown away.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const dsse = @import("dsse.zig");

const Ed25519 = std.crypto.sign.Ed25519;
const Sha256 = std.crypto.hash.sha2.Sha256;

pub const KeyId = [16]u8;
pub const PublicKeyBytes = [32]u8;

pub const KeySet = struct {
    version: u64,
    threshold: u8,
    keys_len: u8 = 0,
    key_ids: [limits.keys_max]KeyId = undefined,
    public_keys: [limits.keys_max]PublicKeyBytes = undefined,
    revoked_len: u8 = 0,
    revoked: [limits.revoked_max]KeyId = undefined,

    /// The set compiled into the module (see controlplane/trust/anchors.py).
    pub fn fromAnchors(comptime anchors: type) KeySet {
        comptime {
            assert(anchors.key_ids.len == anchors.public_keys.len);
            assert(anchors.key_ids.len <= limits.keys_max);
            assert(anchors.revoked.len <= limits.revoked_max);
            assert(!anchors.verifies_configs or (anchors.threshold >= 1 and anchors.threshold <= anchors.key_ids.len));
        }
        var set = KeySet{ .version = anchors.trust_version, .threshold = anchors.threshold };
        for (anchors.key_ids, anchors.public_keys) |key_id, public_key| {
            set.key_ids[set.keys_len] = key_id;
            set.public_keys[set.keys_len] = public_key;
            set.keys_len += 1;
        }
        for (anchors.revoked) |key_id| {
            set.revoked[set.revoked_len] = key_id;
            set.revoked_len += 1;
        }
        return set;
    }

    pub fn indexOf(set: *const KeySet, key_id_hex: []const u8) ?usize {
        for (set.key_ids[0..set.keys_len], 0..) |key_id, index| {
            if (hexEquals(key_id, key_id_hex)) return index;
        }
        return null;
    }

    pub fn isRevoked(set: *const KeySet, key_id_hex: []const u8) bool {
        for (set.revoked[0..set.revoked_len]) |key_id| {
            if (hexEquals(key_id, key_id_hex)) return true;
        }
        return false;
    }

    pub fn isRevokedId(set: *const KeySet, key_id: KeyId) bool {
        for (set.revoked[0..set.revoked_len]) |revoked| {
            if (std.mem.eql(u8, &revoked, &key_id)) return true;
        }
        return false;
    }

    /// Signature counts of an envelope against this set; `Verdict.ok` says whether the
    /// distinct valid signers reach the threshold.
    pub fn check(set: *const KeySet, envelope: dsse.Envelope, payload: []const u8) Verdict {
        assert(set.keys_len <= limits.keys_max);
        var verdict = Verdict{ .threshold = set.threshold };
        var signed = std.StaticBitSet(limits.keys_max).initEmpty();
        for (envelope.signatures) |signature| {
            if (set.isRevoked(signature.keyid)) {
                verdict.revoked_seen = true;
                continue;
            }
            const index = set.indexOf(signature.keyid) orelse {
                verdict.unknown_seen = true;
                continue;
            };
            if (dsse.verifySignature(envelope.payloadType, payload, signature.sig, set.public_keys[index])) {
                signed.set(index);
            } else {
                verdict.failed_seen = true;
            }
        }
        verdict.valid = @intCast(signed.count());
        verdict.signers = signed;
        return verdict;
    }
};

pub const Verdict = struct {
    threshold: u8,
    valid: u8 = 0,
    signers: std.StaticBitSet(limits.keys_max) = std.StaticBitSet(limits.keys_max).initEmpty(),
    revoked_seen: bool = false,
    failed_seen: bool = false,
    unknown_seen: bool = false,

    pub fn ok(verdict: Verdict) bool {
        return verdict.threshold >= 1 and verdict.valid >= verdict.threshold;
    }
};

/// The id of a public key: the first 16 bytes of its SHA-256.
pub fn keyIdOf(public_key: PublicKeyBytes) KeyId {
    var digest: [Sha256.digest_length]u8 = undefined;
    Sha256.hash(&public_key, &digest, .{});
    return digest[0..16].*;
}

/// Ids travel as lowercase hex; anything else names no key.
pub fn hexEquals(key_id: KeyId, text: []const u8) bool {
    const hex = std.fmt.bytesToHex(key_id, .lower);
    return std.mem.eql(u8, &hex, text);
}

pub fn parseKeyId(text: []const u8) ?KeyId {
    if (text.len != 32) return null;
    var key_id: KeyId = undefined;
    _ = std.fmt.hexToBytes(&key_id, text) catch return null;
    // Only the canonical (lowercase) spelling names a key, as in the control plane.
    if (!hexEquals(key_id, text)) return null;
    return key_id;
}

test "a key id is the first half of the public key's SHA-256" {
    const seed = [_]u8{7} ** 32;
    const pair = try Ed25519.KeyPair.generateDeterministic(seed);
    const key_id = keyIdOf(pair.public_key.toBytes());
    const hex = std.fmt.bytesToHex(key_id, .lower);
    try std.testing.expectEqual(@as(?KeyId, key_id), parseKeyId(&hex));
    var upper = hex;
    for (&upper) |*c| c.* = std.ascii.toUpper(c.*);
    if (!std.mem.eql(u8, &upper, &hex)) try std.testing.expectEqual(@as(?KeyId, null), parseKeyId(&upper));
    try std.testing.expectEqual(@as(?KeyId, null), parseKeyId(hex[0..30]));
}

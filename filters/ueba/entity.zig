//! Who a request is from: the first entity source of the policy that yields a value, and
//! (separately) the peer group it belongs to. Raw identity values never leave this file
//! except as a keyed hash (HMAC-SHA-256 under the policy's `identity_key`, domain-separated
//! per use and per source kind), or, when the policy reveals that kind, as a bounded copy
//! for telemetry.
//!
//! `facts` is anything with `header(name) ?[]const u8` (request headers) and
//! `property(path) ?[]const u8` (proxy-Wasm properties), so the logic tests natively.

const std = @import("std");
const assert = std.debug.assert;
const HmacSha256 = std.crypto.auth.hmac.sha2.HmacSha256;
const config = @import("config.zig");
const jwt = @import("jwt.zig");
const limits = @import("limits.zig");

const SourceKind = config.SourceKind;
const Source = config.Source;

/// A keyed hash of an identity: what state keys and telemetry carry instead of the value.
pub const Id = [16]u8;

pub const Identity = struct {
    kind: SourceKind,
    id: Id,
    /// The raw value, only when the policy reveals this kind (else empty).
    revealed: [limits.revealed_bytes_max]u8 = undefined,
    revealed_len: u8 = 0,

    pub fn revealedValue(self: *const Identity) []const u8 {
        return self.revealed[0..self.revealed_len];
    }

    pub fn hex(self: *const Identity) [2 * @sizeOf(Id)]u8 {
        return std.fmt.bytesToHex(self.id, .lower);
    }
};

/// What an identity's hash is for; part of the MAC input so an entity id never equals a
/// group id computed from the same value.
pub const Role = enum(u8) { entity = 'e', group = 'g' };

/// Per-source parsed claim paths, built once per configuration.
pub const Claims = struct {
    entity: [limits.sources_max]jwt.Claim = undefined,
    group: [limits.sources_max]jwt.Claim = undefined,

    pub fn init(settings: *const config.Settings) Claims {
        var claims = Claims{};
        for (settings.entitySources(), 0..) |source, index| {
            if (source.kind.isJwt()) claims.entity[index] = jwt.Claim.init(source.claim.slice());
        }
        for (settings.groupSources(), 0..) |source, index| {
            if (source.kind.isJwt()) claims.group[index] = jwt.Claim.init(source.claim.slice());
        }
        return claims;
    }
};

/// The first source in `sources` that yields a value, hashed for `role`.
pub fn identify(
    settings: *const config.Settings,
    role: Role,
    sources: []const Source,
    claims: []const jwt.Claim,
    facts: anytype,
    scratch: *jwt.Scratch,
) ?Identity {
    assert(sources.len <= limits.sources_max);
    for (sources, 0..) |*source, index| {
        const value = sourceValue(source, &claims[index], facts, scratch) orelse continue;
        var identity = Identity{ .kind = source.kind, .id = hash(settings.identityKey(), role, source.kind, value) };
        if (settings.reveals(source.kind)) {
            const kept = @min(value.len, limits.revealed_bytes_max);
            @memcpy(identity.revealed[0..kept], value[0..kept]);
            identity.revealed_len = @intCast(kept);
        }
        return identity;
    }
    return null;
}

fn sourceValue(source: *const Source, claim: *const jwt.Claim, facts: anytype, scratch: *jwt.Scratch) ?[]const u8 {
    const value = switch (source.kind) {
        .jwt_payload_header => jwt.claimFromPayload(facts.header(source.header.slice()) orelse return null, claim, scratch),
        .bearer_jwt => jwt.claimFromToken(jwt.bearerToken(facts.header("authorization") orelse return null) orelse return null, claim, scratch),
        .peer_principal => facts.property(&.{ "source", "principal" }),
        .api_key_header, .header => facts.header(source.header.slice()),
        .source_ip => addressHost(facts.property(&.{ "source", "address" }) orelse return null),
    } orelse return null;
    const trimmed = std.mem.trim(u8, value, " \t");
    return if (trimmed.len == 0) null else trimmed;
}

/// `10.0.0.1:5000` -> `10.0.0.1`; `[fd00::1]:5000` -> `fd00::1`; a bare address as is.
pub fn addressHost(address: []const u8) ?[]const u8 {
    if (address.len == 0) return null;
    if (address[0] == '[') {
        const close = std.mem.indexOfScalar(u8, address, ']') orelse return null;
        return address[1..close];
    }
    const first_colon = std.mem.indexOfScalar(u8, address, ':') orelse return address;
    // More than one colon without brackets is a bare IPv6 address.
    if (std.mem.indexOfScalarPos(u8, address, first_colon + 1, ':') != null) return address;
    return address[0..first_colon];
}

pub fn hash(key: []const u8, role: Role, kind: SourceKind, value: []const u8) Id {
    var mac = HmacSha256.init(key);
    mac.update("meshveil-ueba-identity-v1");
    mac.update(&.{ @intFromEnum(role), @intFromEnum(kind) });
    mac.update(value);
    var digest: [HmacSha256.mac_length]u8 = undefined;
    mac.final(&digest);
    return digest[0..@sizeOf(Id)].*;
}

/// A keyed hash of an endpoint (method and path without the query) for the distinct-
/// endpoints sketch and for telemetry; 64 bits are plenty for a per-window sketch.
pub fn endpointHash(key: []const u8, method: []const u8, path: []const u8) u64 {
    const query = std.mem.indexOfAny(u8, path, "?#") orelse path.len;
    var mac = HmacSha256.init(key);
    mac.update("meshveil-ueba-endpoint-v1");
    mac.update(method);
    mac.update(&.{0});
    mac.update(path[0..query]);
    var digest: [HmacSha256.mac_length]u8 = undefined;
    mac.final(&digest);
    return std.mem.readInt(u64, digest[0..8], .little);
}

// -- Tests --------------------------------------------------------------------

const testing = std.testing;

const FakeFacts = struct {
    headers: []const [2][]const u8 = &.{},
    principal: ?[]const u8 = null,
    address: ?[]const u8 = null,

    pub fn header(self: *const FakeFacts, name: []const u8) ?[]const u8 {
        for (self.headers) |pair| if (std.mem.eql(u8, pair[0], name)) return pair[1];
        return null;
    }

    pub fn property(self: *const FakeFacts, path: []const []const u8) ?[]const u8 {
        if (std.mem.eql(u8, path[1], "principal")) return self.principal;
        if (std.mem.eql(u8, path[1], "address")) return self.address;
        return null;
    }
};

var test_scratch: jwt.Scratch = .{};
var test_config_scratch: [limits.config_scratch_bytes]u8 = undefined;

fn settingsForTest(json: []const u8) !config.Settings {
    var settings: config.Settings = undefined;
    var problem = config.Problem{};
    config.parse(json, &test_config_scratch, &settings, &problem) catch {
        std.debug.print("config refused: {s}\n", .{problem.text()});
        return error.TestUnexpectedResult;
    };
    return settings;
}

test "sources are tried in priority order and values are hashed, never kept" {
    const settings = try settingsForTest(
        \\{"identity_key": "000102030405060708090a0b0c0d0e0f",
        \\ "entity_sources": [{"source": "bearer_jwt"}, {"source": "api_key_header", "header": "x-api-key"},
        \\                    {"source": "source_ip"}]}
    );
    const claims = Claims.init(&settings);
    // No token, an API key: the key identifies.
    const with_key = FakeFacts{ .headers = &.{.{ "x-api-key", "k-123" }}, .address = "10.1.2.3:4444" };
    const by_key = identify(&settings, .entity, settings.entitySources(), &claims.entity, &with_key, &test_scratch).?;
    try testing.expectEqual(SourceKind.api_key_header, by_key.kind);
    try testing.expectEqual(@as(u8, 0), by_key.revealed_len);
    try testing.expectEqual(hash(settings.identityKey(), .entity, .api_key_header, "k-123"), by_key.id);
    // Only an address: the port does not split one client into many.
    const a = identify(&settings, .entity, settings.entitySources(), &claims.entity, &FakeFacts{ .address = "10.1.2.3:1" }, &test_scratch).?;
    const b = identify(&settings, .entity, settings.entitySources(), &claims.entity, &FakeFacts{ .address = "10.1.2.3:2" }, &test_scratch).?;
    try testing.expectEqual(SourceKind.source_ip, a.kind);
    try testing.expectEqual(a.id, b.id);
    // Nothing at all: no identity.
    try testing.expect(identify(&settings, .entity, settings.entitySources(), &claims.entity, &FakeFacts{}, &test_scratch) == null);
}

test "a bearer token's sub identifies; revealed kinds keep their value" {
    const settings = try settingsForTest(
        \\{"identity_key": "000102030405060708090a0b0c0d0e0f",
        \\ "entity_sources": [{"source": "bearer_jwt"}], "group_sources": [{"source": "peer_principal"}],
        \\ "reveal_identities": ["peer_principal"]}
    );
    const claims = Claims.init(&settings);
    const facts = FakeFacts{
        // {"sub":"alice"}
        .headers = &.{.{ "authorization", "Bearer e30.eyJzdWIiOiJhbGljZSJ9.sig" }},
        .principal = "spiffe://cluster.local/ns/shop/sa/web",
    };
    const entity = identify(&settings, .entity, settings.entitySources(), &claims.entity, &facts, &test_scratch).?;
    try testing.expectEqual(hash(settings.identityKey(), .entity, .bearer_jwt, "alice"), entity.id);
    try testing.expectEqual(@as(u8, 0), entity.revealed_len);
    const group = identify(&settings, .group, settings.groupSources(), &claims.group, &facts, &test_scratch).?;
    try testing.expectEqualStrings("spiffe://cluster.local/ns/shop/sa/web", group.revealedValue());
    try testing.expect(!std.mem.eql(u8, &group.id, &hash(settings.identityKey(), .entity, .peer_principal, group.revealedValue())));
}

test "addresses and endpoints" {
    try testing.expectEqualStrings("fd00::1", addressHost("[fd00::1]:8080").?);
    try testing.expectEqualStrings("fd00::1", addressHost("fd00::1").?);
    try testing.expectEqualStrings("10.0.0.1", addressHost("10.0.0.1").?);
    const key = "0123456789abcdef";
    try testing.expectEqual(endpointHash(key, "GET", "/users/1?x=2"), endpointHash(key, "GET", "/users/1"));
    try testing.expect(endpointHash(key, "GET", "/users/1") != endpointHash(key, "GET", "/users/2"));
    try testing.expect(endpointHash(key, "GET", "/users/1") != endpointHash(key, "POST", "/users/1"));
}

//! Route matching on request facts, as the policy writes them: path globs (a `**`
//! segment matches any number of segments, `*` inside a segment any run of bytes but
//! '/'), host globs (`*`, `*.example.com`, an optional `:port`), and media ranges
//! (`application/json`, `text/*`). No allocation, no recursion; every loop is bounded
//! by the lengths of its inputs.

const std = @import("std");
const assert = std.debug.assert;

/// The path part of a request target: before '?' and '#'.
pub fn pathOf(target: []const u8) []const u8 {
    const end = std.mem.indexOfAny(u8, target, "?#") orelse target.len;
    return target[0..end];
}

/// Segments of a path after its leading '/': "/a/b" is "a", "b"; "/" is one empty segment.
const Segments = struct {
    text: []const u8,

    fn first(self: Segments) ?usize {
        if (self.text.len == 0) return null;
        return @intFromBool(self.text[0] == '/');
    }

    /// The segment starting at `start`.
    fn at(self: Segments, start: usize) []const u8 {
        const end = std.mem.indexOfScalarPos(u8, self.text, start, '/') orelse self.text.len;
        return self.text[start..end];
    }

    /// Where the segment after the one at `start` begins, or null past the last.
    fn next(self: Segments, start: usize) ?usize {
        const end = std.mem.indexOfScalarPos(u8, self.text, start, '/') orelse return null;
        return end + 1;
    }
};

/// Whether `path` (no query) matches the glob `pattern`.
pub fn pathMatches(pattern: []const u8, path: []const u8) bool {
    const globs = Segments{ .text = pattern };
    const parts = Segments{ .text = path };
    var glob = globs.first();
    var part = parts.first();
    // The last `**` seen: where the pattern resumes after it, and the path segment it
    // swallows next when what follows it does not match.
    var star = false;
    var resume_glob: ?usize = null;
    var resume_part: usize = 0;
    // Every turn moves the pattern or the path on, or moves the backtrack point one
    // segment further: bounded by the product of their segment counts.
    var turns: usize = 0;
    const turns_max = (pattern.len + 2) * (path.len + 2);
    while (part) |part_start| {
        turns += 1;
        assert(turns <= turns_max);
        if (glob) |glob_start| {
            const segment = globs.at(glob_start);
            if (std.mem.eql(u8, segment, "**")) {
                glob = globs.next(glob_start);
                star = true;
                resume_glob = glob;
                resume_part = part_start;
                continue;
            }
            if (segmentMatches(segment, parts.at(part_start))) {
                glob = globs.next(glob_start);
                part = parts.next(part_start);
                continue;
            }
        }
        if (!star) return false;
        // The `**` takes one more segment; when it takes the last, the path is used up.
        glob = resume_glob;
        part = parts.next(resume_part);
        resume_part = part orelse break;
    }
    // The path is used up: what is left of the pattern must match nothing.
    while (glob) |glob_start| {
        if (!std.mem.eql(u8, globs.at(glob_start), "**")) return false;
        glob = globs.next(glob_start);
    }
    return true;
}

/// One segment against a glob segment where `*` matches any run of bytes.
fn segmentMatches(pattern: []const u8, text: []const u8) bool {
    var p: usize = 0;
    var t: usize = 0;
    var star: ?usize = null;
    var star_text: usize = 0;
    // Each turn advances `t`, or `p` while `t` stays, or moves the star's match on by one.
    var turns: usize = 0;
    while (t < text.len) {
        turns += 1;
        assert(turns <= (pattern.len + 1) * (text.len + 1) + pattern.len);
        if (p < pattern.len and pattern[p] == '*') {
            star = p;
            star_text = t;
            p += 1;
        } else if (p < pattern.len and pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if (star) |star_at| {
            p = star_at + 1;
            star_text += 1;
            t = star_text;
        } else return false;
    }
    while (p < pattern.len and pattern[p] == '*') p += 1;
    return p == pattern.len;
}

/// Whether the request's `:authority` matches a host glob. A glob without a port
/// matches any port; names compare case-insensitively.
pub fn hostMatches(pattern: []const u8, authority: []const u8) bool {
    if (std.mem.eql(u8, pattern, "*")) return true;
    const pattern_has_port = portStart(pattern) != null;
    const host = if (pattern_has_port) authority else authority[0 .. portStart(authority) orelse authority.len];
    if (std.mem.startsWith(u8, pattern, "*.")) {
        const suffix = pattern[1..];
        return host.len > suffix.len and std.ascii.endsWithIgnoreCase(host, suffix);
    }
    return std.ascii.eqlIgnoreCase(pattern, host);
}

/// Where `:port` starts in a host, or null (an IPv6 literal's colons are inside brackets).
fn portStart(host: []const u8) ?usize {
    const colon = std.mem.lastIndexOfScalar(u8, host, ':') orelse return null;
    if (std.mem.indexOfScalar(u8, host, ']')) |bracket| {
        if (colon < bracket) return null;
    }
    return colon;
}

/// Whether a `content-type` value falls in a media range (`type/subtype` or `type/*`).
pub fn mediaMatches(range: []const u8, content_type: []const u8) bool {
    const end = std.mem.indexOfScalar(u8, content_type, ';') orelse content_type.len;
    const media = std.mem.trim(u8, content_type[0..end], " \t");
    if (std.mem.endsWith(u8, range, "/*")) {
        const prefix = range[0 .. range.len - 1];
        return media.len > prefix.len and std.ascii.startsWithIgnoreCase(media, prefix);
    }
    return std.ascii.eqlIgnoreCase(range, media);
}

const testing = std.testing;

test "path globs: '*' is one segment, '**' any number" {
    try testing.expect(pathMatches("/v1/cards/**", "/v1/cards"));
    try testing.expect(pathMatches("/v1/cards/**", "/v1/cards/12/history"));
    try testing.expect(!pathMatches("/v1/cards/**", "/v1/cardsx"));
    try testing.expect(pathMatches("/v1/payments/*", "/v1/payments/42"));
    try testing.expect(!pathMatches("/v1/payments/*", "/v1/payments/42/refunds"));
    try testing.expect(pathMatches("/**", "/"));
    try testing.expect(pathMatches("/**", "/anything/at/all"));
    try testing.expect(pathMatches("/**/export", "/a/b/export"));
    try testing.expect(!pathMatches("/**/export", "/a/b/export/x"));
    try testing.expect(pathMatches("/files/*.csv", "/files/users.csv"));
    try testing.expect(!pathMatches("/files/*.csv", "/files/users.json"));
    try testing.expect(pathMatches("/", "/"));
    try testing.expect(!pathMatches("/", "/a"));
    try testing.expect(pathMatches("/a/**/c/**/e", "/a/b/c/d/e"));
    try testing.expect(pathMatches("/a/**/c/**/e", "/a/c/e"));
    try testing.expect(!pathMatches("/a/**/c/**/e", "/a/b/d/e"));
}

test "the path of a target stops at the query" {
    try testing.expectEqualStrings("/search", pathOf("/search?q=1#top"));
    try testing.expectEqualStrings("/", pathOf("/"));
}

test "host globs" {
    try testing.expect(hostMatches("*", "anything:8080"));
    try testing.expect(hostMatches("api.shop", "API.shop:443"));
    try testing.expect(!hostMatches("api.shop:8080", "api.shop:443"));
    try testing.expect(hostMatches("*.shop", "api.shop"));
    try testing.expect(!hostMatches("*.shop", "shop"));
    try testing.expect(hostMatches("[::1]", "[::1]:80"));
}

test "media ranges" {
    try testing.expect(mediaMatches("application/json", "Application/JSON; charset=utf-8"));
    try testing.expect(mediaMatches("text/*", "text/event-stream"));
    try testing.expect(!mediaMatches("text/*", "application/json"));
    try testing.expect(!mediaMatches("application/json", "application/jsonl"));
}

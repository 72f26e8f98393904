//! Applies edits to a complete protobuf message and fixes up the length
//! prefix of every nested message whose size changed, so the result decodes.
//!
//! Edits replace byte ranges inside string/bytes/varint values, or remove
//! whole fields (drops). A nested message's new length is its old length plus
//! the size changes of the edits inside it plus the size changes of its
//! children's length prefixes; nodes are processed children first (reverse
//! pre-order), so one pass settles every length without recursion.

const std = @import("std");
const assert = std.debug.assert;
const protobuf = @import("walkers").protobuf;
const Node = protobuf.Node;

pub const nodes_max: u32 = 256;
pub const edits_max: u32 = 256;

pub const Error = error{TooManyEdits};

pub const Edit = struct {
    start: u32,
    end: u32,
    replacement: []const u8,
};

/// Sorted, non-overlapping edits of one message, with their replacement bytes.
pub const EditList = struct {
    items: [edits_max]Edit = undefined,
    len: u32 = 0,
    storage: [64 * 1024]u8 = undefined,
    used: u32 = 0,

    pub fn reset(self: *EditList) void {
        self.len = 0;
        self.used = 0;
    }

    pub fn slice(self: *const EditList) []const Edit {
        return self.items[0..self.len];
    }

    /// Offset from which a new edit may start (after the last one).
    pub fn editableFrom(self: *const EditList) u32 {
        return if (self.len == 0) 0 else self.items[self.len - 1].end;
    }

    pub fn space(self: *EditList) []u8 {
        return self.storage[self.used..];
    }

    /// Adds an edit whose replacement is the first `len` bytes of `space()`.
    pub fn add(self: *EditList, start: u32, end: u32, len: usize) Error!void {
        assert(start <= end and start >= self.editableFrom());
        if (self.len == edits_max) return error.TooManyEdits;
        self.items[self.len] = .{ .start = start, .end = end, .replacement = self.storage[self.used .. self.used + len] };
        self.len += 1;
        self.used += @intCast(len);
    }

    /// Removes `[start, end)` whole, absorbing the edits inside it.
    pub fn addDrop(self: *EditList, start: u32, end: u32) Error!void {
        while (self.len > 0 and self.items[self.len - 1].start >= start) {
            self.len -= 1;
            self.used -= @intCast(self.items[self.len].replacement.len);
        }
        return self.add(start, end, 0);
    }
};

/// Per-node bookkeeping for one rewrite.
pub const Plan = struct {
    new_lengths: [nodes_max]u64 = undefined,
    dead: [nodes_max]bool = undefined,
    message_len: u64 = 0,

    /// Works out every node's new length and the message's.
    pub fn compute(self: *Plan, message_len: usize, nodes: []const Node, edits: []const Edit) void {
        assert(nodes.len <= nodes_max);
        var deltas: [nodes_max]i64 = undefined;
        var parents: [nodes_max]?u32 = undefined;
        findParents(nodes, &parents);
        var root_delta: i64 = 0;
        for (nodes, 0..) |node, index| {
            deltas[index] = 0;
            self.dead[index] = false;
            for (edits) |edit| {
                if (edit.start <= node.tag_start and node.content_end <= edit.end and edit.start < edit.end) self.dead[index] = true;
            }
        }
        for (edits) |edit| {
            const delta = @as(i64, @intCast(edit.replacement.len)) - @as(i64, edit.end - edit.start);
            if (innermost(nodes, edit)) |index| deltas[index] += delta else root_delta += delta;
        }
        var index = nodes.len;
        while (index > 0) {
            index -= 1;
            if (self.dead[index]) continue;
            const node = nodes[index];
            const old_len: u64 = node.content_end - node.content_start;
            const new_len: u64 = @intCast(@as(i64, @intCast(old_len)) + deltas[index]);
            self.new_lengths[index] = new_len;
            const prefix_delta = @as(i64, protobuf.varintLength(new_len)) - @as(i64, node.content_start - node.length_start);
            const total = deltas[index] + prefix_delta;
            if (parents[index]) |parent| deltas[parent] += total else root_delta += total;
        }
        self.message_len = @intCast(@as(i64, @intCast(message_len)) + root_delta);
    }

    /// Writes the rewritten message to `out` (`out.write(bytes)`).
    pub fn write(self: *const Plan, message: []const u8, nodes: []const Node, edits: []const Edit, out: anytype) !void {
        var position: u32 = 0;
        var node_index: usize = 0;
        var edit_index: usize = 0;
        var scratch: [10]u8 = undefined;
        var written: u64 = 0;
        // Merge length prefixes (live nodes) and edits by position; they never overlap.
        while (true) {
            while (node_index < nodes.len and self.dead[node_index]) node_index += 1;
            const next_node: ?Node = if (node_index < nodes.len) nodes[node_index] else null;
            const next_edit: ?Edit = if (edit_index < edits.len) edits[edit_index] else null;
            if (next_node == null and next_edit == null) break;
            const take_node = next_edit == null or (next_node != null and next_node.?.length_start < next_edit.?.start);
            if (take_node) {
                const node = next_node.?;
                assert(node.length_start >= position);
                try out.write(message[position..node.length_start]);
                const prefix = protobuf.writeVarint(self.new_lengths[node_index], &scratch);
                try out.write(prefix);
                written += node.length_start - position + prefix.len;
                position = node.content_start;
                node_index += 1;
            } else {
                const edit = next_edit.?;
                assert(edit.start >= position);
                try out.write(message[position..edit.start]);
                try out.write(edit.replacement);
                written += edit.start - position + edit.replacement.len;
                position = edit.end;
                edit_index += 1;
            }
        }
        try out.write(message[position..]);
        written += message.len - position;
        assert(written == self.message_len);
    }
};

/// The node for a string or bytes field an edit changes: its length prefix
/// must be rewritten too. `tag_start` is where the field's tag begins.
pub fn leafNode(message: []const u8, tag_start: u32, content_start: u32, content_end: u32) Node {
    const tag = protobuf.readVarint(message, tag_start).?;
    assert(tag.end < content_start and content_end <= message.len);
    return .{ .tag_start = tag_start, .length_start = tag.end, .content_start = content_start, .content_end = content_end };
}

/// Parent of each node: the nearest earlier node whose content contains it.
fn findParents(nodes: []const Node, parents: *[nodes_max]?u32) void {
    var stack: [nodes_max]u32 = undefined;
    var depth: usize = 0;
    for (nodes, 0..) |node, index| {
        while (depth > 0 and nodes[stack[depth - 1]].content_end <= node.tag_start) depth -= 1;
        parents[index] = if (depth > 0) stack[depth - 1] else null;
        stack[depth] = @intCast(index);
        depth += 1;
    }
}

/// The deepest node whose content holds the whole edit.
fn innermost(nodes: []const Node, edit: Edit) ?usize {
    var found: ?usize = null;
    for (nodes, 0..) |node, index| {
        if (node.content_start > edit.start) break;
        if (node.content_start <= edit.start and edit.end <= node.content_end) found = index;
    }
    return found;
}

const testing = std.testing;
const TestEncoder = protobuf.TestEncoder;
const FixedOutput = @import("rewriter.zig").FixedOutput;

/// Decodes `message` as { 1: string, 2: { 1: string, 3: { 1: string } } } into its strings.
fn expectDecodes(message: []const u8, expected: []const []const u8) !void {
    const Sink = struct {
        seen: [8][256]u8 = undefined,
        lens: [8]usize = undefined,
        count: usize = 0,
        pub fn onValue(self: *@This(), value: *const @import("walkers").walker.Value) !void {
            @memcpy(self.seen[self.count][0..value.bytes.len], value.bytes);
            self.lens[self.count] = value.bytes.len;
            self.count += 1;
        }
    };
    var sink = Sink{};
    var walker = protobuf.ProtobufWalker.init(.{});
    try walker.walk(message, 0, null, &sink);
    try testing.expectEqual(expected.len, sink.count);
    for (expected, 0..) |want, index| try testing.expectEqualStrings(want, sink.seen[index][0..sink.lens[index]]);
}

fn nested(encoder: *TestEncoder, card: []const u8, ssn: []const u8) void {
    var holder = TestEncoder{};
    holder.lenField(1, ssn);
    var payment = TestEncoder{};
    payment.lenField(1, card);
    payment.lenField(3, holder.bytes());
    encoder.lenField(1, "Ada");
    encoder.lenField(2, payment.bytes());
}

/// Walks `message`, recording nested messages and, like the gRPC masker does
/// for the fields it edits, the string field that starts with `edited`.
fn walkRecording(message: []const u8, edited: []const u8, nodes: *protobuf.NodeList(8)) !void {
    const LeafRecorder = struct {
        nodes: *protobuf.NodeList(8),
        message: []const u8,
        edited: []const u8,
        pub fn onValue(self: *@This(), value: *const @import("walkers").walker.Value) !void {
            if (!std.mem.startsWith(u8, value.bytes, self.edited)) return;
            const member = value.member.?;
            try self.nodes.append(leafNode(self.message, @intCast(member.start), @intCast(value.raw.start), @intCast(value.raw.end)));
        }
    };
    var recorder = LeafRecorder{ .nodes = nodes, .message = message, .edited = edited };
    var walker = protobuf.ProtobufWalker.init(.{});
    try walker.walk(message, 0, nodes, &recorder);
}

test "a longer replacement fixes up the field's and every enclosing length" {
    var encoder = TestEncoder{};
    // The payment is 122 bytes; six more need a two-byte length varint.
    nested(&encoder, "4111111111111111", "1" ** 100);
    const message = encoder.bytes();
    var nodes = protobuf.NodeList(8){};
    try walkRecording(message, "4111", &nodes);
    try testing.expectEqual(@as(usize, 3), nodes.len);
    const card_at: u32 = @intCast(std.mem.indexOf(u8, message, "4111").?);
    const replacement = "[REDACTED:CREDIT_CARD]";
    const edits = [_]Edit{.{ .start = card_at, .end = card_at + 16, .replacement = replacement }};
    var plan = Plan{};
    plan.compute(message.len, nodes.slice(), &edits);
    // The payment grows past 127 bytes: its length varint grows by one byte.
    try testing.expectEqual(@as(u64, message.len + replacement.len - 16 + 1), plan.message_len);
    var buffer: [512]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    try plan.write(message, nodes.slice(), &edits, &out);
    try testing.expectEqual(plan.message_len, out.written().len);
    try expectDecodes(out.written(), &.{ "Ada", replacement, "1" ** 100 });
}

test "a shorter replacement that shrinks length varints, and a dropped nested field" {
    var encoder = TestEncoder{};
    nested(&encoder, "4" ** 130, "123-45-6789");
    const message = encoder.bytes();
    var nodes = protobuf.NodeList(8){};
    try walkRecording(message, "4444", &nodes);
    try testing.expectEqual(@as(usize, 3), nodes.len);
    const card_at: u32 = @intCast(std.mem.indexOf(u8, message, "4444").?);
    // Drop the holder field (field 3 of the payment) whole.
    const holder = nodes.slice()[2];
    const edits = [_]Edit{
        .{ .start = card_at, .end = card_at + 130, .replacement = "****" },
        .{ .start = holder.tag_start, .end = holder.content_end, .replacement = "" },
    };
    var plan = Plan{};
    plan.compute(message.len, nodes.slice(), &edits);
    var buffer: [512]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    try plan.write(message, nodes.slice(), &edits, &out);
    try expectDecodes(out.written(), &.{ "Ada", "****" });
    try testing.expectEqual(plan.message_len, out.written().len);
}

test "edit list: drops absorb the edits inside them" {
    var list = EditList{};
    @memcpy(list.space()[0..3], "abc");
    try list.add(5, 8, 3);
    try list.addDrop(2, 10);
    try testing.expectEqual(@as(u32, 1), list.len);
    try testing.expectEqual(@as(u32, 0), list.used);
    try testing.expectEqual(@as(u32, 10), list.editableFrom());
}

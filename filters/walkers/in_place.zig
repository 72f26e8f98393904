//! Initialising a large struct where it lives, writing only its small fields.
//!
//! `target.* = .{ ... }` with a default like `rewriter: Rewriter = .{}` makes the
//! compiler copy a whole image of the default (100+ KiB, zeros in the module's data
//! section) on every init. The walkers and maskers keep their scratch buffers as
//! `undefined` arrays, so a processor is ready once its small fields hold their
//! defaults: this writes those, field by field, and leaves large arrays alone.

const std = @import("std");

/// Arrays at or above this size are scratch space (their defaults are `undefined`).
const scratch_bytes_min: usize = 256;

/// Sets every field of `target` that has a default to it, except large arrays;
/// large struct fields are recursed into (their defaults are their types' defaults).
/// Fields without a default are the caller's to set.
pub fn initDefaults(target: anytype) void {
    const T = @typeInfo(@TypeOf(target)).pointer.child;
    inline for (@typeInfo(T).@"struct".fields) |field| {
        const Field = field.type;
        const small = @sizeOf(Field) < scratch_bytes_min;
        if (field.defaultValue()) |default| {
            if (small) {
                @field(target, field.name) = default;
            } else switch (@typeInfo(Field)) {
                .@"struct" => initDefaults(&@field(target, field.name)),
                .array => {},
                else => @compileError("large field " ++ field.name ++ " of " ++ @typeName(T) ++ " has a default this cannot set in place"),
            }
        }
    }
}

test "small fields get their defaults; scratch arrays and other fields are left" {
    const Inner = struct {
        scratch: [4096]u8 = undefined,
        used: u32 = 0,
        flag: bool = true,
    };
    const Outer = struct {
        inner: Inner = .{},
        big: [1024]u64 = undefined,
        count: u16 = 7,
        required: u8,
    };
    const outer = try std.testing.allocator.create(Outer);
    defer std.testing.allocator.destroy(outer);
    @memset(std.mem.asBytes(outer), 0xAA);
    initDefaults(outer);
    try std.testing.expectEqual(@as(u32, 0), outer.inner.used);
    try std.testing.expect(outer.inner.flag);
    try std.testing.expectEqual(@as(u16, 7), outer.count);
    try std.testing.expectEqual(@as(u8, 0xAA), outer.required);
    try std.testing.expectEqual(@as(u8, 0xAA), outer.inner.scratch[100]);
}

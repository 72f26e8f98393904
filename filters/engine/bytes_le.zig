//! Little-endian reads from the table blob. Callers check bounds first; slices
//! are align(1) so a blob needs no particular alignment in memory.

const std = @import("std");
const builtin = @import("builtin");

comptime {
    // The transition arrays are read in place as native integers.
    std.debug.assert(builtin.cpu.arch.endian() == .little);
}

pub fn u16At(bytes: []const u8, offset: u32) u16 {
    return std.mem.readInt(u16, bytes[offset..][0..2], .little);
}

pub fn u32At(bytes: []const u8, offset: u32) u32 {
    return std.mem.readInt(u32, bytes[offset..][0..4], .little);
}

pub fn u16Slice(bytes: []const u8, offset: u32, count: u32) []align(1) const u16 {
    std.debug.assert(@as(u64, offset) + @as(u64, count) * 2 <= bytes.len);
    const base: [*]align(1) const u16 = @ptrCast(bytes.ptr + offset);
    return base[0..count];
}

pub fn u32Slice(bytes: []const u8, offset: u32, count: u32) []align(1) const u32 {
    std.debug.assert(@as(u64, offset) + @as(u64, count) * 4 <= bytes.len);
    const base: [*]align(1) const u32 = @ptrCast(bytes.ptr + offset);
    return base[0..count];
}

//! Memory the host asks for through `proxy_on_memory_allocate`.
//!
//! Everything the host hands to a callback (header maps, body windows,
//! properties, configuration) lives in a per-callback arena: the dispatcher
//! resets it when a callback starts, so the hot path never frees and never
//! fragments. The arena is a bounded list of chunks grown from linear memory on
//! first need and reused afterwards; a request past the bound answers 0, which
//! the host reports as an allocation failure instead of us growing without end.

const std = @import("std");
const assert = std.debug.assert;

const page_size: usize = 64 * 1024;
/// Most chunks the arena may hold; with the chunk size this bounds its memory.
const chunk_count_max: usize = 32;
/// Small requests share chunks of this size; larger ones get a chunk of their own.
const chunk_size_default: usize = 256 * 1024;
/// Upper bound of all arena memory, so a hostile body cannot exhaust the VM.
pub const arena_bytes_max: usize = 16 * 1024 * 1024;

const Chunk = struct {
    base: usize,
    capacity: usize,
    used: usize,
};

var chunks: [chunk_count_max]Chunk = undefined;
var chunks_len: usize = 0;
var arena_bytes_total: usize = 0;

/// Forgets every allocation of the previous callback; chunks stay for reuse.
pub fn resetCallArena() void {
    assert(chunks_len <= chunk_count_max);
    for (chunks[0..chunks_len]) |*chunk| chunk.used = 0;
}

/// Returns `size` bytes valid until the next `resetCallArena`, or null.
pub fn allocate(size: usize) ?[*]u8 {
    const size_aligned = std.mem.alignForward(usize, @max(size, 1), 8);
    for (chunks[0..chunks_len]) |*chunk| {
        if (chunk.capacity - chunk.used >= size_aligned) return take(chunk, size_aligned);
    }
    const chunk = grow(size_aligned) orelse return null;
    return take(chunk, size_aligned);
}

fn take(chunk: *Chunk, size_aligned: usize) [*]u8 {
    assert(chunk.used + size_aligned <= chunk.capacity);
    const address = chunk.base + chunk.used;
    chunk.used += size_aligned;
    return @ptrFromInt(address);
}

fn grow(size_aligned: usize) ?*Chunk {
    if (chunks_len == chunk_count_max) return null;
    const capacity = std.mem.alignForward(usize, @max(size_aligned, chunk_size_default), page_size);
    if (arena_bytes_total + capacity > arena_bytes_max) return null;
    const previous_pages = @wasmMemoryGrow(0, capacity / page_size);
    if (previous_pages < 0) return null;
    const base = @as(usize, @intCast(previous_pages)) * page_size;
    chunks[chunks_len] = .{ .base = base, .capacity = capacity, .used = 0 };
    chunks_len += 1;
    arena_bytes_total += capacity;
    return &chunks[chunks_len - 1];
}

/// Bytes of linear memory the arena holds, for memory accounting in tests.
pub fn arenaBytes() usize {
    return arena_bytes_total;
}

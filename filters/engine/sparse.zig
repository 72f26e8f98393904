//! The skip pass the sparse scan automata share. Sparse automata start on rare bytes
//! and wait in a start state over most of the text; instead of each passing over the
//! text, one pass notes, block by block, the bytes where a waiting automaton must step
//! (`Tables.wake`), and each automaton steps only from those until it waits again.
//!
//! A waiting ("idle") automaton at position p is in a start state, and every byte it is
//! not woken by leads a start state to the start state of that byte's context; so when
//! it is woken at byte i its state is the start state of byte i-1's context, exactly the
//! state stepping every byte would have reached.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const automaton_module = @import("automaton.zig");
const hot = @import("hot.zig");
const scanner_module = @import("scanner.zig");

const Scanner = scanner_module.Scanner;
const Output = scanner_module.Output;

/// Wake-ups one block notes per automaton; a full list ends the block early.
const stops_max = 128;
/// Longest block, so wake-up offsets fit in u16.
const block_bytes_max = 0xFFFF;

pub const SharedPass = struct {
    /// The next stream offset the pass reads.
    cursor: u64,
    idle: [limits.scan_automata_max]bool,
    open: bool,
    block_start: u64,
    block_end: u64,
    /// Per automaton: offsets (from block_start) of the bytes that wake it, and how far
    /// it has consumed them.
    stops: [limits.scan_automata_max][stops_max]u16,
    stop_count: [limits.scan_automata_max]u16,
    stop_next: [limits.scan_automata_max]u16,

    pub fn init(self: *SharedPass) void {
        self.cursor = 0;
        @memset(&self.idle, false);
        self.open = false;
    }
};

/// Brings every sparse automaton still scanning to the end of the fed bytes.
pub fn run(scanner: *Scanner, output: *Output) error{OutputFull}!void {
    const shared = &scanner.shared;
    // Automata that stopped at an event last chunk catch up on their own first.
    if (!shared.open) {
        var behind = scanningSparse(scanner);
        while (behind != 0) : (behind &= behind - 1) {
            const index: u32 = @ctz(behind);
            if (scanner.positions[index] >= shared.cursor) continue;
            shared.idle[index] = false;
            try scanner.runUntil(index, shared.cursor, output);
        }
        // None left to step: the pass would only read the bytes to move its cursor.
        if (scanningSparse(scanner) == 0) {
            shared.cursor = @max(shared.cursor, scanner.text.end());
            return;
        }
    }
    while (true) {
        if (!shared.open and !openBlock(scanner)) break;
        var members = scanningSparse(scanner);
        while (members != 0) : (members &= members - 1) {
            const index: u32 = @ctz(members);
            if (isScanningSparse(scanner, index)) try runBlock(scanner, index, output);
        }
        closeBlock(scanner);
    }
    var members = scanningSparse(scanner);
    while (members != 0) : (members &= members - 1) try scanner.finishAutomaton(@ctz(members), output);
}

/// The sparse automata still scanning (bit per index).
fn scanningSparse(scanner: *const Scanner) u64 {
    return scanner.scanning & scanner.tables.sparse_mask;
}

fn isScanningSparse(scanner: *const Scanner, index: usize) bool {
    return scanner.status[index] == .scanning and scanner.tables.groups[index].sparse();
}

const Segment = struct { bytes: []const u8, base: u64 };

/// The part of the text (kept tail or chunk) holding stream offset `offset`.
fn segmentAt(scanner: *const Scanner, offset: u64) Segment {
    const text = &scanner.text;
    const chunk_start = text.chunkStart();
    if (offset < chunk_start) return .{ .bytes = text.tail, .base = text.tail_start };
    return .{ .bytes = text.chunk, .base = chunk_start };
}

/// Notes the wake-ups of the next block; false at the end of the fed bytes.
fn openBlock(scanner: *Scanner) bool {
    const shared = &scanner.shared;
    const tables = scanner.tables;
    if (shared.cursor >= scanner.text.end()) return false;
    const segment = segmentAt(scanner, shared.cursor);
    const from: usize = @intCast(shared.cursor - segment.base);
    const limit = @min(segment.bytes.len, from + block_bytes_max);
    const bytes = segment.bytes[0..limit];
    // Only these step through the block (`runBlock`), so only their stops are read.
    const scanning = scanningSparse(scanner);
    var members = scanning;
    while (members != 0) : (members &= members - 1) {
        shared.stop_count[@ctz(members)] = 0;
        shared.stop_next[@ctz(members)] = 0;
    }
    var full: u64 = 0;
    var index = from;
    while (true) {
        index = tables.quiet.nextStop(bytes, index);
        if (index == bytes.len) break;
        const woken = tables.wake[bytes[index]] & scanning;
        if (woken & full != 0) break; // the block ends before this byte
        var remaining = woken;
        while (remaining != 0) : (remaining &= remaining - 1) {
            const automaton: usize = @ctz(remaining);
            const count = shared.stop_count[automaton];
            shared.stops[automaton][count] = @intCast(index - from);
            shared.stop_count[automaton] = count + 1;
            if (count + 1 == stops_max) full |= @as(u64, 1) << @intCast(automaton);
        }
        index += 1;
    }
    shared.block_start = shared.cursor;
    shared.block_end = segment.base + index;
    shared.open = true;
    assert(shared.block_end > shared.block_start or index == from);
    return true;
}

/// Steps automaton `index` through the open block: from where it is until it waits,
/// then from each byte that wakes it.
fn runBlock(scanner: *Scanner, index: u32, output: *Output) error{OutputFull}!void {
    const shared = &scanner.shared;
    const group = &scanner.tables.groups[index];
    const segment = segmentAt(scanner, shared.block_start);
    const bytes = segment.bytes[0..@intCast(shared.block_end - segment.base)];
    var guard: usize = 0;
    while (scanner.status[index] == .scanning) : (guard += 1) {
        assert(guard <= bytes.len + stops_max + 1);
        if (!shared.idle[index]) {
            const from: usize = @intCast(scanner.positions[index] - segment.base);
            const step = hot.runUntilIdle(group, bytes, from, scanner.states[index]);
            switch (step.outcome) {
                .hit => {
                    try scanner.stepEvents(index, segment.base + step.index, step, output);
                    continue;
                },
                .end => {
                    scanner.states[index] = step.state;
                    scanner.positions[index] = shared.block_end;
                    return;
                },
                .idle => {
                    scanner.states[index] = step.state;
                    scanner.positions[index] = segment.base + step.index;
                    shared.idle[index] = true;
                },
            }
        }
        const wake_at = nextStop(shared, index, scanner.positions[index]) orelse return;
        if (wake_at > scanner.positions[index]) {
            const before = bytes[@intCast(wake_at - 1 - segment.base)];
            scanner.states[index] = group.automaton.start(automaton_module.byteContext(before));
            scanner.positions[index] = wake_at;
        }
        shared.idle[index] = false;
    }
}

/// The first byte at or after `position` that wakes automaton `index`, consumed.
fn nextStop(shared: *SharedPass, index: u32, position: u64) ?u64 {
    while (shared.stop_next[index] < shared.stop_count[index]) {
        const at = shared.block_start + shared.stops[index][shared.stop_next[index]];
        shared.stop_next[index] += 1;
        if (at >= position) return at;
    }
    return null;
}

/// Idle automata move to the end of the block: the start state of its last byte's context.
fn closeBlock(scanner: *Scanner) void {
    const shared = &scanner.shared;
    assert(shared.open);
    if (shared.block_end > shared.block_start) {
        const segment = segmentAt(scanner, shared.block_start);
        const last = segment.bytes[@intCast(shared.block_end - 1 - segment.base)];
        var members = scanningSparse(scanner);
        while (members != 0) : (members &= members - 1) {
            const index = @ctz(members);
            if (!shared.idle[index]) continue;
            if (scanner.positions[index] < shared.block_end) {
                scanner.states[index] = scanner.tables.groups[index].automaton.start(automaton_module.byteContext(last));
                scanner.positions[index] = shared.block_end;
            }
        }
    }
    shared.cursor = shared.block_end;
    shared.open = false;
}

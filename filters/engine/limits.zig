//! Bounds of the engine. Tables past them are refused at configure time, so the
//! scanner's state is fixed-size and the hot path never allocates.

/// Automata of one table blob (scan, forward, reverse and exclusion automata).
pub const automata_max: u32 = 1024;
/// Scan automata stepped over the text (the table's groups of patterns).
pub const scan_automata_max: u32 = 64;
pub const patterns_max: u32 = 1024;
pub const detectors_max: u32 = 512;
/// Longest match a pattern may report (the compiler caps unbounded patterns at 4096).
pub const match_bytes_max: u32 = 4096;
/// Widest context window on each side of a finding.
pub const context_bytes_max: u32 = 4096;
/// Bytes kept before the scan position, and bytes an event may need past it.
pub const history_bytes_max: u32 = 8192;
pub const lookahead_bytes_max: u32 = 8192;
/// Largest table blob accepted (the compiler's default bound is 1 MiB).
pub const table_bytes_max: u32 = 8 * 1024 * 1024;
/// Longest context word (Presidio's are single words).
pub const context_word_bytes_max: u32 = 64;

//! Compile-time bounds of meshveil-ueba. Every table, string and loop in the filter is
//! sized by one of these; a config asking for more is refused at configure time.

/// Entity sources (and peer-group sources) one policy may list, in priority order.
pub const sources_max: usize = 8;
/// Threshold rules one policy may hold.
pub const rules_max: usize = 16;
/// Score bands one policy may hold.
pub const bands_max: usize = 8;

/// Rule names, detector names, claim names, state namespaces.
pub const name_bytes_max: usize = 64;
/// Header names.
pub const header_name_bytes_max: usize = 128;
/// Cluster names and authorities (a DNS name's bound).
pub const host_bytes_max: usize = 253;

/// Smallest and largest keyed-hash key, in bytes.
pub const identity_key_bytes_min: usize = 16;
pub const identity_key_bytes_max: usize = 64;

/// Largest decoded JWT payload the filter reads a claim from; longer ones do not identify.
pub const jwt_payload_bytes_max: usize = 8 * 1024;
/// Longest claim value kept (a `sub` is an id, not a document).
pub const claim_bytes_max: usize = 256;
/// Longest raw identity value the filter keeps to put into telemetry (when the policy reveals it).
pub const revealed_bytes_max: usize = 128;

/// Bounds of the shared-state tables.
pub const entities_max: u32 = 65536;
pub const groups_max: u32 = 4096;
/// Slots a lookup probes from an id's home slot; also the eviction neighbourhood.
pub const probes: u32 = 8;
/// Read-modify-write attempts before an update is given up (and counted).
pub const cas_attempts_max: u32 = 8;
/// Slots one tick examines when it ages the state.
pub const sweep_slots_per_tick_max: u32 = 1024;

/// Findings-header pairs read per response (`detector=count`).
pub const findings_pairs_max: usize = 64;

/// Bytes of one anomaly event (batches and queues: filters/telemetry/limits.zig).
pub const event_bytes_max: usize = 2048;

/// The JSON config itself, and the scratch its parse may use (configure time only).
pub const config_bytes_max: usize = 64 * 1024;
pub const config_scratch_bytes: usize = 96 * 1024;

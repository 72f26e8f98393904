//! Compile-time bounds of the telemetry sender shared by the filters. A config asking for
//! more is refused at configure time.

/// Events per batch.
pub const batch_events_max: u32 = 64;
/// Events a queue may hold (the shared depth counter's bound).
pub const queue_events_max: u32 = 1 << 20;
/// One batch body: the envelope and its events.
pub const batch_body_bytes_max: usize = 48 * 1024;
/// Cluster names and authorities (a DNS name's bound), node ids and plugin names.
pub const host_bytes_max: usize = 253;
/// The collector's request path.
pub const path_bytes_max: usize = 256;
/// The per-node telemetry credential.
pub const token_bytes_max: usize = 512;
/// Queue names and depth keys.
pub const queue_name_bytes_max: usize = 128;
/// Read-modify-write attempts on the shared depth counter before giving up.
pub const cas_attempts_max: u32 = 8;

//! Bounds of config verification. The control plane (controlplane/trust/) refuses to
//! produce anything beyond them, so a bundle over a bound is an attack or a bug.

/// Largest plugin configuration read at all: the "endless data" bound.
pub const bundle_bytes_max: usize = 1024 * 1024;
/// Largest decoded DSSE payload of a config (base64 shrinks by a quarter).
pub const payload_bytes_max: usize = bundle_bytes_max / 4 * 3;
/// Largest filter config inside the payload, as handed to the filter logic.
pub const config_bytes_max: usize = 512 * 1024;
/// Largest decoded trust statement payload.
pub const statement_bytes_max: usize = 8 * 1024;
/// Trust statements one bundle may carry (rotations since the module was built).
pub const statements_max: usize = 8;
/// Signatures one envelope may carry.
pub const signatures_max: usize = 16;
/// Keys one trust state may hold, and revoked ids it may track.
pub const keys_max: usize = 8;
pub const revoked_max: usize = 32;
/// Nodes and workloads one config may target.
pub const targets_max: usize = 64;
/// Longest plugin, node, namespace or workload name (a DNS name's bound).
pub const name_bytes_max: usize = 253;
/// Scratch for the JSON structure (not the payload bytes, which are borrowed).
pub const json_scratch_bytes: usize = 64 * 1024;
/// A config issued this far in the future is still taken: sidecar clocks drift.
pub const clock_skew_seconds: u64 = 60;
/// Versions stay below 2^53 so every JSON reader represents them exactly.
pub const version_limit: u64 = 1 << 53;

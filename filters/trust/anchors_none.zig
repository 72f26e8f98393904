//! The anchors of a build without `--trust-root`: no keys, so the filters take their
//! configuration unverified and say so in the log on every configure. `meshveil build
//! --trust-root keys.pub` replaces this file with generated anchors.

pub const verifies_configs = false;
pub const trust_version: u64 = 0;
pub const threshold: u8 = 0;
pub const key_ids = [_][16]u8{};
pub const public_keys = [_][32]u8{};
pub const revoked = [_][16]u8{};

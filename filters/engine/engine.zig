//! meshveil's scanning engine: runs the matcher tables the control plane compiles
//! (controlplane/compiler/) over bytes, with the validators and context scoring of
//! the detectors, streaming across chunks. No host calls: filters feed it bytes.

pub const limits = @import("limits.zig");
pub const tables = @import("tables.zig");
pub const validators = @import("validators.zig");
pub const scanner = @import("scanner.zig");

pub const Tables = tables.Tables;
pub const Scanner = scanner.Scanner;
pub const Finding = scanner.Finding;
pub const Batch = scanner.Batch;

test {
    _ = validators;
    _ = @import("skip_set.zig");
    _ = @import("fused_set.zig");
    _ = @import("short_runs.zig");
    _ = @import("engine_test.zig");
}

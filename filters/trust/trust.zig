//! In-filter verification of signed configurations, shared by meshveil's filters.
//!
//! `Configured(module_name)` is what a filter's root context embeds: its `apply` is the
//! whole of `onConfigure`, and `current` hands the filter logic the verified config.
//! The pure parts (`verify`, `KeySet`, DSSE, statements) test natively; `plugin.zig`
//! binds them to the host and keeps the VM-wide state.

pub const limits = @import("limits.zig");
pub const Reason = @import("reason.zig").Reason;
pub const Refusal = @import("reason.zig").Refusal;
pub const KeySet = @import("key_set.zig").KeySet;
pub const verify = @import("verify.zig");
pub const dsse = @import("dsse.zig");

const builtin = @import("builtin");

/// Host-bound parts exist only in the module; native tests see the pure ones.
pub const plugin = if (builtin.target.cpu.arch.isWasm()) @import("plugin.zig") else struct {};
pub const Configured = if (builtin.target.cpu.arch.isWasm()) plugin.Configured else void;
pub const ActiveConfig = if (builtin.target.cpu.arch.isWasm()) plugin.ActiveConfig else void;

test {
    _ = @import("key_set.zig");
    _ = @import("dsse.zig");
    _ = @import("statement.zig");
    _ = @import("verify_test.zig");
}

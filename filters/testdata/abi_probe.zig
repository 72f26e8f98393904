const abi = @import("abi");
pub const panic = abi.panic;
const R = struct { id: u32, pub fn init(id: u32) R { return .{ .id = id }; } };
comptime { abi.exportPlugin(struct { pub const Root = R; }); }

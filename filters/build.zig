//! Builds meshveil's proxy-Wasm modules for wasm32-freestanding, so a module's
//! imports are exactly its proxy-Wasm capabilities (no WASI). `meshveil build`
//! drives this; `zig build test` runs the native unit tests of shared code.

const std = @import("std");

/// The shipped filters and the harness's test modules: (artifact name, root file).
const filters = .{
    .{ "meshveil-dlp", "dlp/main.zig" },
    .{ "meshveil-mask", "mask/main.zig" },
    .{ "meshveil-ueba", "ueba/main.zig" },
};
const testdata = .{
    .{ "abi-probe", "testdata/abi_probe.zig" },
};

/// Linear memory bounds every module declares; the host enforces its own too.
const initial_memory_bytes: u64 = 2 * 1024 * 1024;
const max_memory_bytes: u64 = 64 * 1024 * 1024;
const stack_bytes: u64 = 256 * 1024;

pub fn build(b: *std.Build) void {
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimisation mode") orelse .ReleaseSmall;
    const target = b.resolveTargetQuery(.{ .cpu_arch = .wasm32, .os_tag = .freestanding });

    const abi = b.createModule(.{
        .root_source_file = b.path("abi/abi.zig"),
        .target = target,
        .optimize = optimize,
    });

    inline for (filters ++ testdata) |entry| {
        const module = b.createModule(.{
            .root_source_file = b.path(entry[1]),
            .target = target,
            .optimize = optimize,
            // Release modules ship without names or debug info.
            .strip = optimize != .Debug,
        });
        module.addImport("abi", abi);
        const exe = b.addExecutable(.{ .name = entry[0], .root_module = module });
        exe.entry = .disabled;
        exe.rdynamic = true;
        exe.initial_memory = initial_memory_bytes;
        exe.max_memory = max_memory_bytes;
        exe.stack_size = stack_bytes;
        const install = b.addInstallArtifact(exe, .{ .dest_dir = .{ .override = .{ .custom = "." } } });
        b.getInstallStep().dependOn(&install.step);
    }

    const native_tests = b.addTest(.{ .root_module = b.createModule(.{
        .root_source_file = b.path("abi/abi.zig"),
        .target = b.graph.host,
        .optimize = .Debug,
    }) });
    const run_tests = b.addRunArtifact(native_tests);
    b.step("test", "Run the native unit tests of the shared Zig code").dependOn(&run_tests.step);
}

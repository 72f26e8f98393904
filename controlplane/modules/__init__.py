"""Filter modules: building them from Zig, reading their binaries, and validating them."""

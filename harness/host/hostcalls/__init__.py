"""The host functions a module imports, grouped by what they serve; `registry` links them."""

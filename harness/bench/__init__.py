"""Benchmarks behind `meshveil bench TARGET`: each target measures one speed claim and
prints its numbers (and ratios side by side) in one run."""

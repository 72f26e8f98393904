"""Detectors: what sensitive data looks like (regexes, context words, validators), as data.

The built-in catalog is YAML under `catalog/`; `loader` reads it, `validators` holds the
reference implementations of the checksums the Zig engine runs, and `presidio_import`
turns Presidio recognizer YAML into detectors.
"""

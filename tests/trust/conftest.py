"""Fixtures for the trust tests. The key ring, trust root and modules built with it are
session fixtures in tests/conftest.py, shared with the filter and UEBA tests."""

from __future__ import annotations

import pytest

from tests.modules.wat_modules import assemble, with_log_import
from tests.trust.keys import NOW, KeyRing, make_key_ring

# Re-exported: test modules import these names from here.
__all__ = ["NOW", "KeyRing", "make_key_ring"]


@pytest.fixture
def small_module() -> bytes:
    """A tiny proxy-Wasm module importing proxy_log, with a manifest declaring it."""
    return assemble(with_log_import(), ["proxy_log"])

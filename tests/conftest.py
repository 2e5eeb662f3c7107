"""Shared fixtures: where the installed entry points are, and a per-test state dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
# Appended, not prepended: `tests.*` helpers resolve from the checkout while `lbcheck` still
# resolves to the installed package (the source lbcheck/ lacks checks/ and notify/).
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Keep each test's transition state away from /run/lbcheck and from other tests."""
    path = tmp_path / "state"
    path.mkdir()
    return path

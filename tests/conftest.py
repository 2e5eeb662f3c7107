"""Shared fixtures: where the installed entry points are, and a per-test state dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Keep each test's transition state away from /run/lbcheck and from other tests."""
    path = tmp_path / "state"
    path.mkdir()
    return path

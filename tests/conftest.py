"""Shared fixtures: where the installed entry points are, and a per-test state dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
# Appended, not prepended: `tests.*` helpers resolve from the checkout while `lbcheck` is
# whichever the interpreter has — in .venv the checkout itself (bin/setup's editable install),
# in the .deb's build the staged package, which the source lbcheck/ (it lacks checks/ and
# notify/) must not shadow.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Keep each test's transition state away from /run/lbcheck and from other tests."""
    path = tmp_path / "state"
    path.mkdir()
    return path

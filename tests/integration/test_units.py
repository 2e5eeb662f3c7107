"""The systemd units in examples/ pass `systemd-analyze verify` (no systemd needs to run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNITS = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".service", ".timer"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("name", UNITS)
def test_unit_verifies(name: str, tmp_path: Path) -> None:
    """Each unit is valid systemd syntax, and its ExecStart (here: our venv's) runs."""
    for unit in EXAMPLES.iterdir():  # a timer is verified with the service it starts
        if unit.suffix in (".service", ".timer"):
            text = unit.read_text().replace("/usr/bin/lb", f"{BIN}/lb")
            (tmp_path / unit.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (0, "") == (result.returncode, result.stderr.strip())

"""The CLI contract: help everywhere, usage errors in one line, the startup budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN
from tests.integration.conftest import Checker
from tests.support.haproxy import Haproxy

COMMANDS = ["haproxy", "process", "socket", "backends", "http", "tcp", "vips"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_on_every_command(command: list[str]) -> None:
    """Every command documents itself and exits 0."""
    result = subprocess.run([str(BIN / "lbcheck"), *command, "--help"], capture_output=True,
                            text=True, timeout=10, check=False)
    assert 0 == result.returncode
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("argv", [
    ["haproxy", "--backend", "app:lots"],
    ["haproxy", "--no-such-flag"],
    ["--deadline", "-1", "haproxy"],
    ["--json", "--nagios", "haproxy"],
    ["tcp", "localhost"],
    ["http", "ftp://example"],
    ["nosuchcommand"],
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str]) -> None:
    """Usage errors: exit 2, a single line on stderr, no traceback."""
    result = subprocess.run([str(BIN / "lbcheck"), *argv], capture_output=True, text=True,
                            timeout=10, check=False)
    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
    assert "error" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A config with an unknown key is refused by name, in one line."""
    config = tmp_path / "lbcheck.toml"
    config.write_text("[haproxy]\nsocket = '/x'\nsockett = '/y'\n")
    result = subprocess.run([str(BIN / "lbcheck"), "--config", str(config), "haproxy"],
                            capture_output=True, text=True, timeout=10, check=False)
    assert 2 == result.returncode
    assert "sockett" in result.stderr and 1 == len(result.stderr.strip().splitlines())


def test_healthy_check_imports_only_stdlib_and_click(haproxy: Haproxy, check: Checker,
                                                     tmp_path: Path) -> None:
    """The every-second path must not import requests, structlog or sh (startup budget)."""
    check("haproxy", "--socket", haproxy.socket, "--pidfile", haproxy.pidfile)  # first verdict
    probe = (
        "import sys\n"
        "from lbcheck.cli import main\n"
        "try:\n"
        f"    main(['haproxy', '--socket', {haproxy.socket!r},"
        f" '--pidfile', {haproxy.pidfile!r}])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "import json\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    # cwd outside the checkout: `python -c` puts cwd first on sys.path; with the venv's
    # editable install the checkout's lbcheck/ is the same code, but a venv holding a copy
    # (`pip install .`) would otherwise have it shadowed by the source.
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=10, env=check.env, check=False, cwd=tmp_path)
    assert "" == result.stderr
    found = json.loads(result.stdout)
    assert 0 == found["code"]
    heavy = {m.split(".")[0] for m in found["modules"]} & {
        "requests", "structlog", "sh", "rich", "urllib3", "tomllib", "dataclasses"}
    assert set() == heavy - {"tomllib"}  # tomllib: only because the test's config file exists

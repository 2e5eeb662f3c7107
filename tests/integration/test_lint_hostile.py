"""`lbcheck lint` on hostile input (issue 17): devices, FIFOs, include fan-outs, brace floods.

Each case runs the installed `lbcheck lint --no-keepalived` as a real process with a timeout
and an address-space limit, so a hang or a runaway read fails the test instead of the box:
the output must be lint's own (findings, or one `error:` line with exit 2), never a hang,
"internal error" or a traceback.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbcheck.keepalived_conf import KeepalivedConfError, load, parse_text
from lbcheck.keepalived_conf.grammar import MAX_BLOCK_DEPTH, MAX_INCLUSIONS
from lbcheck.lint.engine import lint
from tests.conftest import BIN

MEMORY = 1 << 30  # RLIMIT_AS for the lint process: /dev/zero read whole would pass it


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_lint(*args: str | Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real `lbcheck lint --no-keepalived`, bounded in time and memory."""
    return subprocess.run([str(BIN / "lbcheck"), "lint", "--no-keepalived",
                           *(str(a) for a in args)], capture_output=True, text=True,
                          timeout=timeout, check=False, preexec_fn=_limited)


def assert_lints(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert code == result.returncode, (result.stdout[-2000:], result.stderr[-2000:])
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_include_dev_zero_is_a_warning_not_a_memory_error(tmp_path: Path) -> None:
    """`include /dev/zero` once read until MemoryError ("internal error"); keepalived skips
    what is not a regular file, and lint says so without opening it."""
    conf = tmp_path / "k.conf"
    conf.write_text("include /dev/zero\n")

    result = run_lint(conf)

    assert_lints(result, 0)
    assert (f"{conf}:1: KA060 warning: cannot read include /dev/zero: is a character device, "
            "not a regular file (keepalived skips it)") in result.stdout


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO nobody writes to: any blocking open or read of it hangs forever."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path


def test_a_fifo_as_conf_is_one_error_line_and_exit_2(fifo: Path) -> None:
    result = run_lint(fifo, timeout=15)

    assert_lints(result, 2)
    assert ("", 1) == (result.stdout, len(result.stderr.splitlines())), result.stderr
    assert "cannot lint" in result.stderr and "is a FIFO, not a regular file" in result.stderr


def test_a_fifo_as_include_is_skipped_with_a_warning(tmp_path: Path, fifo: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(f"include {fifo}\n")

    result = run_lint(conf, timeout=15)

    assert_lints(result, 0)
    assert f"cannot read include {fifo}: is a FIFO, not a regular file" in result.stdout


def test_a_fifo_as_script_path_is_not_opened_blocking(tmp_path: Path, fifo: Path) -> None:
    """The shebang check once opened the script path and blocked on the FIFO. keepalived
    cannot exec a FIFO, so it counts the check as succeeding: KA021."""
    conf = tmp_path / "k.conf"
    conf.write_text(f'vrrp_script chk {{\n script "{fifo} --check"\n}}\n')

    result = run_lint(conf, "--on-host", timeout=15)

    assert_lints(result, 1)
    assert f"KA021 error: vrrp_script chk: {fifo} is a FIFO, not a program" in result.stdout


def test_include_fan_out_stops_at_the_inclusion_limit(tmp_path: Path) -> None:
    """9 files each `include *.conf`: 9! include paths (49 s before); now every file is read
    once and the expansion stops at MAX_INCLUSIONS, with a finding naming it."""
    for index in range(1, 10):
        (tmp_path / f"f{index}.conf").write_text("include *.conf\n")

    started = time.monotonic()
    result = run_lint(tmp_path / "f1.conf", timeout=30)

    assert_lints(result, 1)
    assert f"more than {MAX_INCLUSIONS:,} files included in all" in result.stdout
    assert "its limit MAX_INCLUSIONS" in result.stdout
    assert time.monotonic() - started < 20


def test_a_double_include_chain_stops_at_the_inclusion_limit(tmp_path: Path) -> None:
    """21 files each including the next twice: 2^20 inclusions of the last (> 90 s before)."""
    for index in range(1, 21):
        (tmp_path / f"c{index}.conf").write_text(f"include c{index + 1}.conf\n" * 2)
    (tmp_path / "c21.conf").write_text("vrrp_instance VI_1 {\n}\n")

    started = time.monotonic()
    result = run_lint(tmp_path / "c1.conf", timeout=30)

    assert_lints(result, 1)
    assert "its limit MAX_INCLUSIONS" in result.stdout
    assert time.monotonic() - started < 20


def _lint_seconds(path: Path) -> float:
    """The fastest of five in-process lints (the least disturbed by a busy box)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        lint(str(path), on_host=False)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["{", "a{", "}"])
def test_a_brace_flood_lints_in_linear_time(tmp_path: Path, unit: str) -> None:
    """40,000 `{` on one line took 5 s: each brace re-sliced the rest of the line. Twice the
    braces must now cost about twice the time (quadratic would be 4×)."""
    small, large = tmp_path / "20k.conf", tmp_path / "40k.conf"
    small.write_text(unit * 20_000 + "\n")
    large.write_text(unit * 40_000 + "\n")

    ratios = []
    for _ in range(3):  # a neighbour's burst can slow one measurement: measure again
        ratios.append(_lint_seconds(large) / _lint_seconds(small))
        if ratios[-1] < 2.5:
            break

    assert ratios[-1] < 2.5, ratios
    if "{" in unit:
        # keepalived ignores a `{` after no keyword or an unknown one: nothing nests, so the
        # flood is one "opens nothing" finding, not a block MAX_BLOCK_DEPTH deep (main's reader
        # nested every brace).
        messages = {f.message for f in lint(str(large), on_host=False).findings}
        assert any("opens nothing" in m for m in messages), messages
        assert not any(f"deeper than {MAX_BLOCK_DEPTH} levels" in m for m in messages)


# -- fuzz ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Things an include can name: a FIFO, a directory, a device link, a self-include, an
    executable file, a file that includes the whole directory."""
    root = tmp_path_factory.mktemp("zoo")
    os.mkfifo(root / "fifo")
    (root / "dir.conf").mkdir()
    (root / "zero.conf").symlink_to("/dev/zero")
    (root / "self.conf").write_text("include self.conf\n")
    (root / "all.conf").write_text("include *.conf\nvrrp_instance Z {\n}\n")
    (root / "exec.conf").write_text("vrrp_instance X {\n}\n")
    (root / "exec.conf").chmod(0o755)
    return root


TOKENS = st.sampled_from([
    "vrrp_instance", "VI_1", "{", "}", "{" * 50, "}" * 50, '"', '"a b"', "#", "!", " ", "\t",
    "\\", "virtual_ipaddress", "192.0.2.1/24", "2001:db8::1", "dev", "eth0", "vrrp_script",
    "script", "/bin/true", "weight", "-2", "track_script", "global_defs", "include", "@",
    "@host", "@^host", "$X", "${X}", "$Y", "\x00", "\udcff", "\u00a0", "é", "x" * 5000,
])
TARGETS = st.sampled_from([
    "*.conf", "fifo", "dir.conf", "zero.conf", "self.conf", "all.conf", "exec.conf",
    "/dev/zero", "/nonexistent.conf", "nothing*.conf", "",
])
LINES = st.one_of(
    st.lists(TOKENS, max_size=12).map(" ".join),
    TARGETS.map(lambda target: f"include {target}"),
    st.sampled_from(["$X=192.0.2.7/24", "$Y=$X $X $X", "$X={", "@host include fifo"]),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(LINES, max_size=25).map("\n".join), st.binary(max_size=40))
def test_hostile_configs_never_crash_the_parser_or_lint(zoo: Path, text: str,
                                                        raw: bytes) -> None:
    """Random keepalived.conf text (braces, quotes, includes of FIFOs and devices, `@` lines,
    `$` parameters, huge tokens, NUL, bytes that are not UTF-8) gives a model or
    KeepalivedConfError from the parser, and findings (no KA099) from lint."""
    path = zoo / "fuzz.cfg"  # not *.conf: all.conf's glob must not pick it up
    path.write_bytes(text.encode("utf-8", errors="surrogateescape") + raw)
    try:
        parse_text(text, str(path))
    except KeepalivedConfError:
        pass
    model = load(str(path), tolerant=True)
    assert all(p.line >= 0 for p in model.problems)
    report = lint(str(path), on_host=False)
    assert [] == [f for f in report.findings if f.rule == "KA099"]

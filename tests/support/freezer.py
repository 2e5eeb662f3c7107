"""Freeze processes in a cgroup-v1 freezer cgroup: a hang that is not SIGSTOP.

A SIGSTOPped process shows state T in /proc, which the process probe catches. A frozen one
(the freezer cgroup; also what a VM pause or a stuck storage path looks like from inside)
shows D (measured on 6.18: "disk sleep"), which no /proc reader may call dead: only a probe
that asks the process something and gets no answer can tell. This module makes that hang on
demand, and always undoes it: thaw, move the processes back to the root cgroup, rmdir.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

FREEZER = Path("/sys/fs/cgroup/freezer")


def available() -> str:
    """Why a freezer cannot be used here, or "" when it can."""
    if not (FREEZER / "cgroup.procs").exists():
        return f"no cgroup-v1 freezer hierarchy at {FREEZER}"
    if os.geteuid() != 0:
        return "freezing processes needs root"
    return ""


@contextlib.contextmanager
def frozen(pids: Iterable[int], timeout: float = 5.0, threads: bool = False) -> Iterator[Path]:
    """Every pid in ``pids`` frozen for the block; the cgroup it used is yielded.

    ``threads``: the ids are threads (tids), frozen alone while the rest of their process
    runs on — a thread stuck in the kernel (cgroup v1 moves single tasks; v2 does not).
    A process cannot finish exiting while one of its threads is frozen: thawing lets it.
    """
    group = FREEZER / f"lbcheck-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        for pid in pids:
            (group / ("tasks" if threads else "cgroup.procs")).write_text(f"{pid}\n")
        (group / "freezer.state").write_text("FROZEN\n")
        wait_state(group, "FROZEN", timeout)
        yield group
    finally:
        release(group, timeout)


def release(group: Path, timeout: float) -> None:
    """Thaw, hand every task back to the root cgroup, remove the group: each step tried."""
    with contextlib.suppress(OSError):
        (group / "freezer.state").write_text("THAWED\n")
    with contextlib.suppress(OSError, TimeoutError):
        wait_state(group, "THAWED", timeout)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            tasks = (group / "cgroup.procs").read_text().split()
        except OSError:
            break
        for pid in tasks:
            with contextlib.suppress(OSError):  # it may have exited meanwhile
                (FREEZER / "cgroup.procs").write_text(f"{pid}\n")
        with contextlib.suppress(OSError):
            group.rmdir()  # EBUSY while a task is still in it: go round again
            return
        time.sleep(0.02)
    if group.exists():
        group.rmdir()  # last try: raises, so a leaked cgroup fails the test instead of hiding


def wait_state(group: Path, state: str, timeout: float) -> None:
    """FREEZING → FROZEN takes a moment; bounded wait for the kernel to get there."""
    end = time.monotonic() + timeout
    while (group / "freezer.state").read_text().strip() != state:
        if time.monotonic() > end:
            raise TimeoutError(f"{group} did not reach {state} within {timeout:g} s")
        time.sleep(0.01)


def cgroup_of(pid: int) -> str:
    """The freezer cgroup path a process is in ("/" for the root)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return path
    return ""


def leftover_groups() -> list[Path]:
    """Freezer cgroups this module created and failed to remove (for a cleanup test)."""
    return sorted(FREEZER.glob(f"lbcheck-{os.getpid()}-*"))

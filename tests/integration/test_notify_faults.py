"""Crashes and a full disk: what a hook said it stored is delivered, and it never says more.

SIGKILL lands at random points of real `lbnotify` hooks (interpreter start, enqueue, the
memory write, delivery, the hand-off to the sender); the outbox then sits on a full tmpfs.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.receiver import Receiver
from tests.support.notify import Notify

EVENTS = 200
PARALLEL = 4
HOOK_WALL = 1.5


def fault_key(notify: Notify, name: str) -> str:
    return f"lbcheck:{os.uname().nodename}:INSTANCE:{name}:fault"


def kill_at(argv: list[str], delay: float) -> int:
    """Run one hook; SIGKILL it ``delay`` s after the start unless it exited; its status."""
    hook = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        return hook.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        hook.kill()
        return hook.wait(timeout=10)


def test_kill_9_at_random_points_loses_no_acknowledged_page(
        tmp_path: Path, receiver: Receiver) -> None:
    """200 hooks, SIGKILLed at random moments: every hook that exited 0 has its page
    delivered at least once (by itself or the sender, no command run), and no file of the
    outbox is ever found damaged (corrupt/ stays empty)."""
    notify = Notify(tmp_path, receiver.url)
    receiver.set_mode("slow", delay=0.05)  # delivery takes long enough to be hit too
    stop = threading.Event()

    def flap() -> None:  # the pager fails now and then: hooks hand pages to the sender
        for i in range(1000):
            if stop.wait(0.4):
                return
            receiver.set_mode("500" if i % 3 == 0 else "slow", delay=0.05)

    flapper = threading.Thread(target=flap, daemon=True)
    try:
        warm = [notify.timed("INSTANCE", f"warm_{i}", "FAULT", "0")[1] for i in range(5)]
        typical = statistics.median(warm)
        rng = random.Random(20261130)
        delays = [rng.uniform(0.5 * typical, 3.0 * typical) for _ in range(EVENTS)]
        flapper.start()
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            statuses = list(pool.map(
                lambda i: kill_at(notify.argv("INSTANCE", f"VI_{i}", "FAULT", "0"), delays[i]),
                range(EVENTS)))
        stop.set()
        flapper.join(timeout=5)
        receiver.set_mode("ok")
        acknowledged = [i for i, status in enumerate(statuses) if status == 0]
        wanted = {fault_key(notify, f"VI_{i}") for i in acknowledged}
        end = time.monotonic() + 30
        while time.monotonic() < end:
            # A hook killed mid-POST leaves the receiver a truncated body (no JSON): that
            # request delivered nothing, whoever sends the page again does.
            received = {r["json"]["dedup_key"] for r in receiver.requests
                        if r["mode"] != "500" and isinstance(r["json"], dict)}
            if wanted <= received:
                break
            time.sleep(0.1)
        assert set() == wanted - received  # no `flush` was run: hooks and the sender did it
        assert 0 == notify("flush").returncode  # what killed hooks had stored goes out too
        assert [] == notify.wait_for_no_process(10)
        assert not list((notify.outbox / "corrupt").glob("*"))
        assert 0 == notify.waiting()
        memories = {p.name for p in (notify.state / "page").glob("*.json")}
        queued = {line["dedup_key"] for line in notify.lines("page queued")}
        killed = [i for i, status in enumerate(statuses) if status != 0]
        before_enqueue = [i for i in killed if fault_key(notify, f"VI_{i}") not in
                          queued | {r["json"]["dedup_key"] for r in receiver.requests}]
        after_memory = [i for i in killed if f"instance-VI_{i}.json" in memories]
        between = len(killed) - len(before_enqueue) - len(after_memory)
        print(f"\n{EVENTS} hooks (typical {typical * 1000:.0f} ms): {len(acknowledged)} exited "
              f"0, {len(killed)} killed — {len(before_enqueue)} before the page was stored, "
              f"{between} between enqueue and the memory write, {len(after_memory)} after it "
              f"(delivery, hand-off, log); {len(receiver.requests)} requests for "
              f"{len(wanted | queued)} pages")
        assert {-9, 0} == set(statuses)
        assert len(after_memory) + between > 0  # some kills landed after a page was stored
    finally:
        stop.set()
        notify.stop_processes()


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system says it is full (bounded)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(10_000):  # 4 KiB at a time: 40 MiB at most
            try:
                os.write(fd, b"\0" * 4096)
            except OSError:
                break
        for _ in range(4096):  # and the bytes left in a partial block
            try:
                os.write(fd, b"\0")
            except OSError:
                break
    finally:
        os.close(fd)


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last block (needs root to mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "full"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                    str(mountpoint)], check=True, timeout=30)
    try:
        fill(mountpoint / "filler")
        yield mountpoint
    finally:
        result = subprocess.run(["umount", str(mountpoint)], check=False, timeout=30)
        if result.returncode:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)


@pytest.mark.parametrize("outbox_state", ["fresh", "in use"])
def test_full_disk_fails_the_hook_in_one_line_and_claims_nothing(
        tmp_path: Path, receiver: Receiver, full_tmpfs: Path, outbox_state: str) -> None:
    """Outbox on a full tmpfs: exit 1 within the budget, one line naming the disk, no page or
    memory claimed; once space is back the same event pages as if it were the first."""
    notify = Notify(tmp_path, receiver.url)
    outbox = full_tmpfs / "outbox"
    notify.config.write_text(notify.config.read_text().replace(
        f'outbox = "{notify.outbox}"', f'outbox = "{outbox}"'))
    notify.outbox = outbox
    try:
        if outbox_state == "in use":  # .seq and the locks exist: made before the disk filled
            (full_tmpfs / "filler").unlink()
            assert 0 == notify("INSTANCE", "VI_0", "FAULT", "0").returncode
            fill(full_tmpfs / "filler")
        result, wall = notify.timed("INSTANCE", "VI_1", "FAULT", "0")
        assert 1 == result.returncode
        assert wall < HOOK_WALL
        [line] = result.stderr.splitlines()
        assert line.startswith("lbnotify: error: page: cannot ")
        assert line.endswith("No space left on device")
        event = notify.events()[-1]
        assert "queued" not in event["page"] and "error" in event["page"]
        key = fault_key(notify, "VI_1")
        assert key not in {q["dedup_key"] for q in notify.lines("page queued")}
        assert not (notify.state / "page" / "instance-VI_1.json").exists()
        assert 0 == notify.waiting()
        assert not list(outbox.glob(".tmp-*"))
        (full_tmpfs / "filler").unlink()
        assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
        assert key in {r["json"]["dedup_key"] for r in receiver.wait_for(1 + (outbox_state
                                                                            == "in use"))}
    finally:
        notify.stop_processes()

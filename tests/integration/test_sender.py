"""The detached sender: a page a hook could not deliver arrives on its own, and nothing lingers.

Each test runs real `lbnotify` hooks against the recording receiver on 127.0.0.1 and stops
every process left for its config in a finally (the sender is not our child: found by pid).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.receiver import Receiver
from tests.support.notify import Notify

HOOK_WALL = 1.5  # what the issue allows a hook, interpreter start included
ARRIVAL = 20.0  # a page must arrive this soon after the pager recovers
GONE = 10.0  # no process may remain this long after the outbox emptied


def answered(receiver: Receiver) -> list[dict]:
    """Requests the receiver accepted (202), as opposed to the ones it failed."""
    return [r for r in receiver.requests if r["mode"] in ("ok", "slow")]


def sender_pid(notify: Notify) -> int:
    return int((notify.outbox / ".sender.lock").read_text().split()[0])


def wait_for_name(pid: int, name: str, timeout: float) -> str:
    """The process name (comm) once it is ``name``, or whatever it is after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/comm") as comm:
            seen = comm.read().strip()
        if seen == name or time.monotonic() >= end:
            return seen
        time.sleep(0.02)


@pytest.mark.parametrize("outage", ["500", "refused"])
def test_page_arrives_on_its_own_after_the_pager_recovers(
        notify: Notify, receiver: Receiver, outage: str) -> None:
    """Pager failing at the FAULT, back 3 s later: the trigger arrives with no command run."""
    if outage == "500":
        receiver.set_mode("500")
    else:
        receiver.down()
    result, wall = notify.timed("INSTANCE", "VI_1", "FAULT", "0")
    assert (0, "") == (result.returncode, result.stderr)
    assert wall < HOOK_WALL
    assert notify.events()[-1]["deliver"]["sender"].startswith("started ")
    time.sleep(max(0.0, 3.0 - wall))
    receiver.up()
    receiver.set_mode("ok")
    emptied = notify.wait_until_empty(ARRIVAL)
    assert emptied is not None
    assert ["trigger"] == [r["json"]["event_action"] for r in answered(receiver)]
    assert [] == notify.wait_for_no_process(GONE)
    print(f"\n{outage}: hook {wall * 1000:.0f} ms; delivered {emptied:.2f} s after recovery")


def test_slow_pager_does_not_hold_the_hook_and_still_gets_the_page(
        notify: Notify, receiver: Receiver) -> None:
    """A pager taking 3 s to answer: the hook returns within 1.5 s; the sender waits it out."""
    receiver.set_mode("slow", delay=3.0)
    result, wall = notify.timed("INSTANCE", "VI_1", "FAULT", "0")
    assert 0 == result.returncode
    assert wall < HOOK_WALL
    emptied = notify.wait_until_empty(ARRIVAL)
    assert emptied is not None
    [sent] = notify.wait_for_lines("page sent", 5.0)  # logged just after the item goes
    assert ("sender", 202) == (sent.get("role"), sent["status"])
    assert [] == notify.wait_for_no_process(GONE)
    print(f"\nslow pager: hook {wall * 1000:.0f} ms; delivered {emptied + wall:.2f} s after "
          f"the event ({len(receiver.requests)} requests for one page: at least once)")


def test_healthy_pager_needs_no_sender(notify: Notify, receiver: Receiver) -> None:
    """Delivered within the budget: no sender is started, no process stays."""
    result, wall = notify.timed("INSTANCE", "VI_1", "FAULT", "0")
    assert 0 == result.returncode
    deliver = notify.events()[-1]["deliver"]
    assert (1, 0, None) == (deliver["sent"], deliver["waiting"], deliver.get("sender"))
    assert [] == notify.processes()
    print(f"\npager up: hook {wall * 1000:.0f} ms")


def test_one_sender_however_many_hooks(notify: Notify, receiver: Receiver) -> None:
    """Ten hooks at once with the pager down start one sender; it delivers them all later."""
    receiver.down()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: notify("INSTANCE", f"VI_{i}", "FAULT", "0"),
                                range(10)))
    assert [0] * 10 == [r.returncode for r in results]
    senders = [e["deliver"]["sender"] for e in notify.events()]
    assert 1 == sum(s.startswith("started ") for s in senders), senders
    assert 1 == len(notify.wait_for_lines("sender started", 5.0))
    receiver.up()
    assert notify.wait_until_empty(ARRIVAL) is not None
    assert 1 == len(notify.lines("sender started"))  # and no second one joined it later
    assert 10 == len({r["json"]["dedup_key"] for r in receiver.requests if r["mode"] == "ok"})
    assert [] == notify.wait_for_no_process(GONE)


def test_sender_is_detached_from_the_hook_and_its_caller(
        notify: Notify, receiver: Receiver) -> None:
    """New session, stdio on /dev/null, no inherited descriptor: keepalived waits on nothing."""
    receiver.down()
    inherited_r, inherited_w = os.pipe()
    try:
        started = time.monotonic()
        hook = subprocess.run(notify.argv("INSTANCE", "VI_1", "FAULT", "0"), capture_output=True,
                              text=True, timeout=20, pass_fds=(inherited_w,), check=False)
        wall = time.monotonic() - started  # capture_output: returns only once stdio closes
        os.close(inherited_w)
        inherited_w = -1
        assert 0 == hook.returncode
        assert wall < HOOK_WALL
        os.set_blocking(inherited_r, False)
        assert b"" == os.read(inherited_r, 1)  # EOF: no one else holds the write end
        pid = sender_pid(notify)
        assert [pid] == notify.processes()
        fds = open_descriptors(pid)
        assert ["/dev/null"] * 3 == [fds[0], fds[1], fds[2]]
        assert str(notify.outbox / ".sender.lock") == fds[3]
        assert not [t for t in fds.values() if t.startswith("pipe:")]
        session = os.getsid(pid)
        assert session not in (os.getsid(0), pid)  # its own session, and not its leader
        assert "lbnotify-sender" == wait_for_name(pid, "lbnotify-sender", 5.0)
    finally:
        os.close(inherited_r)
        if inherited_w >= 0:
            os.close(inherited_w)


def open_descriptors(pid: int) -> dict[int, str]:
    """What each descriptor of ``pid`` points to. The sender retries meanwhile: a socket it
    opens for an attempt may close between the listing and the readlink — its own, not
    inherited, so it is left out rather than raced."""
    found = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(entry)] = os.readlink(f"/proc/{pid}/fd/{entry}")
        except FileNotFoundError:
            continue
    return found


def test_sender_gives_up_and_says_what_waits(tmp_path: Path, receiver: Receiver) -> None:
    """Past sender_give_up the sender exits with one line naming what still waits."""
    notify = Notify(tmp_path, receiver.url, sender_give_up=2)
    receiver.down()
    try:
        assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
        assert [] == notify.wait_for_no_process(2 + GONE)
        [line] = notify.lines("sender gave up; pages still wait in the outbox")
        assert ("error", 1) == (line["level"], line["waiting"])
        assert "Connection" in line["items"][0]["error"] or "refused" in line["items"][0]["error"]
        assert 1 == notify.waiting()
    finally:
        notify.stop_processes()


def test_sender_can_be_switched_off(tmp_path: Path, receiver: Receiver) -> None:
    """sender_give_up = 0: the hook leaves the page for the timer and starts nothing."""
    notify = Notify(tmp_path, receiver.url, sender_give_up=0)
    receiver.down()
    try:
        assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
        assert "off" == notify.events()[-1]["deliver"]["sender"]
        assert [] == notify.processes()
        assert 1 == notify.waiting()
    finally:
        notify.stop_processes()


def test_fifo_reader_hands_slow_pages_to_the_sender(notify: Notify, receiver: Receiver,
                                                    tmp_path: Path) -> None:
    """The FIFO reader keeps handling events while the sender waits out a 3 s pager."""
    receiver.set_mode("slow", delay=3.0)
    fifo = tmp_path / "notify.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(notify.argv("fifo", str(fifo)), stderr=subprocess.PIPE, text=True)
    try:
        with open(fifo, "w") as writer:
            writer.write('INSTANCE "VI_1" FAULT 0\n')
        assert notify.wait_until_empty(ARRIVAL) is not None
        with open(fifo, "w") as writer:  # still reading, in order, with no sender left
            writer.write('INSTANCE "VI_1" BACKUP 100\n')
        end = time.monotonic() + 10
        while len(notify.events()) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert ["FAULT", "BACKUP"] == [e["state"] for e in notify.events()]
    finally:
        reader.terminate()
        reader.wait(timeout=30)
    assert notify.wait_until_empty(ARRIVAL) is not None
    assert {"trigger", "resolve"} == {r["json"]["event_action"] for r in receiver.requests}
    assert [] == notify.wait_for_no_process(GONE)


def test_sender_sees_a_page_queued_while_it_lets_go(tmp_path: Path, receiver: Receiver) -> None:
    """Hooks racing a sender that is finishing: every page arrives, none is stranded."""
    notify = Notify(tmp_path, receiver.url)
    receiver.set_mode("500")
    stop = threading.Event()

    def flip() -> None:  # the pager recovers and fails again and again
        for i in range(200):
            if stop.wait(0.15):
                return
            receiver.set_mode("ok" if i % 2 else "500")

    flipper = threading.Thread(target=flip, daemon=True)
    try:
        flipper.start()
        for i in range(12):
            assert 0 == notify("INSTANCE", f"VI_{i}", "FAULT", "0").returncode
        stop.set()
        flipper.join(timeout=5)
        receiver.set_mode("ok")
        assert notify.wait_until_empty(ARRIVAL) is not None
        keys = {r["json"]["dedup_key"] for r in receiver.requests if r["mode"] == "ok"}
        assert 12 == len(keys)
        assert [] == notify.wait_for_no_process(GONE)
    finally:
        stop.set()
        notify.stop_processes()


def test_a_sender_letting_go_looks_again(tmp_path: Path) -> None:
    """After releasing its lock the sender re-reads the outbox: a page queued meanwhile keeps
    it running (lock held again), unless a new sender took the lock first."""
    from lbcheck.config import PageTarget
    from lbcheck.notify.paging.outbox import Outbox
    from lbcheck.notify.paging.policy import Page
    from lbcheck.notify.paging.sender import SENDER_LOCK, _release_unless_more

    outbox = Outbox(tmp_path, [PageTarget("webhook", "http://127.0.0.1:9/unused")])
    lock = tmp_path / SENDER_LOCK

    def held() -> int:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd

    assert -1 == _release_unless_more(outbox, held())  # empty: done
    outbox.enqueue(Page("trigger", "critical", "k", "s", "lb1", "INSTANCE", "VI_1", "FAULT",
                        None, 0, 0.0))
    again = _release_unless_more(outbox, held())
    assert again >= 0
    probe = os.open(lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # it is ours again
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
    os.close(again)
    other = held()  # a sender a hook started meanwhile
    try:
        assert -1 == _release_unless_more(outbox, os.open(lock, os.O_RDWR))
    finally:
        os.close(other)


def test_sender_by_hand_defers_to_a_running_one(notify: Notify, receiver: Receiver) -> None:
    """`python -m lbcheck.notify.paging.sender` exits 0 at once while a sender holds the lock,
    and delivers in the foreground when none does."""
    receiver.down()
    assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
    by_hand = [sys.executable, "-m", "lbcheck.notify.paging.sender", "--config",
               str(notify.config)]
    started = time.monotonic()
    assert 0 == subprocess.run(by_hand, timeout=20, check=False, cwd=notify.tmp).returncode
    assert time.monotonic() - started < 5  # it did not wait for the outage
    notify.stop_processes()  # the hook's sender
    receiver.up()
    assert 0 == subprocess.run(by_hand, timeout=30, check=False, cwd=notify.tmp).returncode
    assert 0 == notify.waiting()

"""The FIFO reader's worker outlives every step it runs.

A poisoned outbox item once killed the worker thread on an idle flush while the reading
thread went on reading: events read, never handled, nothing said. Here each step the worker
runs is made to raise once — the handler, the flap summaries, the idle flush, and finally a
BaseException that does end the thread — and the events after it must still be handled.
The reader runs in this process (the steps are replaced by ones that raise), on a real FIFO,
with the real handlers paging a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lbcheck.notify.fifo as fifo_module
from lbcheck.config import (
    Config,
    LogSection,
    NotifySection,
    PageSection,
    PageTarget,
)
from lbcheck.log import get_logger
from lbcheck.notify import paging
from lbcheck.notify.fifo import FifoReader
from lbcheck.notify.handlers import Context
from tests.receiver import Receiver, running

HANDLED_WITHIN = 10.0


class Once:
    """Raises ``error`` on its first call, then behaves as ``real``."""

    def __init__(self, real: Callable[..., Any], error: BaseException) -> None:
        self.real, self.error, self.calls = real, error, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        return self.real(*args, **kwargs)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running() as started:
        yield started


@pytest.fixture
def reader(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[FifoReader, Path]]:
    log = tmp_path / "lbnotify.jsonl"
    config = Config(
        log=LogSection(target=str(log)),
        notify=NotifySection(state_dir=str(tmp_path / "state")),
        page=PageSection(outbox=str(tmp_path / "outbox"), flap_window=0.0, sender_give_up=0,
                         targets=(PageTarget("webhook", f"{receiver.url}/hook"),)),
    )
    ctx = Context(config, get_logger(config.log, f"fifo-worker-{tmp_path.name}"), "lb1")
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    yield FifoReader(str(path), ctx, idle=0.1), log


def lines(log: Path, event: str) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    found = [json.loads(line) for line in log.read_text().splitlines()]
    return [line for line in found if line["event"] == event]


def handled(log: Path, name: str) -> bool:
    end = time.monotonic() + HANDLED_WITHIN
    while time.monotonic() < end:
        if any(line["instance"] == name for line in lines(log, "vrrp_event")):
            return True
        time.sleep(0.02)
    return False


def until(condition: Callable[[], bool], within: float = HANDLED_WITHIN) -> bool:
    end = time.monotonic() + within
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)
    return condition()


# The SystemExit below ends the worker thread on purpose: that is the case being tested.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_every_step_of_the_worker_may_raise_and_later_events_are_still_handled(
    reader: tuple[FifoReader, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo, log = reader
    outcome: dict[str, Any] = {}
    monkeypatch.setattr(fifo_module, "handle", Once(fifo_module.handle, RuntimeError("handler")))

    def drive() -> None:
        try:
            with open(fifo.path, "w") as writer:
                def send(name: str) -> None:
                    writer.write(f'INSTANCE "{name}" FAULT 0\n')
                    writer.flush()

                send("VI_1")  # the handler raises on this one
                send("VI_2")
                outcome["after handler"] = handled(log, "VI_2")
                # The idle step: flap summaries, then the flush, each raising once.
                summaries = Once(paging.queue_summaries, OverflowError("summaries"))
                flush = Once(paging.flush, ValueError("flush"))
                monkeypatch.setattr(paging, "queue_summaries", summaries)
                monkeypatch.setattr(paging, "flush", flush)
                outcome["idle ran"] = until(lambda: summaries.calls > 1 and flush.calls > 1)
                send("VI_3")
                outcome["after idle"] = handled(log, "VI_3")
                # A BaseException does end the thread: the reader starts another.
                monkeypatch.setattr(fifo_module, "handle",
                                    Once(fifo_module.handle, SystemExit(3)))
                send("VI_4")
                outcome["worker died"] = until(lambda: not fifo.worker.is_alive())
                send("VI_5")
                outcome["after death"] = handled(log, "VI_5")
        finally:
            fifo.stop_at = time.monotonic()

    writer = threading.Thread(target=drive, daemon=True)
    writer.start()
    fifo.run()  # in the main thread: it installs SIGTERM's handler
    writer.join(timeout=60)
    assert {"after handler": True, "idle ran": True, "after idle": True, "worker died": True,
            "after death": True} == outcome
    assert ["handler"] == [line["error"].split(": ")[1] for line in
                           lines(log, "handler_crashed")]
    assert {"OverflowError: summaries", "ValueError: flush"} <= {
        line["error"] for line in lines(log, "idle_step_crashed")}
    assert 1 == len(lines(log, "handler_thread_restarted"))

"""lbnotify's Prometheus textfile: VRRP state and the outbox as hooks, the FIFO reader, the
sender and flush leave them — valid for `promtool check metrics` and prometheus-client."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.receiver import Receiver
from tests.support.notify import Notify
from tests.support.textfile import convention_problems

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def notify(tmp_path: Path, receiver: Receiver) -> Iterator[Notify]:
    """The conftest's hooks, writing the metrics textfile."""
    with Notify(tmp_path, receiver.url, metrics=True) as hooks:
        yield hooks


def samples(path: Path) -> Samples:
    """Every sample of the textfile, keyed by name and sorted labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def state_of(found: Samples, kind: str, name: str) -> list[str]:
    return [dict(labels)["state"] for (metric, labels), value in found.items()
            if metric == "lbnotify_vrrp_state" and value == 1
            and dict(labels)["kind"] == kind and dict(labels)["name"] == name]


def test_hooks_write_state_transitions_and_outbox(notify: Notify, receiver: Receiver) -> None:
    """One series per state (1 for the current), transitions, last change, outbox figures."""
    before = time.time()
    for state in ("BACKUP", "FAULT", "BACKUP"):
        assert 0 == notify("INSTANCE", "VI_1", state, "100").returncode
    receiver.set_mode("400")
    assert 0 == notify("GROUP", "G1", "FAULT", "0").returncode
    found = samples(notify.metrics)
    vi = (("kind", "INSTANCE"), ("name", "VI_1"))
    assert ["BACKUP"] == state_of(found, "INSTANCE", "VI_1")
    assert ["FAULT"] == state_of(found, "GROUP", "G1")
    assert 5 == sum(1 for metric, labels in found
                    if metric == "lbnotify_vrrp_state" and dict(labels)["name"] == "VI_1")
    assert 2 == found[("lbnotify_vrrp_transitions_total", vi)]
    assert [] == convention_problems(notify.metrics.read_text(), "lbnotify_")
    assert before <= found[("lbnotify_vrrp_last_change_timestamp_seconds", vi)] <= time.time()
    assert (0, 2, 1, 1) == (
        found[("lbnotify_outbox_depth", ())], found[("lbnotify_pages_sent_total", ())],
        found[("lbnotify_pages_dead_total", ())], found[("lbnotify_outbox_dead", ())])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (bin/setup)")
def test_textfile_passes_promtool(notify: Notify, receiver: Receiver) -> None:
    """`promtool check metrics` (format and naming lint) finds nothing to say."""
    assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
    receiver.down()
    assert 0 == notify("GROUP", "G_1", "BACKUP", "100").returncode
    assert 0 == notify("INSTANCE", "VI_2", "FAULT", "0").returncode
    text = notify.metrics.read_text()
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30, check=False)
    assert (0, "", "") == (result.returncode, result.stdout, result.stderr)


def test_sender_and_flush_keep_the_outbox_figures_current(
        notify: Notify, receiver: Receiver) -> None:
    """A page the sender delivers later shows as waiting, then as sent, with no event."""
    receiver.down()
    assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
    found = samples(notify.metrics)
    assert (1, 0, 1) == (found[("lbnotify_outbox_depth", ())],
                         found[("lbnotify_pages_sent_total", ())],
                         found[("lbnotify_pages_failed_total", ())])
    assert found[("lbnotify_outbox_oldest_age_seconds", ())] > 0
    receiver.up()
    assert notify.wait_until_empty(20) is not None
    assert [] == notify.wait_for_no_process(10)  # the sender wrote the file before it left
    found = samples(notify.metrics)
    assert (0, 1, 0) == (found[("lbnotify_outbox_depth", ())],
                         found[("lbnotify_pages_sent_total", ())],
                         found[("lbnotify_outbox_oldest_age_seconds", ())])
    os.unlink(notify.metrics)
    assert 0 == notify("flush").returncode
    assert 1 == samples(notify.metrics)[("lbnotify_pages_sent_total", ())]


def test_fifo_reader_writes_on_every_event(notify: Notify, tmp_path: Path) -> None:
    """The FIFO reader's textfile follows each event, without waiting for it to stop."""
    fifo = tmp_path / "notify.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(notify.argv("fifo", str(fifo)), stderr=subprocess.DEVNULL)
    try:
        for state in ("BACKUP", "FAULT"):
            with open(fifo, "w") as writer:
                writer.write(f'INSTANCE "VI_1" {state} 100\n')
            seen: list[str] = []
            end = time.monotonic() + 10
            while seen != [state] and time.monotonic() < end:
                time.sleep(0.05)
                if notify.metrics.exists():
                    seen = state_of(samples(notify.metrics), "INSTANCE", "VI_1")
            assert [state] == seen
    finally:
        reader.terminate()
        reader.wait(timeout=30)


def test_unwritable_textfile_is_a_failed_step_in_one_line(notify: Notify) -> None:
    """A metrics path in a missing directory: the event is recorded, the step fails, exit 1."""
    notify.metrics.parent.rmdir()
    result = notify("INSTANCE", "VI_1", "BACKUP", "100")
    assert 1 == result.returncode
    [event] = notify.events()
    assert "cannot write metrics to" in event["metrics"]["error"]
    assert "BACKUP" == event["state"]

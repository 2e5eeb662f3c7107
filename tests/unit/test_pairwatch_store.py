"""The pair watch's last round on disk, and the metrics rendered from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from lbcheck.notify.metrics import render
from lbcheck.notify.paging.outbox import OutboxStats
from lbcheck.notify.pairwatch import store
from lbcheck.notify.pairwatch.tracker import NONE, OK, SPLIT, UNKNOWN, VipState
from tests.support.textfile import convention_problems

STATES = [
    VipState("192.0.2.10", "eth0", "VI_1", SPLIT, 2, SPLIT, 2, SPLIT, 1000.0, None),
    VipState("2001:db8:1::10", "eth0", "VI_1", UNKNOWN, None, OK, 2),
    VipState("192.0.2.11", "eth1", "VI_2", NONE, 0, NONE, 1),
]
NO_OUTBOX = OutboxStats(0, 0, 0, None)


def test_what_is_saved_is_what_is_loaded(tmp_path: Path) -> None:
    assert [] == store.load(tmp_path)  # the watch never ran here
    store.save(tmp_path, STATES, durable=True)
    assert STATES == store.load(tmp_path)
    assert 0o600 == os.stat(store.path_for(tmp_path)).st_mode & 0o777
    store.save(tmp_path, [], durable=False)
    assert [] == store.load(tmp_path)


@pytest.mark.parametrize(("content", "why"), [
    (b"{", "is not JSON"),
    (b"[1]", "not a pair watch file"),
    (b'{"version": 2, "vips": []}', "not a pair watch file"),
    (b'{"version": 1, "vips": {}}', "vips is not a list"),
    (b'{"version": 1, "vips": [{"address": "x"}]}', "not a VIP state"),
    (b'{"version": 1}', "'vips'"),
    (b"[" * 100_000, "is not JSON"),
])
def test_a_file_we_did_not_write_is_one_error_saying_to_remove_it(
        tmp_path: Path, content: bytes, why: str) -> None:
    store.path_for(tmp_path).write_bytes(content)
    with pytest.raises(store.StoreError, match="remove it to start afresh") as caught:
        store.load(tmp_path)
    assert why in str(caught.value)


def test_a_planted_symlink_or_fifo_is_not_read(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.json"
    other.write_text('{"version": 1, "vips": []}')
    store.path_for(tmp_path).symlink_to(other)
    with pytest.raises(store.StoreError, match="cannot read"):
        store.load(tmp_path)
    store.path_for(tmp_path).unlink()
    os.mkfifo(store.path_for(tmp_path))
    with pytest.raises(store.StoreError, match="cannot read"):
        store.load(tmp_path)


def test_the_metrics_are_a_holders_gauge_and_a_condition_stateset() -> None:
    text = generate_latest(render([], NO_OUTBOX, STATES)).decode()
    assert [] == convention_problems(text, "lbnotify_")
    assert 'lbnotify_vip_holders{address="192.0.2.10",interface="eth0"} 2.0' in text
    assert 'lbnotify_vip_holders{address="192.0.2.11",interface="eth1"} 0.0' in text
    assert 'lbnotify_vip_holders{address="2001:db8:1::10"' not in text  # could not ask
    for state, value in ((OK, 0.0), (SPLIT, 1.0), (NONE, 0.0), (UNKNOWN, 0.0)):
        assert (f'lbnotify_vip_condition{{address="192.0.2.10",interface="eth0",'
                f'state="{state}"}} {value}') in text
    assert ('lbnotify_vip_condition{address="2001:db8:1::10",interface="eth0",'
            'state="unknown"} 1.0') in text
    assert "lbnotify_vip_" not in generate_latest(render([], NO_OUTBOX)).decode()

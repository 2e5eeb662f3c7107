"""Debian's real node_exporter (1.5) reading the textfiles lbnotify and `lbcheck watch` write:
the series a fleet scrapes arrive, and the textfile collector reports no scrape error."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BIN
from tests.integration.conftest import Checker
from tests.receiver import Receiver
from tests.support.haproxy import Haproxy
from tests.support.notify import Notify
from tests.support.prometheus import NODE_EXPORTER, NodeExporter, missing

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def textfiles(tmp_path: Path, receiver: Receiver, haproxy: Haproxy, check: Checker) -> Path:
    """A textfile directory holding lbnotify's file (after a FAULT and its end) and the
    watcher's (one check of a healthy haproxy)."""
    with Notify(tmp_path, receiver.url, metrics=True) as notify:
        for state in ("FAULT", "BACKUP"):
            assert 0 == notify("INSTANCE", "VI_1", state, "100").returncode
    directory = notify.metrics.parent
    watch = subprocess.run(
        [str(BIN / "lbcheck"), "watch", "--once", "--track-file", str(tmp_path / "track"),
         "--metrics-file", str(directory / "lbcheck.prom"), "haproxy", "--socket",
         haproxy.socket, "--pidfile", haproxy.pidfile, "--backend", "app"],
        env=check.env, capture_output=True, text=True, timeout=30, check=False)
    assert 0 == watch.returncode, watch.stderr
    assert {"lbnotify.prom", "lbcheck.prom"} == {p.name for p in directory.iterdir()}
    return directory


@pytest.fixture
def exporter(tmp_path: Path, textfiles: Path) -> Iterator[NodeExporter]:
    """node_exporter with only the textfile collector, stopped after the test."""
    why = missing(NODE_EXPORTER)
    if why:
        pytest.skip(why)
    server = NodeExporter(tmp_path / "node_exporter", textfiles)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_node_exporter_serves_both_textfiles_without_error(
        exporter: NodeExporter, textfiles: Path) -> None:
    """/metrics carries lbnotify_* and lbcheck_* as written, and node_textfile_scrape_error
    is 0 (a malformed or conflicting file would make it 1 and drop the file's series)."""
    found = samples(exporter.metrics())
    assert 0 == found[("node_textfile_scrape_error", ())]
    vi = (("kind", "INSTANCE"), ("name", "VI_1"))
    assert 1 == found[("lbnotify_vrrp_state", (*vi, ("state", "BACKUP")))]
    assert 1 == found[("lbnotify_vrrp_transitions_total", vi)]
    assert 0 == found[("lbnotify_outbox_depth", ())]
    assert 2 == found[("lbnotify_pages_sent_total", ())]
    assert 1 == found[("lbcheck_healthy", ())]
    assert 1 == found[("lbcheck_check_cycles_total", ())]
    files = {dict(labels)["file"] for name, labels in found
             if name == "node_textfile_mtime_seconds"}
    assert {str(textfiles / "lbnotify.prom"), str(textfiles / "lbcheck.prom")} == files

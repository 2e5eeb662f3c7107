"""lbnotify paging Debian's real Alertmanager (0.25): a FAULT fires, leaving it resolves, a
takeover is a notice that ends by itself, and an Alertmanager restart — which forgets every
alert — is undone by the next re-send, from `lbnotify flush` or the FIFO reader's idle time.
What lbnotify posts is checked against the vendor's OpenAPI definition of postableAlerts."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lbcheck.notify.paging.providers import DEAD, SENT, HttpRequest, send
from tests.conftest import BIN
from tests.receiver import Receiver
from tests.support.notify import Notify
from tests.support.prometheus import ALERTMANAGER, Alertmanager, missing, wait_for

SPEC = (Path(__file__).resolve().parents[2].parent / "shared" / "specs"
        / "alertmanager-v2.openapi.yaml")
# RFC 3339 as Alertmanager (Go's time.RFC3339Nano) parses it; the spec only says date-time.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
RESEND = 1.0  # [page] resend_interval for the tests: the re-send is due a second after
BOUND = 20.0  # seconds any one condition may take on two shared cores
FAULT = {"alertname": "VRRPInstanceFault", "name": "VI_1"}


def am_target(url: str) -> str:
    return f'[[page.target]]\ntype = "alertmanager"\nurl = "{url}"\n'


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A fresh Alertmanager on 127.0.0.1, stopped after the test whatever happened."""
    why = missing(ALERTMANAGER)
    if why:
        pytest.skip(why)
    server = Alertmanager(tmp_path / "alertmanager")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def notify(tmp_path: Path, alertmanager: Alertmanager) -> Iterator[Notify]:
    """lbnotify paging that Alertmanager alone; open FAULTs re-sent every second."""
    with Notify(tmp_path, alertmanager.url, budget=2.0, targets=am_target(alertmanager.url),
                resend_interval=RESEND) as hooks:
        yield hooks


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_fault_fires_and_backup_resolves_it(notify: Notify, alertmanager: Alertmanager) -> None:
    """FAULT: an active VRRPInstanceFault naming the router and instance, ending minutes
    ahead; BACKUP: the same labels resolved, so it is no longer listed."""
    before = time.time()
    assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
    alert = wait_for("the FAULT firing", lambda: alertmanager.firing(**FAULT), BOUND)
    assert {"alertname": "VRRPInstanceFault", "router": socket.gethostname(),
            "kind": "INSTANCE", "name": "VI_1", "severity": "critical"} == alert["labels"]
    assert before - 1 <= seconds(alert["startsAt"]) <= time.time()
    assert seconds(alert["endsAt"]) - time.time() > 240  # one missed re-send is survivable
    assert alert["annotations"]["summary"].startswith("FAULT: VRRP instance VI_1 on ")
    assert [200] == [line["status"] for line in notify.lines("page sent")]
    assert 0 == notify("INSTANCE", "VI_1", "BACKUP", "100").returncode
    wait_for("the FAULT resolved", lambda: alertmanager.firing(**FAULT) is None, BOUND)
    assert 0 == notify.waiting()


def test_takeover_is_a_notice_that_resolves_by_itself(
        notify: Notify, alertmanager: Alertmanager) -> None:
    """MASTER: an info VRRPTransition (state in its labels) that ends 5 minutes after."""
    assert 0 == notify("GROUP", "G_1", "MASTER", "100").returncode  # a group: no VIPs
    alert = wait_for("the takeover notice", lambda: alertmanager.firing(
        alertname="VRRPTransition", name="G_1", state="MASTER"), BOUND)
    assert ("info", "GROUP") == (alert["labels"]["severity"], alert["labels"]["kind"])
    assert 300 == round(seconds(alert["endsAt"]) - seconds(alert["startsAt"]))


def test_restart_forgets_the_alert_and_flush_resends_it(
        notify: Notify, alertmanager: Alertmanager) -> None:
    """Alertmanager keeps alerts in memory only; the next `lbnotify flush` (the minute timer)
    re-sends the open FAULT with its original start."""
    assert 0 == notify("INSTANCE", "VI_1", "FAULT", "0").returncode
    first = wait_for("the FAULT firing", lambda: alertmanager.firing(**FAULT), BOUND)
    alertmanager.restart()
    assert [] == alertmanager.alerts()

    def flushed_and_firing() -> dict[str, Any] | None:
        assert 0 == notify("flush", "--budget", "5").returncode
        return alertmanager.firing(**FAULT)

    again = wait_for("the FAULT firing after flush", flushed_and_firing, BOUND, every=0.3)
    assert first["startsAt"] == again["startsAt"]
    assert first["labels"] == again["labels"]
    resent = [line for line in notify.lines("page queued") if line["action"] == "trigger"]
    assert len(resent) >= 2


def write_when_read(path: Path, data: bytes) -> None:
    """Write to the FIFO once its reader has opened it (ENXIO until then), within BOUND."""
    def opened() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            return None

    fd = wait_for(f"a reader on {path}", opened, BOUND)
    try:
        assert len(data) == os.write(fd, data)
    finally:
        os.close(fd)


def test_restart_is_undone_by_the_fifo_readers_idle_resend(
        tmp_path: Path, notify: Notify, alertmanager: Alertmanager) -> None:
    """Under the FIFO reader nothing needs to run: its idle step re-sends the open FAULT."""
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    reader = subprocess.Popen([str(BIN / "lbnotify"), "--config", str(notify.config), "fifo",
                               str(path)], stderr=subprocess.PIPE, text=True)
    try:
        write_when_read(path, b'INSTANCE "VI_1" FAULT 0\n')
        wait_for("the FAULT firing", lambda: alertmanager.firing(**FAULT), BOUND)
        alertmanager.restart()
        wait_for("the FAULT firing after the restart",
                 lambda: alertmanager.firing(**FAULT), BOUND, every=0.2)
        reader.send_signal(signal.SIGTERM)
        assert 0 == reader.wait(timeout=BOUND)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait(timeout=5)


def test_alertmanagers_answers_read_as_sent_and_rejected(alertmanager: Alertmanager) -> None:
    """200 stores the alert (sent); 400 — an alert it will never accept — is dead-lettered
    rather than retried."""
    url = f"{alertmanager.url}/api/v2/alerts"
    headers = (("Content-Type", "application/json"),)
    good = send(HttpRequest("POST", url, headers, [{"labels": {"alertname": "Probe"}}]), 5.0)
    bad = send(HttpRequest("POST", url, headers, [{"labels": {}}]), 5.0)
    assert (SENT, 200) == (good.outcome, good.status)
    assert (DEAD, 400) == (bad.outcome, bad.status)
    assert "at least one label pair required" in bad.detail


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/specs is not beside the checkout")
def test_what_lbnotify_posts_matches_the_openapi_postable_alerts(
        tmp_path: Path, receiver: Receiver) -> None:
    """Every body lbnotify posts — trigger, re-send, resolve, notices, a group — is a valid
    postableAlerts array (the vendor's spec, with RFC 3339 times), sent to /api/v2/alerts."""
    spec = yaml.safe_load(SPEC.read_text())
    schema = {"$ref": "#/definitions/postableAlerts", "definitions": spec["definitions"]}
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.Draft4Validator(schema)
    with Notify(tmp_path, receiver.url, budget=2.0, targets=am_target(receiver.url),
                resend_interval=RESEND) as hooks:
        assert 0 == hooks("INSTANCE", "VI_1", "FAULT", "0").returncode

        def resent() -> bool:
            assert 0 == hooks("flush", "--budget", "5").returncode
            return len(receiver.requests) >= 2

        wait_for("a re-send", resent, BOUND, every=0.3)
        for args in (("INSTANCE", "VI_1", "BACKUP", "100"), ("GROUP", "G_2", "MASTER", "100"),
                     ("GROUP", "G_2", "BACKUP", "90"), ("GROUP", "G_1", "FAULT", "0")):
            assert 0 == hooks(*args).returncode
        posted = receiver.wait_for(6, timeout=BOUND)
    assert 6 == len(posted)
    for request in posted:
        assert ("POST", "/api/v2/alerts") == (request["method"], request["path"])
        validator.validate(request["json"])
        for alert in request["json"]:
            assert RFC3339.match(alert["startsAt"]) and RFC3339.match(alert["endsAt"])
            assert seconds(alert["startsAt"]) <= seconds(alert["endsAt"])

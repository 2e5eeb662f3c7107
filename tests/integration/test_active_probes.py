"""`lbcheck http` and `lbcheck tcp`: active probes through haproxy's real frontend."""

from __future__ import annotations

import json
import signal

from tests.integration.conftest import Checker
from tests.support.haproxy import Haproxy, free_port


def test_http_through_the_frontend(haproxy: Haproxy, check: Checker) -> None:
    """A GET through haproxy to a real backend answers 200 with the backend's body."""
    url = f"http://127.0.0.1:{haproxy.port}/"
    assert 0 == check("http", url, "--status", "200", "--contains", "hello from").returncode


def test_http_wrong_status_or_body_is_unhealthy(haproxy: Haproxy, check: Checker) -> None:
    """An unexpected status or a body without the marker fails, saying which."""
    url = f"http://127.0.0.1:{haproxy.port}/"
    status = check("--json", "http", url, "--status", "204")
    assert (1, f"http: {url} answered 200, expected 204") == (
        status.returncode, json.loads(status.stdout)["reason"])
    body = check("--json", "http", url, "--contains", "goodbye")
    assert 1 == body.returncode and "lacks 'goodbye'" in json.loads(body.stdout)["reason"]


def test_http_to_a_hung_frontend_fails_within_the_deadline(haproxy: Haproxy,
                                                            check: Checker) -> None:
    """A hung haproxy accepts nothing useful: the probe gives up at the deadline, exit 1."""
    haproxy.signal(signal.SIGSTOP)
    result, took = check.timed("--json", "--deadline", "0.5", "http",
                               f"http://127.0.0.1:{haproxy.port}/")
    assert 1 == result.returncode
    assert "no answer within 0.5 s" in json.loads(result.stdout)["reason"]
    assert took < 3.0  # the requests import dominates; the probe itself is bounded


def test_http_backends_all_down_gives_503(haproxy: Haproxy, check: Checker) -> None:
    """With every server in MAINT haproxy answers 503: the data path is broken, exit 1."""
    for server in ("web1", "web2", "spare1"):
        haproxy.query(f"disable server app/{server}")
    result = check("--json", "http", f"http://127.0.0.1:{haproxy.port}/")
    assert 1 == result.returncode and "answered 503" in json.loads(result.stdout)["reason"]


def test_tcp_open_and_closed_ports(haproxy: Haproxy, check: Checker) -> None:
    """A listening frontend accepts; a closed port refuses (exit 1)."""
    assert 0 == check("tcp", f"127.0.0.1:{haproxy.port}").returncode
    refused = check("--json", "tcp", f"127.0.0.1:{free_port()}")
    assert 1 == refused.returncode
    assert "connection refused" in json.loads(refused.stdout)["reason"]

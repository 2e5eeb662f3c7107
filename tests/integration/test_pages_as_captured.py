"""What the real `lbnotify` puts on the wire, as a local receiver captured it, against the
pagers' published request schemas (../shared/specs): PagerDuty's enqueue and change events,
Opsgenie's create and close. Rendering is unit-tested page by page; this proves the bytes
that leave the process — after the outbox, the sender's serialisation, and HTTP — still are
what each API accepts, for an ordinary and a 128-character CJK instance name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.receiver import Receiver, running
from tests.support import specs
from tests.support.notify import ROUTING_KEY, Notify

pytestmark = pytest.mark.skipif(not specs.present(), reason=specs.MISSING)
pytest.importorskip("jsonschema", reason="jsonschema (pip install '.[test]') reads the specs")

DAY = (("BACKUP", "100"), ("MASTER", "100"), ("BACKUP", "90"), ("FAULT", "0"),
       ("BACKUP", "100"))
# Per state change: PagerDuty and Opsgenie each get one request, except the first BACKUP.
EXPECTED = 2 * (len(DAY) - 1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running() as started:
        yield started


@pytest.mark.parametrize("name", ["VI_1", ("負荷分散装置東京第一系統" * 11)[:128]],
                         ids=["ascii", "cjk-128"])
def test_captured_requests_match_each_pagers_schema(
        tmp_path: Path, receiver: Receiver, name: str) -> None:
    targets = (f'[[page.target]]\ntype = "pagerduty"\nurl = "{receiver.url}/v2/enqueue"\n'
               f'routing_key = "{ROUTING_KEY}"\n'
               f'[[page.target]]\ntype = "opsgenie"\nurl = "{receiver.url}/v2/alerts"\n'
               'api_key = "00000000-1111-2222-3333-444444444444"\n')
    # MASTER announces the instance's VIPs: this one has none, so nothing goes on the wire.
    (tmp_path / "keepalived.conf").write_text(
        f"vrrp_instance {name} {{\n  interface lo\n  virtual_router_id 1\n  priority 100\n}}\n")
    with Notify(tmp_path, receiver.url, budget=2.0, targets=targets) as notify:
        for state, priority in DAY:
            result = notify("event", "INSTANCE", name, state, priority)
            assert (0, "") == (result.returncode, result.stderr)
        captured = receiver.wait_for(EXPECTED, timeout=20)
    assert EXPECTED == len(captured)
    pagerduty, opsgenie = specs.pagerduty(), specs.opsgenie()
    seen: dict[str, int] = {}
    for request in captured:
        kind = validate(request, pagerduty, opsgenie)
        seen[kind] = seen.get(kind, 0) + 1
    assert {"pagerduty /enqueue": 2, "pagerduty /change/enqueue": 2, "opsgenie create": 3,
            "opsgenie close": 1} == seen


def validate(request: dict[str, Any], pagerduty: dict[str, Any], opsgenie: dict[str, Any]) -> str:
    """Check one captured request by where it went; returns which API it was."""
    url = urlsplit(request["path"])
    body = request["json"]
    if url.path.startswith("/v2/alerts"):
        assert request["headers"]["Authorization"].startswith("GenieKey ")
        if url.path.endswith("/close"):
            [identifier_type] = parse_qs(url.query)["identifierType"]
            assert identifier_type in opsgenie["identifierType"]["enum"]
            specs.check(body, opsgenie["close"])
            return "opsgenie close"
        specs.check(body, opsgenie["create"])
        return "opsgenie create"
    path = url.path.removeprefix("/v2")
    specs.check(body, pagerduty[path])
    if "payload" in body:
        specs.check(body["payload"], pagerduty[path]["properties"]["payload"])
    return f"pagerduty {path}"

"""Every kind of page, as sent, against the vendors' own request schemas and documented limits.

The specs are the vendors' files in ``../shared/specs`` (beside the checkout; see its README):
PagerDuty Events v2 (OpenAPI 3.0: enqueue and change events) and Opsgenie (Swagger 2.0:
``CreateAlertPayload``, ``CloseAlertPayload``). Neither states the length limits, so those
are asserted from the vendors' documentation, counted in UTF-16 units (the strictest
"characters"). The schemas allow extra properties, so a misspelt field would pass them: each
body's keys are also checked against the properties the schema declares.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lbcheck.config import PageTarget
from lbcheck.notify.events import Event
from lbcheck.notify.paging import pair
from lbcheck.notify.paging.policy import RESOLVE, Memory, Page, decide, pending_summary
from lbcheck.notify.paging.providers import HttpRequest, render
from tests.support import specs
from tests.support.specs import check

pytestmark = pytest.mark.skipif(not specs.present(), reason=specs.MISSING)
jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema (pip install '.[test]') validates pages against the specs")

PD = PageTarget("pagerduty", "http://127.0.0.1:9/v2/enqueue", routing_key="R" * 32)
OG = PageTarget("opsgenie", "http://127.0.0.1:9/v2/alerts", api_key="GK")
AM = PageTarget("alertmanager", "http://127.0.0.1:9")
AT = 1_717_250_587.25
HOST = "lb-prod-eu-central-1-frankfurt-rack42-node07-fra1a"
NAMES = {
    "ascii": "VI_1",
    "long": "VI_" + "customer-facing-https-frontend-" * 32 + "_tail",  # 1000 characters
    "cjk": ("負荷分散装置東京第一系統" * 11)[:128],
    "emoji": "🚦🔥" * 64,
    "cjk-max": "数" * 341,  # 1023 bytes: as long as keepalived's line allows
}
# Documented limits, in characters (shared/specs/README.md).
PD_SUMMARY, PD_DEDUP_KEY, PD_PAYLOAD_BYTES = 1024, 255, 512 * 1024
OG_MESSAGE, OG_ALIAS, OG_DESCRIPTION = 130, 512, 15_000


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def pages(name: str, router: str = HOST) -> dict[str, Page]:
    """One page of every kind the policy makes, for instance ``name``."""
    def step(state: str, memory: Memory | None, at: float) -> tuple[tuple[Page, ...], Memory]:
        decision = decide(Event("INSTANCE", name, state, 100, received=at), memory, router,
                          60.0, at)
        return decision.pages, decision.memory

    _, memory = step("BACKUP", None, AT)
    (takeover,), memory = step("MASTER", memory, AT + 1)
    (fallback,), memory = step("BACKUP", memory, AT + 100)
    (fault,), memory = step("FAULT", memory, AT + 200)
    (resolve,), memory = step("BACKUP", memory, AT + 300)
    (stop,), _ = step("STOP", Memory("INSTANCE", name, "MASTER"), AT + 400)
    flap = pending_summary(replace(memory, suppressed=4, last_notice_at=AT), router, 60.0,
                           AT + 500).pages[0]
    assert resolve.action == RESOLVE
    return {"trigger-critical": fault, "resolve": resolve, "info": takeover,
            "warning": fallback, "stop-while-master": stop, "flap-summary": flap}


CASES = [pytest.param(name, kind, id=f"{label}-{kind}")
         for label, name in NAMES.items() for kind in pages("x")]
# The pair watch's pages: the longest address of each family, an interface name at its
# kernel limit (15 bytes), the long host name, both nodes' MACs, a use_vmac pair's three.
VIPS = {"ipv4": "255.255.255.254", "ipv6": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}
MACS = ("02:00:00:00:01:11", "02:00:00:00:01:12", "00:00:5e:00:01:33")


def vip_pages(address: str, router: str = HOST) -> dict[str, Page]:
    """One page of every kind the pair watch makes, for ``address``."""
    iface = "ens1f0np0.4094"[:15]
    split = pair.Holding(3, True, MACS[0], MACS[1:])
    none = pair.Holding(0, local_states=(("VI_" + "x" * 1000, "FAULT"),))
    return {
        "split": pair.trigger(pair.SPLIT, address, iface, router, split, AT),
        "split-elsewhere": pair.trigger(pair.SPLIT, address, iface, router,
                                        pair.Holding(2, remote=MACS[1:]), AT),
        "none": pair.trigger(pair.NONE, address, iface, router, none, AT),
        "resolve": pair.resolve(pair.SPLIT, address, iface, router, pair.Holding(1), AT + 60),
        "resolve-gone": pair.resolve(pair.NONE, address, iface, router, None, AT + 60),
        "resend": pair.resend(pair.NONE, address, iface, router, AT),
    }


VIP_CASES = [pytest.param(address, kind, id=f"{label}-{kind}")
             for label, address in VIPS.items() for kind in vip_pages("x")]
HEADLINES = ("SPLIT BRAIN: VIP ", "NO HOLDER: VIP ", "RESOLVED: VIP ")


def sent(request: HttpRequest) -> Any:
    """The body as the pager receives it (what providers.send serialises)."""
    return json.loads(json.dumps(request.body).encode())


@pytest.fixture(scope="module")
def pagerduty() -> dict[str, dict[str, Any]]:
    return specs.pagerduty()


@pytest.fixture(scope="module")
def opsgenie() -> dict[str, Any]:
    return specs.opsgenie()


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_pagerduty_requests_match_the_events_v2_spec_and_limits(
        pagerduty: dict[str, dict[str, Any]], name: str, kind: str) -> None:
    """Incidents to /v2/enqueue, notices to /v2/change/enqueue, each valid by its schema,
    summary ≤ 1024, dedup key ≤ 255, the whole body ≤ 512 KB, timestamp ISO 8601."""
    page = pages(name)[kind]
    request = render(page, PD)
    path = urlsplit(request.url).path.removeprefix("/v2")
    assert path == ("/change/enqueue" if page.informational else "/enqueue")
    body = sent(request)
    check(body, pagerduty[path])
    assert len(json.dumps(body).encode()) <= PD_PAYLOAD_BYTES
    if "dedup_key" in body:
        assert utf16(body["dedup_key"]) <= PD_DEDUP_KEY
    if "payload" in body:
        payload = body["payload"]
        check(payload, pagerduty[path]["properties"]["payload"])
        assert utf16(payload["summary"]) <= PD_SUMMARY
        assert payload["summary"].startswith(page.summary.split(":")[0] + ": VRRP instance")
        assert AT < datetime.fromisoformat(payload["timestamp"]).timestamp() < AT + 1000


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_opsgenie_requests_match_the_alert_api_spec_and_limits(
        opsgenie: dict[str, Any], name: str, kind: str) -> None:
    """Create bodies are CreateAlertPayload (message ≤ 130, alias ≤ 512, description ≤ 15,000,
    string-valued details with the event time); close bodies are CloseAlertPayload, by alias."""
    page = pages(name)[kind]
    request = render(page, OG)
    body = sent(request)
    if page.action == RESOLVE:
        url = urlsplit(request.url)
        assert url.path.endswith("/close")
        [identifier_type] = parse_qs(url.query)["identifierType"]
        assert identifier_type in opsgenie["identifierType"]["enum"]
        check(body, opsgenie["close"])
        assert utf16(body["note"]) <= OG_DESCRIPTION
        return
    check(body, opsgenie["create"])
    assert utf16(body["message"]) <= OG_MESSAGE
    assert body["message"].startswith(page.summary.split(":")[0] + ": VRRP instance")
    assert utf16(body["alias"]) <= OG_ALIAS
    assert utf16(body["description"]) <= OG_DESCRIPTION
    assert page.summary in body["description"]
    assert datetime.fromisoformat(body["details"]["event_time"]).timestamp() > AT


def test_the_schemas_do_catch_a_broken_page(
        pagerduty: dict[str, dict[str, Any]], opsgenie: dict[str, Any]) -> None:
    """The checks above are not vacuous: a bad enum, a missing field, a misspelt one fail."""
    trigger = pages("VI_1")["trigger-critical"]
    body = sent(render(trigger, PD))
    body["payload"]["severity"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        check(body, pagerduty["/enqueue"])
    with pytest.raises(jsonschema.ValidationError):
        check({"routing_key": "R", "payload": {"source": "lb1"}}, pagerduty["/change/enqueue"])
    alert = sent(render(trigger, OG))
    with pytest.raises(jsonschema.ValidationError):
        check({**alert, "priority": "P9"}, opsgenie["create"])
    with pytest.raises(AssertionError, match="undeclared"):
        check({**alert, "mesage": "typo"}, opsgenie["create"])


@pytest.mark.parametrize(("address", "kind"), VIP_CASES)
def test_pair_watch_pages_match_the_pagerduty_spec_and_limits(
        pagerduty: dict[str, dict[str, Any]], address: str, kind: str) -> None:
    """Incidents (never change events), summary ≤ 1024 leading with the condition."""
    page = vip_pages(address)[kind]
    request = render(page, PD)
    assert urlsplit(request.url).path == "/v2/enqueue"
    body = sent(request)
    check(body, pagerduty["/enqueue"])
    assert utf16(body["dedup_key"]) <= PD_DEDUP_KEY
    if "payload" in body:
        check(body["payload"], pagerduty["/enqueue"]["properties"]["payload"])
        assert utf16(body["payload"]["summary"]) <= PD_SUMMARY
        assert body["payload"]["summary"].startswith(HEADLINES)
        assert address in body["payload"]["summary"]


@pytest.mark.parametrize(("address", "kind"), VIP_CASES)
def test_pair_watch_pages_match_the_opsgenie_spec_and_limits(
        opsgenie: dict[str, Any], address: str, kind: str) -> None:
    """A 130-character message still says which condition of which VIP."""
    page = vip_pages(address)[kind]
    request = render(page, OG)
    body = sent(request)
    if page.action == RESOLVE:
        check(body, opsgenie["close"])
        assert utf16(body["note"]) <= OG_DESCRIPTION
        return
    check(body, opsgenie["create"])
    assert utf16(body["message"]) <= OG_MESSAGE
    assert body["message"].startswith(HEADLINES)
    assert utf16(body["alias"]) <= OG_ALIAS
    assert page.summary in body["description"]
    assert "P1" == body["priority"]


@pytest.mark.parametrize(("address", "kind"), VIP_CASES)
def test_pair_watch_pages_are_postable_alerts(address: str, kind: str) -> None:
    """Alertmanager's own postableAlerts definition, and labels without the node's name."""
    validator = jsonschema.Draft4Validator(specs.alertmanager())
    page = vip_pages(address)[kind]
    body = sent(render(page, AM))
    validator.validate(body)
    [alert] = body
    assert HOST not in json.dumps(alert["labels"])
    assert address == alert["labels"]["vip"]

"""What each pager is sent: state first within the limits, the event time, notices as news."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from lbcheck.config import PageTarget
from lbcheck.notify.events import Event
from lbcheck.notify.paging.policy import (
    CRITICAL,
    INFO,
    RESOLVE,
    TRIGGER,
    WARNING,
    Memory,
    Page,
    decide,
    pending_summary,
)
from lbcheck.notify.paging.providers import pagerduty_change_url, render
from lbcheck.notify.paging.text import fit, middle

PD = PageTarget("pagerduty", "https://events.example/v2/enqueue", routing_key="RK")
OG = PageTarget("opsgenie", "https://og.example/v2/alerts", api_key="GK")
HOOK = PageTarget("webhook", "https://hook.example/x")
ROUTER = "lb-prod-eu-central-1-frankfurt-rack42-node07-fra1a"
LONG = "VI_" + "customer-facing-https-frontend-" * 3 + "_tail"
CJK = ("負荷分散装置東京第一系統" * 11)[:128]
EMOJI = "🚦🔥" * 64
AT = 1_717_250_587.25  # 2024-06-01 14:03:07.25 UTC


def utf16(text: str) -> int:
    """Characters as a JVM (Opsgenie) counts them: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def fault(name: str, router: str = ROUTER) -> Page:
    event = Event("INSTANCE", name, "FAULT", 0, received=AT)
    [page] = decide(event, Memory("INSTANCE", name, "MASTER"), router, 60.0, AT).pages
    return page


def notices(name: str = "VI_1") -> list[Page]:
    """Takeover (info), fall-back (warning), and a flap summary (warning)."""
    took = decide(Event("INSTANCE", name, "MASTER", 100, received=AT),
                  Memory("INSTANCE", name, "BACKUP"), ROUTER, 60.0, AT)
    fell = decide(Event("INSTANCE", name, "BACKUP", 100, received=AT + 100),
                  took.memory, ROUTER, 60.0, AT + 100)
    flap = pending_summary(replace(fell.memory, suppressed=3), ROUTER, 60.0, AT + 200)
    return [*took.pages, *fell.pages, *flap.pages]


def test_summaries_lead_with_the_state() -> None:
    """What happened comes first, so a pager showing only the first words still says it."""
    took, fell, flap = notices()
    assert ["FAULT", "MASTER", "BACKUP", "FLAPPING"] == [
        p.summary.split(":")[0] for p in (fault("VI_1"), took, fell, flap)]
    assert f"FAULT: VRRP instance VI_1 on {ROUTER} (was MASTER)" == fault("VI_1").summary


def test_opsgenie_message_keeps_the_state_and_shortens_the_names() -> None:
    """Long host + instance: ≤ 130 characters, "FAULT:" first, both names cut in the middle
    so their ends survive; the full text stays in description and details."""
    page = fault(LONG)
    body = render(page, OG).body
    message = body["message"]
    assert utf16(message) <= 130
    assert message.startswith("FAULT: VRRP instance VI_")
    assert "…" in message and "_tail on lb-" in message and "fra1a" in message
    assert page.summary in body["description"]
    assert (LONG, ROUTER) == (body["details"]["instance"], body["details"]["router"])


def test_pagerduty_summary_fits_1024_without_losing_the_state() -> None:
    """A 1000-character name: summary ≤ 1024 and still starts with the state."""
    summary = render(fault("n" * 1000), PD).body["payload"]["summary"]
    assert utf16(summary) <= 1024
    assert summary.startswith("FAULT: VRRP instance nnn") and summary.endswith("(was MASTER)")


def test_multibyte_names_fit_in_utf16_units_and_are_never_split_mid_character() -> None:
    """128 emoji are 256 UTF-16 units: counted so, and no surrogate pair is cut."""
    for name in (CJK, EMOJI):
        for target, field, limit in ((OG, "message", 130), (PD, "payload", 1024)):
            body = render(fault(name), target).body
            text = body[field]["summary"] if field == "payload" else body[field]
            assert utf16(text) <= limit
            text.encode("utf-8")  # a lone surrogate would raise
            assert text.startswith("FAULT: VRRP instance " + name[:2])


def test_opsgenie_alert_and_close_carry_the_event_time() -> None:
    """A page delivered late must not look current: the time is in details and description."""
    body = render(fault("VI_1"), OG).body
    assert "2024-06-01T14:03:07.250000+00:00" == body["details"]["event_time"]
    assert "at 14:03:07 UTC on 2024-06-01" in body["description"].splitlines()
    close = render(replace(fault("VI_1"), action=RESOLVE), OG).body
    assert "at 14:03:07 UTC on 2024-06-01" in close["note"]


def test_webhook_body_has_the_event_time_in_iso_too() -> None:
    """`at` stays epoch seconds (compatibility); `at_iso` is for people and log search."""
    body = render(fault("VI_1"), HOOK).body
    assert (AT, "2024-06-01T14:03:07.250000+00:00") == (body["at"], body["at_iso"])


def test_pagerduty_notices_are_change_events_and_faults_stay_incidents() -> None:
    """Takeover, fall-back and flap summary: POST …/v2/change/enqueue, no dedup key to leave
    open; FAULT and its resolve: …/v2/enqueue as before."""
    for page in notices():
        assert page.informational
        request = render(page, PD)
        assert "https://events.example/v2/change/enqueue" == request.url
        assert {"routing_key", "payload"} == set(request.body)
        payload = request.body["payload"]
        assert (ROUTER, page.summary) == (payload["source"], payload["summary"])
        assert page.severity == payload["custom_details"]["severity"]
        assert payload["timestamp"].startswith("2024-06-01T14:0")
    incident = fault("VI_1")
    assert not incident.informational
    assert not replace(incident, action=RESOLVE).informational
    assert (PD.url, "trigger") == (render(incident, PD).url,
                                   render(incident, PD).body["event_action"])


def test_change_url_is_derived_from_the_configured_enqueue_url() -> None:
    """Proxies and test receivers keep working; an URL that is not …/enqueue is not guessed at:
    notices then go out as low-severity triggers, as before."""
    assert "http://127.0.0.1:9/v2/change/enqueue" == pagerduty_change_url(
        "http://127.0.0.1:9/v2/enqueue/")
    assert "https://p.example/pd/change/enqueue" == pagerduty_change_url(
        "https://p.example/pd/enqueue")
    assert None is pagerduty_change_url("https://p.example/pagerduty")
    assert None is pagerduty_change_url("https://p.example/v2/change/enqueue")
    odd = PageTarget("pagerduty", "https://p.example/pagerduty", routing_key="RK")
    request = render(notices()[0], odd)
    assert (odd.url, "trigger", INFO) == (
        request.url, request.body["event_action"], request.body["payload"]["severity"])


def test_opsgenie_notices_are_p5_and_tagged() -> None:
    """Notices (fall-back too) are news at P5; only FAULT is P1."""
    assert [("P5", True)] * 3 == [
        (body["priority"], "notice" in body["tags"])
        for body in (render(p, OG).body for p in notices())]
    assert "P1" == render(fault("VI_1"), OG).body["priority"]
    assert [CRITICAL, INFO, WARNING, WARNING] == [
        p.severity for p in (fault("VI_1"), *notices())]
    assert all(p.action == TRIGGER for p in notices())


@given(st.text(min_size=0, max_size=300), st.lists(st.text(max_size=200), max_size=3),
       st.integers(min_value=0, max_value=300))
def test_fit_never_exceeds_the_limit_or_splits_a_character(
        text: str, parts: list[str], limit: int) -> None:
    """Any text, any names, any limit: within the limit, whole code points, text kept whole
    when it fits."""
    text = text + "".join(parts)
    fitted = fit(text, parts, limit)
    assert utf16(fitted) <= limit
    if utf16(text) <= limit:
        assert text == fitted
    assert utf16(middle(text, limit)) <= limit

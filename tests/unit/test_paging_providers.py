"""Providers: the request each pager expects, and how its answer is read."""

from __future__ import annotations

import pytest

from lbcheck.config import MAX_RESEND_INTERVAL, PageTarget
from lbcheck.notify.paging.policy import CRITICAL, INFO, RESOLVE, TRIGGER, Page
from lbcheck.notify.paging.providers import (
    DEAD,
    FIRING_HOLD,
    NOTICE_HOLD,
    REJECTED,
    RETRY,
    SENT,
    _alertmanager,
    classify,
    needs_resend,
    parse_retry_after,
    render,
)

PAGE = Page(
    action=TRIGGER,
    severity=CRITICAL,
    dedup_key="lbcheck:lb1:INSTANCE:VI_1:fault",
    summary="lb1: VRRP instance VI_1 entered FAULT",
    router="lb1",
    kind="INSTANCE",
    name="VI_1",
    state="FAULT",
    previous="MASTER",
    priority=0,
    at=0.0,
)
RESOLVED = Page(**{**PAGE.to_dict(), "action": RESOLVE, "state": "BACKUP"})


def test_pagerduty_trigger_carries_key_severity_and_details() -> None:
    """A trigger is an Events v2 body with routing key, dedup key and custom details."""
    target = PageTarget("pagerduty", "https://pd.example/v2/enqueue", routing_key="RK")
    request = render(PAGE, target)
    assert ("POST", "https://pd.example/v2/enqueue") == (request.method, request.url)
    body = request.body
    assert ("RK", "trigger", PAGE.dedup_key) == (
        body["routing_key"],
        body["event_action"],
        body["dedup_key"],
    )
    assert ("lb1", "critical", PAGE.summary) == (
        body["payload"]["source"],
        body["payload"]["severity"],
        body["payload"]["summary"],
    )
    details = body["payload"]["custom_details"]
    assert ("FAULT", 0, "MASTER") == (details["state"], details["priority"], details["previous"])
    assert "1970-01-01T00:00:00+00:00" == body["payload"]["timestamp"]


def test_pagerduty_resolve_needs_only_the_key() -> None:
    """Resolve names the incident by dedup key; a payload is not part of it."""
    target = PageTarget("pagerduty", "https://pd.example/v2/enqueue", routing_key="RK")
    expected = {"routing_key": "RK", "event_action": "resolve", "dedup_key": PAGE.dedup_key}
    assert expected == render(RESOLVED, target).body


def test_opsgenie_creates_by_alias_and_closes_by_alias() -> None:
    """Create posts to /v2/alerts with the GenieKey; close goes to /{alias}/close."""
    target = PageTarget("opsgenie", "https://og.example/v2/alerts/", api_key="GK")
    create = render(PAGE, target)
    assert "https://og.example/v2/alerts" == create.url
    assert ("Authorization", "GenieKey GK") in create.headers
    assert (PAGE.dedup_key, "P1") == (create.body["alias"], create.body["priority"])
    assert len(create.body["message"]) <= 130
    close = render(RESOLVED, target)
    assert (
        "https://og.example/v2/alerts/lbcheck%3Alb1%3AINSTANCE%3AVI_1%3Afault/close"
        "?identifierType=alias"
    ) == close.url


def test_opsgenie_info_notice_is_lowest_priority() -> None:
    """Takeover notices must not wake anyone at P1."""
    info = Page(**{**PAGE.to_dict(), "severity": INFO, "state": "MASTER"})
    assert "P5" == render(info, PageTarget("opsgenie", "https://og", api_key="k")).body["priority"]


def test_webhook_posts_the_page_with_configured_headers() -> None:
    """A webhook gets the page itself as JSON plus whatever headers the config names."""
    target = PageTarget("webhook", "https://hook.example/x", headers=(("X-Token", "s3"),))
    request = render(PAGE, target)
    assert {**PAGE.to_dict(), "at_iso": "1970-01-01T00:00:00+00:00"} == request.body
    assert ("X-Token", "s3") in request.headers


def test_answers_sort_into_sent_retry_rejected_and_dead() -> None:
    """2xx sent; a refused key or address (401/403/404/410, a 400 naming the key) rejected
    — kept and retried slowly; a refused payload (400, 413, 422) dead; 408, 429, 5xx and
    redirects retried."""
    assert [SENT, SENT] == [classify(s, None).outcome for s in (200, 202)]
    assert [REJECTED] * 4 == [classify(s, None).outcome for s in (401, 403, 404, 410)]
    pagerduty_bad_key = ('{"status":"invalid event","message":"Event object is invalid",'
                         '"errors":["Length of \'routing_key\' is incorrect (should be 32 '
                         'characters)"]}')
    assert REJECTED == classify(400, None, pagerduty_bad_key).outcome
    bad_payload = '{"status":"invalid event","errors":["\'payload.severity\' is invalid"]}'
    assert [DEAD] * 3 == [classify(s, None, bad_payload).outcome for s in (400, 413, 422)]
    assert [RETRY] * 5 == [classify(s, None).outcome for s in (408, 429, 500, 503, 302)]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Both RFC 9110 forms of Retry-After; garbage means "no hint"."""
    assert 7.0 == parse_retry_after("7")
    assert 30.0 == parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=0.0)
    assert 0.0 == parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=100.0)
    assert [None, None] == [parse_retry_after(v) for v in ("", "soon")]
    # Each of these once raised out of the flush and stopped all paging (issue 16).
    assert [None] * 4 == [parse_retry_after(v) for v in ("²", "٣", "1e400", "-5")]
    assert None is parse_retry_after("Fri, 99 Dec 9999 99:99:99 GMT")
    assert 86_400.0 == parse_retry_after("9" * 400)
    assert 86_400.0 == parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0)
    assert 2.0 == classify(429, "2").retry_after


ALERTMANAGER = PageTarget("alertmanager", "http://am.example:9093/")


def test_alertmanager_fault_fires_ahead_of_the_sending_and_resolves_with_same_labels() -> None:
    """A FAULT is one alert whose endsAt is FIRING_HOLD past the sending (a page that waited
    must still arrive firing); the resolve repeats its labels with endsAt = when it ended."""
    fault = Page(**{**PAGE.to_dict(), "at": 1000.0})
    request = _alertmanager(fault, ALERTMANAGER, now=1060.0)
    assert ("POST", "http://am.example:9093/api/v2/alerts") == (request.method, request.url)
    assert isinstance(request.body, list)
    [alert] = request.body
    assert {"alertname": "VRRPInstanceFault", "router": "lb1", "kind": "INSTANCE",
            "name": "VI_1", "severity": "critical"} == alert["labels"]
    assert ("1970-01-01T00:16:40.000Z", "1970-01-01T00:22:40.000Z") == (
        alert["startsAt"], alert["endsAt"])
    assert PAGE.summary == alert["annotations"]["summary"]
    assert "state FAULT, was MASTER, priority 0" in alert["annotations"]["description"]
    resolve = Page(**{**RESOLVED.to_dict(), "at": 2000.0})
    [closed] = _alertmanager(resolve, ALERTMANAGER, now=2100.0).body
    assert alert["labels"] == closed["labels"]
    assert "1970-01-01T00:33:20.000Z" == closed["endsAt"] == closed["startsAt"]


def test_alertmanager_notice_resolves_by_itself() -> None:
    """A takeover is its own alert (state in the labels) that ends NOTICE_HOLD after it."""
    notice = Page(**{**PAGE.to_dict(), "severity": INFO, "state": "MASTER", "at": 1000.0,
                     "dedup_key": "lbcheck:lb1:INSTANCE:VI_1:notice:1000000000"})
    [alert] = render(notice, PageTarget("alertmanager", "http://am:9093",
                                        headers=(("Authorization", "Basic eA=="),))).body
    assert ("VRRPTransition", "info", "MASTER") == tuple(
        alert["labels"][k] for k in ("alertname", "severity", "state"))
    assert 300.0 == NOTICE_HOLD
    assert ("1970-01-01T00:16:40.000Z", "1970-01-01T00:21:40.000Z") == (
        alert["startsAt"], alert["endsAt"])


def test_alertmanager_carries_configured_headers_and_only_it_needs_resends() -> None:
    """Headers (an auth proxy in front of Alertmanager) go along; only Alertmanager forgets
    alerts that are not re-sent."""
    target = PageTarget("alertmanager", "http://am:9093", headers=(("X-Scope-OrgID", "lb"),))
    assert ("X-Scope-OrgID", "lb") in render(PAGE, target).headers
    kinds = [PageTarget(k, "http://x") for k in ("pagerduty", "opsgenie", "webhook")]
    assert [False, False, False, True] == [needs_resend(t) for t in [*kinds, target]]


def test_alertmanager_answers_sort_into_sent_rejected_and_later() -> None:
    """200 stored; 400 (invalid alerts) will not change by resending; 5xx is later."""
    assert (SENT, DEAD, RETRY, RETRY) == tuple(
        classify(status, None, "bad").outcome for status in (200, 400, 500, 503))


def test_firing_hold_outlasts_two_of_the_longest_resend_intervals() -> None:
    """One missed re-send (a timer run lost) must not let Alertmanager resolve the FAULT."""
    assert FIRING_HOLD > 2 * MAX_RESEND_INTERVAL


def test_alertmanager_page_without_a_date_is_a_value_error() -> None:
    """render's contract: ValueError makes the outbox dead-letter the item, not crash."""
    for at in (1e20, float("inf"), float("nan"), 1e12):
        with pytest.raises(ValueError):
            render(Page(**{**PAGE.to_dict(), "at": at}), ALERTMANAGER)

"""Providers: the request each pager expects, and how its answer is read."""

from __future__ import annotations

from lbcheck.config import PageTarget
from lbcheck.notify.paging.policy import CRITICAL, INFO, RESOLVE, TRIGGER, Page
from lbcheck.notify.paging.providers import DEAD, RETRY, SENT, classify, parse_retry_after, render

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


def test_answers_sort_into_sent_retry_and_dead() -> None:
    """2xx sent; 400/401/403/404/422 dead; 408, 429, 5xx and redirects retried."""
    assert [SENT, SENT] == [classify(s, None).outcome for s in (200, 202)]
    assert [DEAD] * 5 == [classify(s, None).outcome for s in (400, 401, 403, 404, 422)]
    assert [RETRY] * 5 == [classify(s, None).outcome for s in (408, 429, 500, 503, 302)]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Both RFC 9110 forms of Retry-After; garbage means "no hint"."""
    assert 7.0 == parse_retry_after("7")
    assert 30.0 == parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=0.0)
    assert 0.0 == parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=100.0)
    assert [None, None] == [parse_retry_after(v) for v in ("", "soon")]
    assert 2.0 == classify(429, "2").retry_after

"""How each pager hears a page: PagerDuty Events v2, Opsgenie Alerts v2, Alertmanager API v2,
a JSON webhook.

:func:`render` is pure (page + target → the HTTP request), :func:`send` does the one POST and
sorts the answer into sent / retry later / dead, which is all the outbox needs to know.
``requests`` is imported inside :func:`send`: it costs ~0.1 s, which a hook with a 0.5 s
budget only pays when it really sends.

API facts used here (PagerDuty Events API v2, Opsgenie Alert API):
- PagerDuty: ``POST /v2/enqueue`` with ``routing_key``, ``event_action`` trigger|resolve,
  ``dedup_key`` (≤ 255 chars), ``payload.summary`` (≤ 1024) / ``source`` / ``severity``;
  202 accepted, 400 invalid event, 429 throttled.
- Opsgenie: ``POST /v2/alerts`` (``message`` ≤ 130, ``alias`` ≤ 512, ``priority`` P1..P5,
  ``description``), ``POST /v2/alerts/{alias}/close?identifierType=alias``; header
  ``Authorization: GenieKey KEY``; 202 accepted (processed asynchronously).
- Alertmanager: ``POST /api/v2/alerts`` with a JSON array of alerts (``labels``,
  ``annotations``, ``startsAt``, ``endsAt``: RFC 3339); 200 stored, 400 invalid alerts,
  5xx later. An alert is identified by its label set, and is resolved once its ``endsAt``
  has passed: a firing one must be re-sent before then (:func:`needs_resend`), and a resolve
  is the same labels with ``endsAt`` now. Alerts live in its memory only: a restart forgets
  them until the next re-send.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lbcheck.config import PageTarget
from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, WARNING, Page, fault_key

SENT, RETRY, DEAD = "sent", "retry", "dead"
# Rejections that will not change by sending again; 408/425/429 say "later", not "never".
TRANSIENT_4XX = (408, 425, 429)
OPSGENIE_PRIORITY = {CRITICAL: "P1", WARNING: "P3"}  # info → P5
# How long Alertmanager keeps a FAULT firing without hearing it again: well past two re-send
# intervals (config.MAX_RESEND_INTERVAL), so one missed re-send does not resolve it.
FIRING_HOLD = 300.0
# A notice (takeover, step-down, flap summary) fires this long after it happened, then
# resolves by itself: long enough for Alertmanager's group_wait to route it, and nothing
# will resolve it explicitly.
NOTICE_HOLD = 300.0
FAULT_ALERT, NOTICE_ALERT = "VRRPInstanceFault", "VRRPTransition"
# The pagers that forget an alert unless it is repeated.
RESEND_TYPES = ("alertmanager",)
USER_AGENT = "lbcheck-lbnotify"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True)
class Delivery:
    """What one attempt came to: ``outcome`` is SENT, RETRY or DEAD."""

    outcome: str
    status: int | None = None
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After
    detail: str = ""


def render(page: Page, target: PageTarget) -> HttpRequest:
    """The request ``target`` expects for ``page``."""
    if target.type == "pagerduty":
        return _pagerduty(page, target)
    if target.type == "opsgenie":
        return _opsgenie(page, target)
    if target.type == "alertmanager":
        return _alertmanager(page, target)
    if target.type == "webhook":
        headers = (("Content-Type", "application/json"), *target.headers)
        return HttpRequest("POST", target.url, headers, page.to_dict())
    raise ValueError(f"unknown page target type {target.type!r}")


def needs_resend(target: PageTarget) -> bool:
    """Whether ``target`` must hear an open FAULT again and again to keep it open."""
    return target.type in RESEND_TYPES


def send(request: HttpRequest, timeout: float, session: Any = None) -> Delivery:
    """POST once; never raises for network trouble, only reports it as RETRY."""
    import requests
    from urllib3.util import Timeout

    poster = session if session is not None else requests
    try:
        response = poster.request(
            request.method,
            request.url,
            data=json.dumps(request.body).encode(),
            headers={"User-Agent": USER_AGENT, **dict(request.headers)},
            # total= bounds connect + read together; a (connect, read) pair could take both.
            timeout=Timeout(total=timeout),
            allow_redirects=False,
        )
    except requests.Timeout:
        return Delivery(RETRY, detail=f"no answer within {timeout:.2f} s")
    except requests.RequestException as exc:
        return Delivery(RETRY, detail=_one_line(f"{type(exc).__name__}: {exc}"))
    return classify(response.status_code, response.headers.get("Retry-After"), response.text)


def classify(
    status: int, retry_after: str | None, text: str = "", now: float | None = None
) -> Delivery:
    """2xx sent; permanent 4xx dead; everything else (5xx, 408, 429, 3xx) later."""
    detail = _one_line(text)[:200]
    if 200 <= status < 300:
        return Delivery(SENT, status, detail=detail)
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        return Delivery(DEAD, status, detail=detail)
    return Delivery(RETRY, status, parse_retry_after(retry_after, now), detail)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # ~15 ms: only a throttled answer with a date pays for it

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _pagerduty(page: Page, target: PageTarget) -> HttpRequest:
    body: dict[str, Any] = {
        "routing_key": target.routing_key,
        "event_action": page.action,
        "dedup_key": page.dedup_key,
    }
    if page.action != RESOLVE:
        body["client"] = USER_AGENT
        body["payload"] = {
            "summary": page.summary[:1024],
            "source": page.router,
            "severity": page.severity,
            "component": page.name,
            "group": page.kind.lower(),
            "class": "vrrp",
            "timestamp": datetime.fromtimestamp(page.at, UTC).isoformat(),
            "custom_details": page.details(),
        }
    return HttpRequest("POST", target.url, (("Content-Type", "application/json"),), body)


def _opsgenie(page: Page, target: PageTarget) -> HttpRequest:
    headers = (
        ("Content-Type", "application/json"),
        ("Authorization", f"GenieKey {target.api_key}"),
    )
    base = target.url.rstrip("/")
    if page.action == RESOLVE:
        url = f"{base}/{quote(page.dedup_key, safe='')}/close?identifierType=alias"
        return HttpRequest("POST", url, headers, {"source": page.router, "note": page.summary})
    body = {
        "message": page.summary[:130],
        "alias": page.dedup_key,
        "description": page.summary,
        "priority": OPSGENIE_PRIORITY.get(page.severity, "P5"),
        "source": page.router,
        "entity": page.name,
        "tags": ["lbcheck", "vrrp", page.state.lower()],
        "details": {k: str(v) for k, v in page.details().items() if v is not None},
    }
    return HttpRequest("POST", base, headers, body)


def _alertmanager(page: Page, target: PageTarget, now: float | None = None) -> HttpRequest:
    """One postable alert: FAULT episodes by their labels, notices that resolve themselves.

    A FAULT's ``endsAt`` counts from the sending (``now``), not from the event: a page that
    waited in the outbox must still arrive firing. A resolve repeats the labels with
    ``endsAt`` at the moment FAULT ended.
    """
    now = time.time() if now is None else now
    fault = page.dedup_key == fault_key(page.router, page.kind, page.name)
    labels = {
        "alertname": FAULT_ALERT if fault else NOTICE_ALERT,
        "router": page.router,
        "kind": page.kind,
        "name": page.name,
        "severity": page.severity,
    }
    if not fault:
        labels["state"] = page.state  # a takeover and a step-down are two alerts
    if page.action == RESOLVE:
        ends = page.at
    elif fault:
        ends = max(now, page.at) + FIRING_HOLD
    else:
        ends = page.at + NOTICE_HOLD
    alert = {
        "labels": labels,
        "annotations": {"summary": page.summary, "description": _description(page)},
        "startsAt": _rfc3339(page.at),
        "endsAt": _rfc3339(ends),
    }
    headers = (("Content-Type", "application/json"), *target.headers)
    url = f"{target.url.rstrip('/')}/api/v2/alerts"
    return HttpRequest("POST", url, headers, [alert])


def _description(page: Page) -> str:
    """What on-call reads under the summary: the state as lbnotify last heard it."""
    parts = [f"state {page.state}"]
    if page.previous:
        parts.append(f"was {page.previous}")
    if page.priority is not None:
        parts.append(f"priority {page.priority}")
    if page.suppressed:
        parts.append(f"{page.suppressed} more transition(s) folded into the flap window")
    return f"VRRP {page.kind.lower()} {page.name} on {page.router}: {', '.join(parts)}"


def _rfc3339(at: float) -> str:
    """Epoch seconds as Alertmanager's RFC 3339; ValueError (the page is dead) if no date."""
    try:
        when = datetime.fromtimestamp(at, UTC)
    except (OverflowError, OSError) as exc:  # a hand-edited outbox item: not worth retrying
        raise ValueError(f"time {at!r} is not a date: {exc}") from None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())

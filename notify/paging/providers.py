"""How each pager hears a page: PagerDuty Events v2, Opsgenie Alerts v2, a JSON webhook.

:func:`render` is pure (page + target → the HTTP request), :func:`send` does the one POST and
sorts the answer into sent / retry later / dead, which is all the outbox needs to know.
``requests`` is imported inside :func:`send`: it costs ~0.1 s, which a hook with a 0.5 s
budget only pays when it really sends.

API facts used here (PagerDuty Events API v2, Opsgenie Alert API):
- PagerDuty: ``POST /v2/enqueue`` with ``routing_key``, ``event_action`` trigger|resolve,
  ``dedup_key`` (≤ 255 chars), ``payload.summary`` (≤ 1024) / ``source`` / ``severity``;
  202 accepted, 400 invalid event, 429 throttled. Change events: ``POST /v2/change/enqueue``
  with ``routing_key`` and ``payload.summary`` (≤ 1024) / ``timestamp`` / ``source``: shown on
  the service's timeline, never an incident, nothing to resolve.
- Opsgenie: ``POST /v2/alerts`` (``message`` ≤ 130, ``alias`` ≤ 512, ``priority`` P1..P5,
  ``description`` ≤ 15,000, ``source`` ≤ 100, ``entity`` ≤ 512),
  ``POST /v2/alerts/{alias}/close?identifierType=alias``; header ``Authorization: GenieKey
  KEY``; 202 accepted (processed asynchronously).

Limits are characters; :mod:`.text` counts them strictly and shortens names, not verbs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lbcheck.config import PageTarget
from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, Page
from lbcheck.notify.paging.text import fit, middle

SENT, RETRY, DEAD = "sent", "retry", "dead"
# Rejections that will not change by sending again; 408/425/429 say "later", not "never".
TRANSIENT_4XX = (408, 425, 429)
# Opsgenie: FAULT wakes someone (P1); notices (takeover, fall-back, flap summary) are P5,
# news on-call reads when they look, like PagerDuty's change events.
OPSGENIE_PRIORITY = {CRITICAL: "P1"}  # notices → P5
PAGERDUTY_SUMMARY, OPSGENIE_MESSAGE, OPSGENIE_DESCRIPTION = 1024, 130, 15_000
OPSGENIE_SOURCE, OPSGENIE_ENTITY = 100, 512
USER_AGENT = "lbcheck-lbnotify"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: dict[str, Any]


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
    if target.type == "webhook":
        headers = (("Content-Type", "application/json"), *target.headers)
        return HttpRequest("POST", target.url, headers, {**page.to_dict(), "at_iso": _iso(page)})
    raise ValueError(f"unknown page target type {target.type!r}")


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
    """Events v2: FAULT as an incident (trigger, resolve); notices as change events."""
    headers = (("Content-Type", "application/json"),)
    summary = _fit(page, PAGERDUTY_SUMMARY)
    change_url = pagerduty_change_url(target.url)
    if page.informational and change_url is not None:
        details = {**page.details(), "severity": page.severity}
        payload = {"summary": summary, "source": page.router, "timestamp": _iso(page),
                   "custom_details": details}
        return HttpRequest("POST", change_url, headers,
                           {"routing_key": target.routing_key, "payload": payload})
    body: dict[str, Any] = {
        "routing_key": target.routing_key,
        "event_action": page.action,
        "dedup_key": page.dedup_key,
    }
    if page.action != RESOLVE:
        body["client"] = USER_AGENT
        body["payload"] = {
            "summary": summary,
            "source": page.router,
            "severity": page.severity,
            "component": page.name,
            "group": page.kind.lower(),
            "class": "vrrp",
            "timestamp": _iso(page),
            "custom_details": page.details(),
        }
    return HttpRequest("POST", target.url, headers, body)


def pagerduty_change_url(url: str) -> str | None:
    """``…/v2/enqueue`` → ``…/v2/change/enqueue`` (also a proxy's or a test receiver's).

    None when the configured URL does not end in ``/enqueue``: a notice then goes out as a
    trigger at info/warning severity as before, rather than to a guessed address.
    """
    stem = url.rstrip("/")
    if not stem.endswith("/enqueue") or stem.endswith("/change/enqueue"):
        return None
    return f"{stem.removesuffix('enqueue')}change/enqueue"


def _opsgenie(page: Page, target: PageTarget) -> HttpRequest:
    """Alerts v2. The message leads with the state and fits 130 characters by shortening the
    names; the full text, the event time and the details are in description and details."""
    headers = (
        ("Content-Type", "application/json"),
        ("Authorization", f"GenieKey {target.api_key}"),
    )
    base = target.url.rstrip("/")
    source = middle(page.router, OPSGENIE_SOURCE)
    if page.action == RESOLVE:
        url = f"{base}/{quote(page.dedup_key, safe='')}/close?identifierType=alias"
        note = middle(f"{page.summary}\n{_when(page)}", OPSGENIE_DESCRIPTION)
        return HttpRequest("POST", url, headers, {"source": source, "note": note})
    details = {k: str(v) for k, v in page.details().items() if v is not None}
    details["event_time"] = _iso(page)
    lines = [page.summary, _when(page), *(f"{k}: {v}" for k, v in details.items())]
    tags = ["lbcheck", "vrrp", page.state.lower()] + (["notice"] if page.informational else [])
    body = {
        "message": _fit(page, OPSGENIE_MESSAGE),
        "alias": page.dedup_key,
        "description": middle("\n".join(lines), OPSGENIE_DESCRIPTION),
        "priority": OPSGENIE_PRIORITY.get(page.severity, "P5"),
        "source": source,
        "entity": middle(page.name, OPSGENIE_ENTITY),
        "tags": tags,
        "details": details,
    }
    return HttpRequest("POST", base, headers, body)


def _fit(page: Page, limit: int) -> str:
    """The summary within ``limit`` characters, names shortened so the state word stays."""
    return fit(page.summary, (page.name, page.router), limit)


def _iso(page: Page) -> str:
    """When keepalived told us: a page delivered late by the sender must not look current."""
    return datetime.fromtimestamp(page.at, UTC).isoformat()


def _when(page: Page) -> str:
    """The event time as on-call reads it: "at 14:03:07 UTC on 2025-06-01"."""
    when = datetime.fromtimestamp(page.at, UTC)
    return f"at {when:%H:%M:%S} UTC on {when:%Y-%m-%d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())

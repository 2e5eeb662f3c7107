"""How each pager hears a page: PagerDuty Events v2, Opsgenie Alerts v2, Alertmanager API v2,
a JSON webhook.

:func:`render` is pure (page + target → the HTTP request), :func:`send` does the one POST
(bounded in time and bytes by :mod:`.transport`) and sorts the answer into sent / retry
later / rejected (our key or address: kept, retried slowly) / dead (the payload: never),
which is all the outbox needs to know.
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
- Alertmanager: ``POST /api/v2/alerts`` with a JSON array of alerts (``labels``,
  ``annotations``, ``startsAt``, ``endsAt``: RFC 3339); 200 stored, 400 invalid alerts,
  5xx later. An alert is identified by its label set, and is resolved once its ``endsAt``
  has passed: a firing one must be re-sent before then (:func:`needs_resend`), and a resolve
  is the same labels with ``endsAt`` now. Alerts live in its memory only: a restart forgets
  them until the next re-send.

Limits are characters; :mod:`.text` counts them strictly and shortens names, not verbs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lbcheck.config import PageTarget
from lbcheck.notify.paging.pair import ALERT_NAMES
from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, VIP, Page, fault_key
from lbcheck.notify.paging.text import fit, middle
from lbcheck.redact import redact, url_secrets

SENT, RETRY, REJECTED, DEAD = "sent", "retry", "rejected", "dead"
# 408/425/429 say "later", not "never".
TRANSIENT_4XX = (408, 425, 429)
# The pager refuses *us*, not the page: a rotated or revoked key (401, 403), a disabled
# integration or a wrong region (404, 410). The operator fixes the config and the page must
# still be there, so these wait (slowly, loudly) instead of going to dead/.
REJECTED_STATUSES = (401, 403, 404, 410)
KEY_WORDS = ("routing_key", "routing key", "integration key", "api key", "api_key",
             "genie", "token", "unauthori", "forbidden")
MAX_REPLY_SCAN = 4096
MAX_DETAIL = 200
MAX_RETRY_AFTER = 86_400.0  # a day: past that a Retry-After is a bug, not a plan
# Opsgenie: FAULT wakes someone (P1); notices (takeover, fall-back, flap summary) are P5,
# news on-call reads when they look, like PagerDuty's change events.
OPSGENIE_PRIORITY = {CRITICAL: "P1"}  # notices → P5
PAGERDUTY_SUMMARY, OPSGENIE_MESSAGE, OPSGENIE_DESCRIPTION = 1024, 130, 15_000
OPSGENIE_SOURCE, OPSGENIE_ENTITY = 100, 512
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
    """What one attempt came to: ``outcome`` is SENT, RETRY, REJECTED or DEAD."""

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
        return HttpRequest("POST", target.url, headers, {**page.to_dict(), "at_iso": _iso(page)})
    raise ValueError(f"unknown page target type {target.type!r}")


def needs_resend(target: PageTarget) -> bool:
    """Whether ``target`` must hear an open FAULT again and again to keep it open."""
    return target.type in RESEND_TYPES


def send(
    request: HttpRequest, timeout: float, session: Any = None, secrets: Sequence[str] = ()
) -> Delivery:
    """POST once within ``timeout`` s of wall clock; network trouble is RETRY, never raised.

    ``secrets`` (the target's keys and URL credentials) are masked in the detail, which ends
    up in log lines and the item's ``last_error``.
    """
    import requests

    from lbcheck.notify.paging import transport

    own = session is None
    session = transport.new_session() if own else session
    try:
        reply = transport.post(
            session, request.url, json.dumps(request.body).encode(),
            {"User-Agent": USER_AGENT, **dict(request.headers)}, timeout)
    except (transport.DeadlinePassed, requests.Timeout):
        return Delivery(RETRY, detail=f"no answer within {timeout:.2f} s")
    except (requests.RequestException, OSError, ValueError) as exc:
        detail = _one_line(f"{type(exc).__name__}: {exc}")
        return Delivery(RETRY, detail=redact(detail, secrets)[:MAX_DETAIL])
    finally:
        if own:
            session.close()
    text = redact(reply.body.decode("utf-8", errors="replace"), secrets)
    return classify(reply.status, reply.headers.get("Retry-After"), text)


def target_secrets(target: PageTarget) -> list[str]:
    """What must never reach a log line: keys, header values, credentials in the URL."""
    found = [target.routing_key, target.api_key, *(value for _, value in target.headers)]
    return [s for s in found if s] + url_secrets(target.url)


def classify(
    status: int, retry_after: str | None, text: str = "", now: float | None = None
) -> Delivery:
    """2xx sent; a key or address refused: REJECTED (kept, retried slowly); a payload
    refused: DEAD; everything else (5xx, 408, 425, 429, 3xx) RETRY."""
    detail = _one_line(text)[:MAX_DETAIL]
    if 200 <= status < 300:
        return Delivery(SENT, status, detail=detail)
    if status in REJECTED_STATUSES or (status == 400 and _about_a_key(text)):
        return Delivery(REJECTED, status, detail=detail)
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        return Delivery(DEAD, status, detail=detail)
    return Delivery(RETRY, status, parse_retry_after(retry_after, now), detail)


def _about_a_key(text: str) -> bool:
    """A 400 naming the key (PagerDuty: "Length of 'routing_key' is incorrect") is the
    operator's to fix, not the page's fault."""
    lowered = text[:MAX_REPLY_SCAN].lower()
    return any(word in lowered for word in KEY_WORDS)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    Anything else (``²`` passes ``isdigit``, not ``float``; a year 9999 date; ``1e400``) is
    ignored: our own backoff applies. The result is finite and at most MAX_RETRY_AFTER.
    """
    if not value:
        return None
    value = value.strip()[:64]
    if value.isascii() and value.isdecimal():
        return min(float(value), MAX_RETRY_AFTER)
    import email.utils  # ~15 ms: only a throttled answer with a date pays for it

    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, delay), MAX_RETRY_AFTER) if math.isfinite(delay) else None


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


def _alertmanager(page: Page, target: PageTarget, now: float | None = None) -> HttpRequest:
    """One postable alert: FAULT episodes by their labels, notices that resolve themselves.

    A FAULT's ``endsAt`` counts from the sending (``now``), not from the event: a page that
    waited in the outbox must still arrive firing. A resolve repeats the labels with
    ``endsAt`` at the moment FAULT ended.
    """
    now = time.time() if now is None else now
    if page.kind == VIP:
        return _alertmanager_vip(page, target, now)
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


def _alertmanager_vip(page: Page, target: PageTarget, now: float) -> HttpRequest:
    """A pair condition as one alert for the pair: no ``router`` label, so both nodes'
    triggers are the same alert and either's resolve ends it. Kept firing like a FAULT."""
    labels = {"alertname": ALERT_NAMES.get(page.state, "VIPHolders"), "vip": page.name,
              "severity": page.severity}
    ends = page.at if page.action == RESOLVE else max(now, page.at) + FIRING_HOLD
    alert = {
        "labels": labels,
        "annotations": {"summary": page.summary,
                        "description": f"VIP {page.name}: {page.state}, seen from "
                                       f"{page.router}"},
        "startsAt": _rfc3339(page.at),
        "endsAt": _rfc3339(ends),
    }
    headers = (("Content-Type", "application/json"), *target.headers)
    return HttpRequest("POST", f"{target.url.rstrip('/')}/api/v2/alerts", headers, [alert])


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


def _fit(page: Page, limit: int) -> str:
    """The summary within ``limit`` characters, names shortened so the state word stays.

    A VIP page's name is the address, which on-call needs whole: only the host is shortened
    (and, should that not do, the text in its middle, which keeps its head: the condition
    and the address).
    """
    return fit(page.summary, (page.router,) if page.kind == VIP else (page.name, page.router),
               limit)


def _iso(page: Page) -> str:
    """When keepalived told us: a page delivered late by the sender must not look current."""
    return datetime.fromtimestamp(page.at, UTC).isoformat()


def _when(page: Page) -> str:
    """The event time as on-call reads it: "at 14:03:07 UTC on 2025-06-01"."""
    when = datetime.fromtimestamp(page.at, UTC)
    return f"at {when:%H:%M:%S} UTC on {when:%Y-%m-%d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())

"""Active HTTP probe through the real data path (the frontend a client would hit).

`requests` is imported here and only here: it costs more to import than the whole
haproxy check, which must stay light.

The URL may carry credentials (``http://admin:pw@…``, ``?token=…``): every reason names it
redacted (lbcheck.redact), and what requests says about it has those secrets masked, since
reasons are printed and logged.
"""

from __future__ import annotations

from lbcheck.deadline import Deadline
from lbcheck.outcome import ProbeError, Sample, State


def probe(url: str, deadline: Deadline, status: int | None = None,
          contains: str | None = None) -> Sample:
    import requests

    from lbcheck.redact import redact, redact_url, url_secrets

    shown = redact_url(url)
    secrets = url_secrets(url)
    try:
        response = requests.get(url, timeout=deadline.timeout(), allow_redirects=False)
    except requests.exceptions.Timeout:
        raise ProbeError(State.CRITICAL, f"{shown}: no answer within "
                         f"{deadline.seconds:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        raise ProbeError(State.CRITICAL, f"{shown}: cannot connect "
                         f"({redact(_root_cause(exc), secrets)})") from None
    except (requests.exceptions.RequestException, ValueError) as exc:  # UnicodeError: IDNA
        raise ProbeError(State.UNKNOWN, f"{shown}: {redact(str(exc), secrets)}") from None
    ok_status = response.status_code == status if status else response.status_code < 400
    metrics = (("status", float(response.status_code)),)
    if not ok_status:
        wanted = str(status) if status else "< 400"
        return Sample("http", State.CRITICAL, f"{shown} answered {response.status_code}, "
                      f"expected {wanted}", metrics=metrics)
    if contains is not None and contains not in response.text:
        return Sample("http", State.CRITICAL, f"{shown} answered {response.status_code} but the "
                      f"body lacks {contains!r}", metrics=metrics)
    return Sample("http", State.OK, f"{shown} answered {response.status_code}", metrics=metrics)


def _root_cause(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return str(exc).split(": ", 1)[-1][:120]

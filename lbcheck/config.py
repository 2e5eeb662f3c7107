"""The optional TOML config shared by `lbcheck` and `lbnotify` (docs/checks.md, docs/notify.md).

Every key is optional and CLI flags win. The file is only parsed when it exists, so the
every-second check pays for ``tomllib`` only on machines that use a config file.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any, NamedTuple

DEFAULT_PATH = "/etc/lbcheck/lbcheck.toml"
DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_PIDFILE = "/run/haproxy.pid"
MAX_CONFIG = 1 << 20  # bytes; a real lbcheck.toml is ~2 KB: /dev/zero or a log is not one

PAGE_TYPES = ("pagerduty", "opsgenie", "webhook", "alertmanager")
DEFAULT_PAGE_URLS = {
    "pagerduty": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie": "https://api.opsgenie.com/v2/alerts",
    "webhook": "",
    "alertmanager": "",  # every site runs its own: http://HOST:9093
}
# What a target cannot work without: loading it anyway dead-letters (or refuses) every page.
REQUIRED_KEYS = {"pagerduty": ("routing_key",), "opsgenie": ("api_key",)}
PAGERDUTY_KEY_LENGTH = 32  # Events API v2: "should be 32 characters"
# Alertmanager resolves an alert nobody re-sends once its endsAt passes; lbnotify sets endsAt
# 300 s ahead (providers.FIRING_HOLD), so re-sending at most every 120 s survives one miss.
MAX_RESEND_INTERVAL = 120.0
# Numbers with a range that makes sense (section, key) → (low, high); others are ≥ 0.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("announce", "count"): (1, 100),
    ("announce", "interval"): (0, 60),
    ("page", "budget"): (0.01, 600),
    # Alertmanager forgets an alert not re-sent within its endsAt (300 s ahead): past 120 s,
    # one missed re-send would resolve an open FAULT.
    ("page", "resend_interval"): (1, MAX_RESEND_INTERVAL),
    # 0 is off; otherwise a round (the probe's 0.25 s wait and its margin) must fit twice.
    ("vips", "watch_interval"): (0, 60),
    ("vips", "settle"): (0, 300),
    ("vips", "rounds"): (1, 100),
}
MIN_WATCH_INTERVAL = 0.5
# Paths lbnotify/lbcheck write as root: relative ones would land in whatever directory
# keepalived happened to start us in.
ABSOLUTE_PATHS = (("check", "state_dir"), ("notify", "state_dir"), ("page", "outbox"))
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Atlassian turns Opsgenie off; its REST API (what an opsgenie target posts to) ends then.
OPSGENIE_SUNSET = (
    "Opsgenie's REST API ends on 2027-04-05 (Atlassian is turning Opsgenie off): move the "
    "opsgenie [[page.target]] to PagerDuty, Alertmanager or a webhook before then"
)


class ConfigError(Exception):
    """The config file is unreadable, not TOML, or holds a key we do not know."""


class HaproxySection(NamedTuple):
    socket: str = DEFAULT_SOCKET
    pidfile: str | None = None
    master_socket: str | None = None


class KeepalivedSection(NamedTuple):
    config: str = "/etc/keepalived/keepalived.conf"


class LogSection(NamedTuple):
    target: str = "syslog"  # syslog | stderr | /path/to/file.jsonl
    format: str = "json"  # json | logfmt


class CheckSection(NamedTuple):
    state_dir: str = "/run/lbcheck"


class AnnounceSection(NamedTuple):
    count: int = 3  # type: ignore[assignment]  # shadows tuple.count; the key is docs/notify.md's
    interval: float = 0.5


class PageTarget(NamedTuple):
    type: str
    url: str
    routing_key: str = ""  # PagerDuty
    api_key: str = ""  # Opsgenie (GenieKey)
    headers: tuple[tuple[str, str], ...] = ()  # webhook


class PageSection(NamedTuple):
    outbox: str = "/var/lib/lbcheck/outbox"
    budget: float = 0.5
    flap_window: float = 60.0
    # Seconds the detached sender keeps retrying what a hook could not deliver; 0 = no sender.
    sender_give_up: float = 900.0
    # Seconds between re-sends of an open FAULT to targets that forget what is not re-sent
    # (Alertmanager), by the FIFO reader's idle time and `lbnotify flush` (the timer's minute).
    resend_interval: float = 60.0
    targets: tuple[PageTarget, ...] = ()


class NotifySection(NamedTuple):
    state_dir: str = "/var/lib/lbcheck/state"
    metrics_file: str = ""  # a Prometheus textfile (node_exporter's textfile collector); "" = off


class VipsSection(NamedTuple):
    """The FIFO reader's watch of who holds each VIP (docs/notify.md, "The pair watch")."""

    watch_interval: float = 2.0  # seconds between rounds; 0 = off
    # Seconds after a local transition during which the condition that transition can cause
    # for a moment is not counted (split after becoming MASTER, no holder after leaving it).
    # Measured (keepalived 2.2.7, advert_int 1): a planned takeover leaves the VIP on no node
    # for 0.64 s (the skew time) and on two for less than the 70 ms we could see; a peer that
    # missed the priority-0 advert takes over after 3 x advert_int + skew (3.4 s); the last
    # act of a takeover is the second GARP burst at garp_master_delay (5 s). 6 s covers them
    # all, and still pages "held by no node" within 10 s of both nodes' FAULT.
    settle: float = 6.0
    rounds: int = 2  # consecutive rounds a condition must be seen to page, or to resolve


class Config(NamedTuple):
    path: str | None = None
    haproxy: HaproxySection = HaproxySection()
    keepalived: KeepalivedSection = KeepalivedSection()
    log: LogSection = LogSection()
    check: CheckSection = CheckSection()
    announce: AnnounceSection = AnnounceSection()
    page: PageSection = PageSection()
    notify: NotifySection = NotifySection()
    vips: VipsSection = VipsSection()

    @property
    def holds_secrets(self) -> bool:
        """Keys, header values or a URL with credentials (a webhook's token is its key)."""
        from lbcheck.redact import url_has_credentials

        return any(t.routing_key or t.api_key or t.headers or url_has_credentials(t.url)
                   for t in self.page.targets)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What lbnotify tells the operator at start-up: valid today, a problem later.

        A property, not a load-time side effect: the loader is shared with the every-second
        ``lbcheck`` check, which must neither pay for nor print lbnotify's concerns.
        """
        if any(t.type == "opsgenie" for t in self.page.targets):
            return (OPSGENIE_SUNSET,)
        return ()


def locate(explicit: str | None = None) -> str | None:
    """The config path in force: ``--config``, then ``$LBCHECK_CONFIG``, then the default."""
    if explicit:
        return explicit
    from_env = os.environ.get("LBCHECK_CONFIG")
    if from_env:
        return from_env
    return DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None


def load(explicit: str | None = None) -> Config:
    """Read the config in force, or the defaults when there is none."""
    path = locate(explicit)
    if path is None:
        return Config()
    import tomllib

    from lbcheck.files import read_regular

    try:
        data = read_regular(path, MAX_CONFIG, follow_links=True)
        raw = tomllib.loads(data.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config {path} nests tables or arrays too deeply") from None
    return from_mapping(raw, path)


def from_mapping(raw: dict[str, Any], path: str | None = None) -> Config:
    where = path or "config"
    _only(raw, where, "haproxy", "keepalived", "log", "check", "announce", "page", "notify",
          "vips")
    if not isinstance(raw.get("page", {}), dict):
        raise ConfigError(f"{where}: [page] must be a table")
    page = dict(raw.get("page", {}))
    listed = page.pop("target", [])
    if not isinstance(listed, list):
        raise ConfigError(f"{where}: page targets are [[page.target]] tables, not {listed!r}")
    targets = tuple(_target(t, where) for t in listed)
    config = Config(
        path=path,
        haproxy=_section(HaproxySection, raw, "haproxy", where),
        keepalived=_section(KeepalivedSection, raw, "keepalived", where),
        log=_section(LogSection, raw, "log", where),
        check=_section(CheckSection, raw, "check", where),
        announce=_section(AnnounceSection, raw, "announce", where),
        page=_section(PageSection, {"page": page}, "page", where, targets=targets),
        notify=_section(NotifySection, raw, "notify", where),
        vips=_section(VipsSection, raw, "vips", where),
    )
    if config.log.format not in ("json", "logfmt"):
        raise ConfigError(
            f"{where}: [log] format must be json or logfmt, not {config.log.format!r}")
    _check_paths(config, where)
    interval = config.vips.watch_interval
    if 0 < interval < MIN_WATCH_INTERVAL:
        raise ConfigError(f"{where} [vips] watch_interval: 0 (off) or {MIN_WATCH_INTERVAL:g}"
                          f"..60 seconds, not {interval!r}")
    return config


def _check_paths(config: Config, where: str) -> None:
    for section, key in ABSOLUTE_PATHS:
        value = getattr(getattr(config, section), key)
        if not os.path.isabs(value):
            raise ConfigError(f"{where} [{section}] {key}: needs an absolute path, not {value!r}")
    if config.notify.metrics_file and not os.path.isabs(config.notify.metrics_file):
        raise ConfigError(f"{where} [notify] metrics_file: needs an absolute path (or \"\" "
                          f"for none), not {config.notify.metrics_file!r}")
    target = config.log.target
    if target not in ("syslog", "stderr") and not os.path.isabs(target):
        raise ConfigError(f"{where} [log] target: syslog, stderr or an absolute file path, "
                          f"not {target!r}")
    if target not in ("syslog", "stderr") and os.path.isdir(target):
        raise ConfigError(f"{where} [log] target: {target} is a directory; name a file in it")


def check_secret_permissions(config: Config) -> None:
    """A file that holds a routing or API key must be root's alone (like /etc/shadow)."""
    if not (config.path and config.holds_secrets):
        return
    info = os.stat(config.path)
    if info.st_uid != 0 or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{config.path} holds paging keys but is "
            f"{'not owned by root' if info.st_uid != 0 else 'readable by group/others'}: "
            f"run `chown root:root {config.path} && chmod 600 {config.path}`"
        )


def _only(table: dict[str, Any], where: str, *known: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        shown = ", ".join(key if key.isprintable() else repr(key) for key in unknown)
        raise ConfigError(f"{where}: unknown key(s) {shown}; known: {', '.join(known)}")


def _section(cls: Any, raw: dict[str, Any], name: str, where: str, **extra: Any) -> Any:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    known = [f for f in cls._fields if f not in extra]
    _only(table, f"{where} [{name}]", *known)
    for key, value in table.items():
        default = cls._field_defaults.get(key)
        if isinstance(default, (int, float)):
            _check_number(value, isinstance(default, int), (name, key), f"{where} [{name}] {key}")
        if (default is None or isinstance(default, str)) and not isinstance(value, str):
            raise ConfigError(f"{where} [{name}] {key}: expected a string, got {value!r}")
        if isinstance(value, str) and "\0" in value:
            raise ConfigError(f"{where} [{name}] {key}: contains a NUL character")
    return cls(**table, **extra)


def _check_number(value: Any, integer: bool, field: tuple[str, str], where: str) -> None:
    """Finite, in range, and an integer where a count is meant (``true`` is no number)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ConfigError(f"{where}: expected {kind}, got {value!r}")
    low, high = RANGES.get(field, (0, math.inf))
    if not (math.isfinite(value) and low <= value <= high):
        span = f"in {low:g}..{high:g}" if math.isfinite(high) else f"of {low:g} or more"
        raise ConfigError(f"{where}: expected {kind} {span}, got {value!r}")


def _target(raw: Any, where: str) -> PageTarget:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [[page.target]] must be a table")
    _only(raw, f"{where} [[page.target]]", "type", "url", "routing_key", "api_key", "headers")
    kind = raw.get("type")
    if kind not in PAGE_TYPES:
        raise ConfigError(f"{where}: [[page.target]] type must be one of {', '.join(PAGE_TYPES)}")
    here = f"{where} [[page.target]] type = {kind!r}"
    for key in ("url", "routing_key", "api_key"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(f"{here}: {key} must be a string")
    url = raw.get("url") or DEFAULT_PAGE_URLS[kind]
    if not url:
        raise ConfigError(f"{here}: needs a url")
    _check_url(url, here)
    for key in REQUIRED_KEYS.get(kind, ()):
        value = raw.get(key, "")
        if not value or any(c.isspace() or not c.isprintable() for c in value):
            raise ConfigError(f"{here}: needs {key} (without spaces): every page would be "
                              "refused without it")
    routing_key = raw.get("routing_key", "")
    if kind == "pagerduty" and len(routing_key) != PAGERDUTY_KEY_LENGTH:
        raise ConfigError(f"{here}: routing_key has {len(routing_key)} characters; "
                          f"PagerDuty's integration keys have {PAGERDUTY_KEY_LENGTH}")
    return PageTarget(
        type=kind,
        url=url,
        routing_key=routing_key,
        api_key=raw.get("api_key", ""),
        headers=_headers(raw.get("headers", {}), here),
    )


def _check_url(url: str, where: str) -> None:
    """http(s)://host[:port]/…, nothing a request could not be sent to."""
    from urllib.parse import urlsplit

    from lbcheck.redact import redact_url

    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or not port_ok or any(c.isspace() or not c.isprintable() for c in url)):
        raise ConfigError(f"{where}: url {redact_url(url)!r} is not an http(s)://host/… URL")


def _headers(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: headers must be a table")
    for name, value in raw.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(f"{where}: {name[:40]!r} is not an HTTP header name")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{where}: header {name}: the value must be one line of text")
    return tuple(sorted(raw.items()))

"""The optional TOML config shared by `lbcheck` and `lbnotify` (schema in DESIGN.md).

Every key is optional and CLI flags win. The file is only parsed when it exists, so the
every-second check pays for ``tomllib`` only on machines that use a config file.
"""

from __future__ import annotations

import os
import stat
from typing import Any, NamedTuple

DEFAULT_PATH = "/etc/lbcheck/lbcheck.toml"
DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_PIDFILE = "/run/haproxy.pid"

PAGE_TYPES = ("pagerduty", "opsgenie", "webhook", "alertmanager")
DEFAULT_PAGE_URLS = {
    "pagerduty": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie": "https://api.opsgenie.com/v2/alerts",
    "webhook": "",
    "alertmanager": "",  # every site runs its own: http://HOST:9093
}
# Alertmanager resolves an alert nobody re-sends once its endsAt passes; lbnotify sets endsAt
# 300 s ahead (providers.FIRING_HOLD), so re-sending at most every 120 s survives one miss.
MAX_RESEND_INTERVAL = 120.0
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
    count: int = 3  # type: ignore[assignment]  # shadows tuple.count; the key is DESIGN's
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


class Config(NamedTuple):
    path: str | None = None
    haproxy: HaproxySection = HaproxySection()
    keepalived: KeepalivedSection = KeepalivedSection()
    log: LogSection = LogSection()
    check: CheckSection = CheckSection()
    announce: AnnounceSection = AnnounceSection()
    page: PageSection = PageSection()
    notify: NotifySection = NotifySection()

    @property
    def holds_secrets(self) -> bool:
        return any(t.routing_key or t.api_key or t.headers for t in self.page.targets)

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

    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    return from_mapping(raw, path)


def from_mapping(raw: dict[str, Any], path: str | None = None) -> Config:
    where = path or "config"
    _only(raw, where, "haproxy", "keepalived", "log", "check", "announce", "page", "notify")
    if not isinstance(raw.get("page", {}), dict):
        raise ConfigError(f"{where}: [page] must be a table")
    page = dict(raw.get("page", {}))
    targets = tuple(_target(t, where) for t in page.pop("target", []))
    config = Config(
        path=path,
        haproxy=_section(HaproxySection, raw, "haproxy", where),
        keepalived=_section(KeepalivedSection, raw, "keepalived", where),
        log=_section(LogSection, raw, "log", where),
        check=_section(CheckSection, raw, "check", where),
        announce=_section(AnnounceSection, raw, "announce", where),
        page=_section(PageSection, {"page": page}, "page", where, targets=targets),
        notify=_section(NotifySection, raw, "notify", where),
    )
    if config.page.sender_give_up < 0:
        raise ConfigError(f"{where}: [page] sender_give_up must be 0 (no sender) or more seconds")
    if not 0 < config.page.resend_interval <= MAX_RESEND_INTERVAL:
        raise ConfigError(f"{where}: [page] resend_interval must be more than 0 and at most "
                          f"{MAX_RESEND_INTERVAL:g} seconds (Alertmanager forgets alerts not "
                          "re-sent within 300 s)")
    if config.log.format not in ("json", "logfmt"):
        raise ConfigError(f"{where}: [log] format must be json or logfmt, not {config.log.format!r}")
    return config


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
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")


def _section(cls: Any, raw: dict[str, Any], name: str, where: str, **extra: Any) -> Any:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    known = [f for f in cls._fields if f not in extra]
    _only(table, f"{where} [{name}]", *known)
    for key, value in table.items():
        default = cls._field_defaults.get(key)
        if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            raise ConfigError(f"{where} [{name}] {key}: expected a number, got {value!r}")
        if (default is None or isinstance(default, str)) and not isinstance(value, str):
            raise ConfigError(f"{where} [{name}] {key}: expected a string, got {value!r}")
    return cls(**table, **extra)


def _target(raw: Any, where: str) -> PageTarget:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [[page.target]] must be a table")
    _only(raw, f"{where} [[page.target]]", "type", "url", "routing_key", "api_key", "headers")
    kind = raw.get("type")
    if kind not in PAGE_TYPES:
        raise ConfigError(f"{where}: [[page.target]] type must be one of {', '.join(PAGE_TYPES)}")
    url = raw.get("url") or DEFAULT_PAGE_URLS[kind]
    if not url:
        raise ConfigError(f"{where}: a {kind} [[page.target]] needs a url")
    if not isinstance(raw.get("headers", {}), dict):
        raise ConfigError(f"{where}: [[page.target]] headers must be a table")
    headers = tuple(sorted((str(k), str(v)) for k, v in raw.get("headers", {}).items()))
    return PageTarget(
        type=kind,
        url=url,
        routing_key=str(raw.get("routing_key", "")),
        api_key=str(raw.get("api_key", "")),
        headers=headers,
    )

"""Which addresses an instance holds, from keepalived.conf: what `lbnotify` announces.

Both lists count: `virtual_ipaddress` (advertised) and `virtual_ipaddress_excluded` (moved
with the instance but not advertised — where dual-stack configs keep their IPv6 VIPs).

The config is read as keepalived reads it, not as lint judges it: keepalived runs with a
missing include ("Config files missing"), an extra brace or an unterminated quote, so the
hooks that act for it must too — refusing would leave a new master silent, or a dead one's
addresses on the wire. What keepalived skips they skip, and each skip becomes one warning in
the hook's report; every VIP that can be found is acted on. The reading is bounded (regular
files only, sizes and include expansion limited: see keepalived_conf.grammar), because these
hooks run as root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from lbcheck.keepalived_conf import KeepalivedConfig

MAX_WARNINGS = 20  # lines in one report; the rest is counted


class VipError(Exception):
    """The config cannot be read at all, or names no such instance."""


class Vips(NamedTuple):
    addresses: list[tuple[str, str | None]]  # (address, device); device None: wherever it is
    warnings: list[str]  # what keepalived reads around, as `file:line: message`


def load_config(config_path: str) -> KeepalivedConfig:
    """keepalived.conf read through the model, tolerantly; VipError only when the file itself
    cannot be read (keepalived would not have started with it either)."""
    from lbcheck.keepalived_conf import KeepalivedConfError, load

    try:
        return load(config_path, tolerant=True)
    except KeepalivedConfError as exc:
        raise VipError(str(exc)) from None
    except OSError as exc:
        raise VipError(f"cannot read {config_path}: {exc.strerror}") from None


def warnings(config: KeepalivedConfig) -> list[str]:
    """One line per thing read around, at most MAX_WARNINGS (then how many more)."""
    lines = [f"{p.file}:{p.line}: {p.message}" for p in config.problems]
    if len(lines) > MAX_WARNINGS:
        lines = [*lines[:MAX_WARNINGS], f"… and {len(lines) - MAX_WARNINGS} more"]
    return lines


def instance_vips(config_path: str, name: str) -> Vips:
    """(address, device) for every VIP of ``name`` that could be read, and the warnings."""
    config = load_config(config_path)
    instance = config.instance(name)
    if instance is None:
        skipped = warnings(config)
        raise VipError(f"no vrrp_instance {name} in {config_path}"
                       + (f" (read around: {'; '.join(skipped)})" if skipped else ""))
    vips = []
    for vip in (*instance.vips, *instance.excluded_vips):
        if vip.address is not None:
            vips.append((str(vip.address.ip), vip.dev or instance.interface))
    return Vips(vips, warnings(config))

"""Every VIP of a keepalived.conf, where keepalived puts it: what both halves act on.

The notify half announces an instance's VIPs; the check half asks the segment who holds
them. Both read the config as keepalived reads it, not as lint judges it: keepalived runs with
a missing include ("Config files missing"), an extra brace or an unterminated quote, so what
acts for it must too. The reading is bounded (regular files only, sizes and include expansion
limited: see keepalived_conf.grammar), because the hooks run as root.

Both lists count: ``virtual_ipaddress`` (advertised) and ``virtual_ipaddress_excluded``
(moved with the instance but not advertised — where dual-stack configs keep their IPv6
VIPs). Not listed: entries keepalived could not parse, and the ``virtual_ipaddress`` entries of
the other address family, which keepalived drops ("address family must match VRRP instance",
lint's KA001) — no node ever holds them, so asking about them could only raise an alarm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from lbcheck.keepalived_conf.model import Instance, KeepalivedConfig

MAX_WARNINGS = 20  # lines in one report; the rest is counted


class VipError(Exception):
    """The config cannot be read at all, or names no such instance."""


class Vip(NamedTuple):
    instance: str
    address: str  # without the prefix length: "192.0.2.10", "2001:db8:1::10"
    interface: str  # the VIP's own `dev`, else its instance's `interface`; "" when neither


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


def all_vips(config: KeepalivedConfig) -> list[Vip]:
    """Every VIP of every instance, in config order (an address twice stays twice)."""
    return [vip for instance in config.instances for vip in instance_vips(instance)]


def instance_vips(instance: Instance) -> list[Vip]:
    """The VIPs keepalived configures for ``instance``."""
    ignored = instance.ignored_vips
    found = []
    for vip in (*(v for v in instance.vips if v not in ignored), *instance.excluded_vips):
        if vip.address is not None:
            found.append(Vip(instance.name, str(vip.address.ip),
                             vip.dev or instance.interface or ""))
    return found

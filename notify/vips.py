"""Which addresses an instance holds, from keepalived.conf: what `lbnotify` announces.

Both lists count: `virtual_ipaddress` (advertised) and `virtual_ipaddress_excluded` (moved
with the instance but not advertised — where dual-stack configs keep their IPv6 VIPs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbcheck.keepalived_conf import KeepalivedConfig


class VipError(Exception):
    """The config cannot be read, or names no such instance."""


def load_config(config_path: str) -> KeepalivedConfig:
    """keepalived.conf read through the model; VipError when it cannot be."""
    from lbcheck.keepalived_conf import KeepalivedConfError, load

    try:
        return load(config_path)
    except KeepalivedConfError as exc:
        raise VipError(str(exc)) from None
    except OSError as exc:
        raise VipError(f"cannot read {config_path}: {exc.strerror}") from None


def instance_vips(config_path: str, name: str) -> list[tuple[str, str | None]]:
    """(address, device) for every VIP of ``name``; device None means "wherever it is"."""
    config = load_config(config_path)
    instance = config.instance(name)
    if instance is None:
        raise VipError(f"no vrrp_instance {name} in {config_path}")
    vips = []
    for vip in (*instance.vips, *instance.excluded_vips):
        if vip.address is not None:
            vips.append((str(vip.address.ip), vip.dev or instance.interface))
    return vips

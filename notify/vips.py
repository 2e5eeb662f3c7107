"""Which addresses an instance holds, from keepalived.conf: what `lbnotify` announces.

The reading itself is the trunk's (lbcheck.keepalived_conf.vips), shared with `lbcheck vips`:
tolerant as keepalived is, because refusing would leave a new master silent, or a dead one's
addresses on the wire. What keepalived skips the hooks skip, and each skip becomes one warning
in the hook's report; every VIP that can be found is acted on.
"""

from __future__ import annotations

from typing import NamedTuple

from lbcheck.keepalived_conf.vips import (
    MAX_WARNINGS,
    VipError,
    load_config,
    warnings,
)
from lbcheck.keepalived_conf.vips import instance_vips as vips_of

__all__ = ["MAX_WARNINGS", "VipError", "Vips", "instance_vips", "load_config", "warnings"]


class Vips(NamedTuple):
    addresses: list[tuple[str, str | None]]  # (address, device); device None: wherever it is
    warnings: list[str]  # what keepalived reads around, as `file:line: message`


def instance_vips(config_path: str, name: str) -> Vips:
    """(address, device) for every VIP of ``name`` that could be read, and the warnings."""
    config = load_config(config_path)
    instance = config.instance(name)
    if instance is None:
        skipped = warnings(config)
        raise VipError(f"no vrrp_instance {name} in {config_path}"
                       + (f" (read around: {'; '.join(skipped)})" if skipped else ""))
    return Vips([(vip.address, vip.interface or None) for vip in vips_of(instance)],
                warnings(config))

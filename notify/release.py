"""Give up the VIPs a dead keepalived left behind: `lbnotify release` (ExecStopPost).

keepalived removes its VIPs when it stops cleanly. Killed with SIGKILL (the OOM killer) it
cannot: the addresses stay on the interface while the peer takes them over, and two nodes
answer for the same address. systemd runs ExecStopPost however the main process ended, so a
drop-in (examples/fast/keepalived.service.d/) runs this: every VIP of every instance in
keepalived.conf (both lists) still configured on this host is deleted. While a keepalived
process is alive this refuses: those addresses are keepalived's to manage.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from lbcheck.notify.vips import Vips


class ReleaseError(Exception):
    """keepalived still runs, or its config cannot be read."""


def keepalived_running() -> list[int]:
    """Pids of live keepalived processes we may believe (in this PID namespace): a process
    merely called keepalived — ``nobody``'s renamed sleep once kept a dead keepalived's VIPs
    on both nodes — does not count (:func:`lbcheck.keepalived_state.daemon.running`)."""
    from lbcheck.keepalived_state.daemon import running

    return running()


class Released(NamedTuple):
    released: list[str]  # "ADDR dev IF", each address deleted
    warnings: list[str]  # what keepalived reads around in its config (a missing include…)


def configured_vips(config_path: str) -> Vips:
    """(address/prefix, device) for every VIP of every instance in ``config_path``, read as
    keepalived reads it (tolerantly: the VIPs it configured are the ones to give up)."""
    from lbcheck.notify.vips import VipError, Vips, load_config, warnings

    try:
        config = load_config(config_path)
    except VipError as exc:
        raise ReleaseError(str(exc)) from None
    vips = []
    for instance in config.instances:
        for vip in (*instance.vips, *instance.excluded_vips):
            if vip.address is not None:
                vips.append((str(vip.address), vip.dev or instance.interface))
    return Vips(vips, warnings(config))


def release(config_path: str, wait: float = 0.5, force: bool = False) -> Released:
    """Delete the VIPs still held here: the ones deleted, and what the config reading skipped."""
    end = time.monotonic() + wait  # keepalived's children may take a moment to go
    while (running := keepalived_running()) and not force:
        if time.monotonic() > end:
            raise ReleaseError(f"keepalived is running (pid {running[0]}): not releasing")
        time.sleep(0.02)
    held = _held()
    released = []
    found = configured_vips(config_path)
    for address, dev in found.addresses:
        ip = address.split("/")[0]
        for where in [dev] if dev else sorted(held):
            if ip in held.get(where or "", set()):
                argv = ["ip", "addr", "del", address, "dev", where or ""]
                subprocess.run(argv, capture_output=True, timeout=5, check=False)
                released.append(f"{address} dev {where}")
    return Released(released, found.warnings)


def _held() -> dict[str, set[str]]:
    """Addresses per interface, from `ip -o addr` (one line per address)."""
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                         timeout=5, check=False).stdout
    held: dict[str, set[str]] = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) > 3:
            held.setdefault(words[1], set()).add(words[3].split("/")[0])
    return held

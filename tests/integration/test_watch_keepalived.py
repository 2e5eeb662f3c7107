"""keepalived really follows a track_file replaced by rename (how the watcher writes it).

One keepalived in a throw-away network namespace (own mount namespace, private /run), one
instance on a veth with a VIP from 192.0.2.0/24, `track_file` with weight 0: a non-zero value
must put it in FAULT (VIP removed), zero must bring it back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbcheck.checks.watch.track_file import TrackFile

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("keepalived") is None,
                                reason="needs root and keepalived")
VIP = "192.0.2.77"


@pytest.fixture
def keepalived(tmp_path: Path) -> Iterator[tuple[str, TrackFile]]:
    ns = f"lbt-wk-{os.getpid()}"
    track = TrackFile(str(tmp_path / "haproxy.track"))
    track.write(0)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        f"track_file haproxy {{\n file {track.path}\n weight 0\n}}\n"
        "vrrp_instance VI_1 {\n state MASTER\n interface v0\n virtual_router_id 77\n"
        f" priority 100\n advert_int 1\n virtual_ipaddress {{\n {VIP}/24\n }}\n"
        " track_file {\n haproxy\n }\n}\n")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    process = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name",
                        "v1"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "v0"], check=True)
        for link in ("v0", "v1"):
            subprocess.run(["ip", "-n", ns, "link", "set", link, "up"], check=True)
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh",
             "-c", ("mount -t tmpfs tmpfs /run && exec keepalived --dont-fork --log-console "
                    f"--vrrp -f {conf}")],
            stdout=open(tmp_path / "keepalived.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        yield ns, track
    finally:
        if process is not None:
            process.kill()
            process.wait(timeout=10)
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  check=False).stdout.split():
            subprocess.run(["kill", "-9", pid], check=False)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def holds_vip(ns: str) -> bool:
    out = subprocess.run(["ip", "-n", ns, "addr", "show", "dev", "v0"], capture_output=True,
                         text=True, check=False).stdout
    return f" {VIP}/" in out


def wait(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("keepalived did not react within the bound")


def test_keepalived_follows_a_renamed_track_file(keepalived: tuple[str, TrackFile]) -> None:
    """0 → MASTER holds the VIP; 1 (write + rename) → FAULT drops it; 0 → back."""
    ns, track = keepalived
    wait(lambda: holds_vip(ns), 10)
    track.write(1)
    reacted = wait(lambda: not holds_vip(ns), 5)
    assert reacted < 1.0  # inotify: no polling interval in the way
    track.write(0)
    wait(lambda: holds_vip(ns), 10)

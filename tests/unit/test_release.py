"""lbnotify release: which addresses a crashed keepalived's node gives up, and when it won't."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbcheck.notify import release

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_vip_of_every_instance_with_its_prefix_and_device() -> None:
    """Both lists (advertised and excluded), with the prefix `ip addr del` needs."""
    vips = release.configured_vips(str(EXAMPLES / "fast" / "keepalived-lb1.conf"))
    assert ([("192.0.2.10/24", "eth0"), ("2001:db8:1::10/64", "eth0")], []) == vips


def test_a_missing_include_is_read_around_as_keepalived_does(tmp_path: Path) -> None:
    """keepalived runs with a missing include ('Config files missing'): release once refused
    the whole config and left the VIPs up. Now it finds every VIP it can, and says what it
    skipped; a FIFO included is skipped too, without hanging."""
    os.mkfifo(tmp_path / "fifo.conf")
    conf = tmp_path / "keepalived.conf"
    conf.write_text("include /nonexistent/lvs.conf\ninclude fifo.conf\n"
                    "vrrp_instance VI_3 {\n interface eth0\n virtual_ipaddress {\n"
                    "  192.0.2.30/24\n }\n}\n")

    vips = release.configured_vips(str(conf))

    assert [("192.0.2.30/24", "eth0")] == vips.addresses
    assert [1, 2] == [int(w.split(":")[1]) for w in vips.warnings], vips.warnings
    assert "cannot read include /nonexistent/lvs.conf" in vips.warnings[0]
    assert "is a FIFO, not a regular file" in vips.warnings[1]


def test_an_unreadable_config_is_one_error(tmp_path: Path) -> None:
    """A missing keepalived.conf is a ReleaseError naming it, not a traceback."""
    with pytest.raises(release.ReleaseError, match="cannot read"):
        release.configured_vips(str(tmp_path / "missing.conf"))


def test_refuses_while_keepalived_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A running keepalived owns its addresses: release touches nothing, after a short wait."""
    monkeypatch.setattr(release, "keepalived_running", lambda: [4242])
    monkeypatch.setattr(release, "_held", lambda: pytest.fail("looked at addresses"))
    with pytest.raises(release.ReleaseError, match="pid 4242"):
        release.release(str(EXAMPLES / "fast" / "keepalived-lb1.conf"), wait=0.05)

"""The lab renders examples/ — or what `lbcheck init` generates — into nodes; a chrooted
keepalived gets its FIFO reader outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.lab import Failover
from tests.lab.render import (
    BIN,
    NOTIFY_FIFO,
    Generated,
    drop_in_command,
    generated_files,
    node_files,
)
from tests.lab.topology import VIP4, VIP6, host


def test_a_chrooted_keepalived_does_not_exec_our_lbnotify(tmp_path: Path) -> None:
    """Inside another suite's root this checkout's lbnotify does not exist: the config loses
    its vrrp_notify_fifo_script and the node starts the reader on the same FIFO itself."""
    files = node_files("n1", tmp_path, 150, check="watch", keepalived_root="/var/tmp/r")
    conf = Path(files["keepalived_conf"]).read_text()
    assert "vrrp_notify_fifo_script" not in conf
    assert f"vrrp_notify_fifo {NOTIFY_FIFO}" in conf
    assert files["fifo_reader"].endswith(f" fifo {NOTIFY_FIFO}")
    assert "/var/tmp/r" == files["keepalived_root"]


def test_on_the_host_keepalived_runs_the_fifo_script_itself(tmp_path: Path) -> None:
    """The default lab is the example as shipped: keepalived starts lbnotify."""
    files = node_files("n1", tmp_path, 150, check="watch")
    assert "vrrp_notify_fifo_script" in Path(files["keepalived_conf"]).read_text()
    assert "fifo_reader" not in files


def test_a_chrooted_keepalived_needs_the_watcher(tmp_path: Path) -> None:
    """A vrrp_script would be exec'd inside the root, where lbcheck is not: refused."""
    with pytest.raises(ValueError, match="check='watch'"):
        node_files("n1", tmp_path, 150, check="lbcheck", keepalived_root="/var/tmp/r")


@pytest.mark.parametrize("node, priority", [("n1", 250), ("n2", 249)])
def test_the_fast_profile_runs_its_own_files(tmp_path: Path, node: str, priority: int) -> None:
    """--profile fast: each node its examples/fast/ config, the fast unit's watcher command
    (master-worker adds the master socket) and the drop-in's release on keepalived's end."""
    files = node_files(node, tmp_path, priority, check="watch", haproxy="master-worker",
                       profile="fast")
    conf = Path(files["keepalived_conf"]).read_text()
    assert f"priority {priority}\n" in conf and "advert_int 0.1" in conf
    assert f"router_id {node}" in conf and "vrrp_version 3" in conf
    watch = files["watch"].split()
    assert ["--deadline", "0.4", "watch"] == watch[3:6], watch
    assert "--interval 0.1 --fall 1 --rise 3 haproxy --master-socket" in files["watch"]
    assert files["keepalived_stop_post"].endswith(" release")


def test_the_fast_profile_spawned_variant(tmp_path: Path) -> None:
    """--profile fast --check lbcheck: the spawned variant, this checkout's lbcheck in it."""
    files = node_files("n2", tmp_path, 249, check="lbcheck", profile="fast")
    conf = Path(files["keepalived_conf"]).read_text()
    assert "priority 249 " in conf and "weight -20" in conf
    assert f'script "{BIN}/lbcheck --config ' in conf  # this checkout's (or the package's)
    assert "--deadline 0.4 haproxy --backend app\"" in conf


def test_a_generated_conservative_pair_runs_this_checkouts_check(tmp_path: Path) -> None:
    """`lbcheck init`'s conservative pair for the lab: n1's own address and the VIPs in it,
    the spawned check and lbnotify this checkout's, with the node's lbcheck.toml."""
    files = generated_files("n1", tmp_path, Generated((4, 6), "conservative"))
    conf = Path(files["keepalived_conf"]).read_text()
    config = files["lbcheck_config"]
    assert f'script "{BIN}/lbcheck --config {config} haproxy"' in conf
    assert f'"{BIN}/lbnotify --config {config} fifo"' in conf
    assert "priority 150" in conf and "weight -60" in conf
    commands = [ln for ln in conf.splitlines() if "/usr/bin/" in ln and "#" not in ln]
    assert all(f"{BIN}/lbcheck --config " in ln or f"{BIN}/lbnotify --config " in ln
               for ln in commands), commands  # BIN is /usr/bin itself in the .deb's build
    assert f"{VIP4}/24" in conf and f"{VIP6}/64" in conf
    toml = Path(config).read_text()
    assert str(tmp_path / "keepalived.conf") in toml and "/etc/" not in toml.split("]", 1)[1]
    assert "watch" not in files and "keepalived_stop_post" not in files


def test_a_generated_fast_pair_takes_the_watcher_and_the_drop_in(tmp_path: Path) -> None:
    """The fast IPv6-only unicast pair: the watcher's command from the generated unit, the
    release hook from the generated drop-in, the peer's address for unicast."""
    files = generated_files("n2", tmp_path, Generated((6,), "fast", unicast=True))
    conf = Path(files["keepalived_conf"]).read_text()
    assert "priority 249" in conf and "vrrp_version 3" in conf
    assert f"unicast_src_ip {host('n2').v6}" in conf and VIP4 not in conf
    lbcheck = f"{BIN}/lbcheck --config {files['lbcheck_config']}"
    assert files["watch"].startswith(f"{lbcheck} --deadline 0.4 watch --track-file ")
    assert files["watch"].endswith(" --interval 0.1 --fall 1 --rise 3 haproxy")
    assert files["keepalived_stop_post"] == (
        f"{BIN}/lbnotify --config {files['lbcheck_config']} release")


def test_a_drop_in_without_lbnotify_fails_loudly(tmp_path: Path) -> None:
    drop_in = tmp_path / "lbcheck-release.conf"
    drop_in.write_text("[Service]\nExecStopPost=/bin/true\n")
    with pytest.raises(ValueError, match="update tests/lab/render.py"):
        drop_in_command(drop_in, "lbnotify")


def test_a_one_family_failover_measures_that_family_only() -> None:
    result = Failover("killed", 0.0, 0.3, float("nan"))
    assert {"ipv4": 0.3} == result.outages()

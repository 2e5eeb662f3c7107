"""The lab renders examples/ into nodes; a chrooted keepalived gets its FIFO reader outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.render import NOTIFY_FIFO, node_files


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

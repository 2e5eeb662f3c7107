"""An opsgenie target still pages, and every lbnotify run says once that Opsgenie's REST API
ends on 2027-04-05; the every-second `lbcheck` check, sharing the config, stays silent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import BIN
from tests.receiver import Receiver
from tests.support.notify import Notify


def test_opsgenie_target_warns_once_per_run_and_still_pages(
        tmp_path: Path, receiver: Receiver) -> None:
    """A warning, not an error: exit 0, the page delivered, one config_warning line."""
    target = (f'[[page.target]]\ntype = "opsgenie"\nurl = "{receiver.url}/v2/alerts"\n'
              'api_key = "GK"\n')
    with Notify(tmp_path, receiver.url, budget=2.0, targets=target) as notify:
        result = notify("INSTANCE", "VI_1", "FAULT", "0")
        assert (0, "") == (result.returncode, result.stderr)
        assert 1 == len(receiver.wait_for(1))
        [warning] = notify.lines("config_warning")
        assert "2027-04-05" in warning["message"]
        assert "warning" == warning["level"]
        env = {**os.environ, "LBCHECK_CONFIG": str(notify.config),
               "LBCHECK_STATE_DIR": str(tmp_path / "check-state")}
        check = subprocess.run([str(BIN / "lbcheck"), "haproxy", "--socket",
                                str(tmp_path / "no.sock")], env=env, capture_output=True,
                               text=True, timeout=30, check=False)
        assert "Opsgenie" not in check.stdout + check.stderr
        assert 1 == len(notify.lines("config_warning"))

"""`lbcheck init`'s pairs as keepalived itself reads them: `keepalived -t` on each node's file,
in a network namespace holding the interface (lint's own runner makes it, as root), so its
semantic checks run as they would on the load balancer. No complaint above info: what is
left is about this machine (lbcheck not installed at /usr/bin), never about the config.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lbcheck.keepalived_conf import load
from lbcheck.lint import keepalived as runner
from tests.unit.test_init import FAMILIES, _matrix, generate

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("keepalived") is None,
                                reason="keepalived -t in a namespace needs root and keepalived")


@pytest.mark.parametrize(("family", "profile", "adverts", "dual", "check"), _matrix(),
                         ids=["-".join(m) for m in _matrix()])
def test_keepalived_accepts_every_generated_node(tmp_path: Path, family: str, profile: str,
                                                 adverts: str, dual: str, check: str) -> None:
    release = runner.version()
    assert release is not None
    generate(tmp_path, "--interface", "eth0", *FAMILIES[family], "--profile", profile,
             adverts, "--design", dual, "--check", check, "--keepalived-version", release)
    for node in ("lb1", "lb2"):
        path = str(tmp_path / node / "keepalived.conf")
        verdict = runner.check(path, False, load(path, tolerant=True))
        assert verdict.problem is None, verdict.problem  # the namespace held eth0
        assert [] == [(f.severity, f.message) for f in verdict.findings
                      if f.severity != "info"], node

"""One lab for the e2e module: up once, torn down however the tests end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.lab import Lab


def lab_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network and PID namespaces)")
    for tool in ("keepalived", "haproxy", "unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (bin/setup installs it)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab_or_skip()
    lab = Lab(Path(tmp_path_factory.mktemp("lab")))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()

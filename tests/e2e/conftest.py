"""One lab per e2e module: up once, torn down however the tests end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lab.lab import Lab


def lab_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network and PID namespaces)")
    for tool in ("keepalived", "haproxy", "unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (bin/setup installs it)")


@contextmanager
def running_lab(tmp_path_factory: pytest.TempPathFactory, **options: str) -> Iterator[Lab]:
    """A lab that is up inside the block and down after it, even when setup itself fails."""
    lab_or_skip()
    lab = Lab(Path(tmp_path_factory.mktemp("lab")), **options)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory) as lab:
        yield lab

"""Cross-check: lint never calls clean a config that keepalived itself rejects (`keepalived -t`).

keepalived -t checks interfaces against the host, so it runs inside a throw-away network
namespace holding a veth pair named like the generated configs' interface.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbcheck.lint.engine import lint
from lbcheck.lint.findings import exit_code

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("keepalived") is None,
                                reason="needs root and keepalived")


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    name = f"lbt-lint-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name",
                        "v1"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "v0", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def keepalived_accepts(netns: str, path: Path) -> bool:
    result = subprocess.run(["ip", "netns", "exec", netns, "keepalived", "-t", "-f", str(path)],
                            capture_output=True, timeout=20, check=False)
    return result.returncode == 0


VIPS = st.sampled_from(["192.0.2.10", "192.0.2.10/24", "2001:db8::10", "::ffff:192.0.2.10",
                        "192.0.2.10\n 2001:db8::10"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vrid=st.integers(0, 300), priority=st.integers(0, 300), vips=VIPS,
       advert=st.sampled_from(["1", "0.5", "3"]))
def test_lint_never_calls_clean_what_keepalived_rejects(netns: str, tmp_path: Path, vrid: int,
                                                        priority: int, vips: str,
                                                        advert: str) -> None:
    """If `keepalived -t` refuses the config, lint exits non-zero too."""
    path = tmp_path / "keepalived.conf"
    path.write_text(f"vrrp_instance VI_1 {{\n interface v0\n virtual_router_id {vrid}\n"
                    f" priority {priority}\n advert_int {advert}\n"
                    f" virtual_ipaddress {{\n {vips}\n }}\n}}\n")
    if not keepalived_accepts(netns, path):
        assert 1 == exit_code(lint(str(path), on_host=False).findings), path.read_text()


def test_the_working_example_is_accepted_by_both(netns: str, tmp_path: Path) -> None:
    """A sound config: keepalived accepts it and lint reports no error."""
    path = tmp_path / "keepalived.conf"
    path.write_text("vrrp_instance VI_1 {\n interface v0\n virtual_router_id 51\n priority 150\n"
                    " virtual_ipaddress {\n 192.0.2.10/24\n }\n"
                    " virtual_ipaddress_excluded {\n 2001:db8::10/64\n }\n}\n")
    assert keepalived_accepts(netns, path)
    assert 0 == exit_code(lint(str(path), on_host=False).findings)

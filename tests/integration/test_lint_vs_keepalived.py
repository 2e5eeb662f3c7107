"""Cross-check: lint never calls clean a config that keepalived itself rejects (`keepalived -t`).

keepalived -t checks interfaces against the host, so it runs inside a throw-away network
namespace holding a veth pair named like the generated configs' interface.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbcheck.keepalived_conf import KeepalivedConfig
from lbcheck.lint.engine import lint
from lbcheck.lint.findings import Finding, exit_code
from tests.conftest import REPO

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


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
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


# --- the real-world set: configs written around traps found in public keepalived.conf files -

REALWORLD = Path(__file__).resolve().parent / "realworld"
CONFIGS = sorted(REALWORLD.glob("*.conf"))
SEEDS = sorted((Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "seed")
               .glob("*.conf"))  # the article's four configs, when the corpus is there


def header(path: Path, key: str) -> list[str]:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return [w for w in line.split(": ", 1)[1].split() if w != "-"]
    return []


def test_the_set_is_big_enough() -> None:
    """At least 40 configs, at least 6 master + backup pairs, each with an index entry."""
    index = (REALWORLD / "INDEX.md").read_text()
    pairs = [p for p in CONFIGS if header(p, "peer")]
    assert len(CONFIGS) >= 40 and len(pairs) >= 6
    assert all(p.name in index for p in CONFIGS)


# --- keepalived -t where its semantic checks run (issue 21) ---------------------------------

SEMANTIC = """\
global_defs {
    vrrp_strict
}
vrrp_instance VI_1 {
    state MASTER
    interface lbt-absent0
    track_interface {
        lbt-absent1 weight -10
    }
    virtual_router_id 51
    priority 100
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.0.2.10/24 dev lbt-absent2
    }
}
"""


def lint_namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.startswith("lbcheck-lint-")}


def test_keepalived_t_sees_the_config_s_interfaces_and_runs_its_semantic_checks(
        tmp_path: Path) -> None:
    """On a machine without the config's interfaces keepalived -t stops after parsing; lint
    gives it every interface the config names, in a namespace of its own, and so hears what
    keepalived would say on the load balancer — and leaves no namespace behind."""
    path = tmp_path / "keepalived.conf"
    path.write_text(SEMANTIC)
    from lbcheck.keepalived_conf import load
    from lbcheck.lint import keepalived as runner

    before = lint_namespaces()
    verdict = runner.check(str(path), False, load(str(path), tolerant=True))
    said = [f.message for f in verdict.findings]
    assert any("State MASTER must match being address owner" in m for m in said), said
    assert any("Strict mode does not support authentication" in m for m in said), said
    assert not any("doesn't exist" in m or "Non-existent" in m for m in said), said
    assert verdict.problem is None
    report = lint(str(path), on_host=False, keepalived=True)
    assert not any("did not run" in n for n in report.notes), report.notes
    assert {"KA070"} <= {f.rule for f in report.findings}  # said once: by lint's own rule
    assert not [f for f in report.findings if "State MASTER must match" in f.message
                and f.rule == "KA090"]
    assert lint_namespaces() == before


def test_without_root_lint_says_which_keepalived_checks_did_not_run(tmp_path: Path) -> None:
    """As another user there is no namespace to be had: keepalived -t runs here, stops at the
    missing interface, and the report says so instead of looking complete."""
    shared = Path(tempfile.mkdtemp(prefix="lbcheck-lint-"))
    try:
        shared.chmod(0o755)
        (shared / "keepalived.conf").write_text(SEMANTIC)
        (shared / "keepalived.conf").chmod(0o644)
        probe = ("import json; from lbcheck.lint.engine import lint; "
                 f"r = lint({str(shared / 'keepalived.conf')!r}, on_host=False, "
                 "keepalived=True); print(json.dumps([r.notes, [f.message for f in r.findings]]))")
        done = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", probe],
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, cwd="/")
        assert done.returncode == 0, done.stderr
        notes, messages = json.loads(done.stdout)
        assert any("those did not run" in n for n in notes), notes
        assert any("(about this machine" in m for m in messages), messages
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# --- lint's own rules against keepalived's word, interfaces present (issue 21) ---------------

ALL_CONFIGS = CONFIGS + SEEDS


def own_and_said(path: Path
                 ) -> tuple[list[Finding], list[Finding], set[str], bool, KeepalivedConfig]:
    """lint's own findings (no keepalived merged; with its peer for a pair's master), what
    keepalived -t said with the config's interfaces present (lint's namespace run), the
    names complaints refer to, and whether keepalived said nothing at all."""
    from lbcheck.keepalived_conf import load
    from lbcheck.lint import keepalived as runner
    from lbcheck.lint.engine import _names

    model = load(str(path), tolerant=True)
    verdict = runner.check(str(path), False, model)
    assert verdict.version is not None, verdict.problem
    assert not verdict.problem, verdict.problem  # ran with every interface it names
    peer = header(path, "peer")
    own = lint(str(path), str(REALWORLD / peer[0]) if peer else None, on_host=False).findings
    complaints = [f for f in verdict.findings if f.severity != "info"]
    return own, complaints, _names(model), not verdict.findings, model


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_complaint_keepalived_makes_is_one_of_lint_s_own_findings(path: Path) -> None:
    """Lint reports the rules the config's trap calls for (`# expect:`, with its peer for a
    pair's master). With the interfaces present, every complaint `keepalived -t` makes about
    the config
    (not about this machine: scripts, users) is reported by lint's own rules — what a config
    repository's CI gets without keepalived (lint/keepalived.py ECHOES names the rule for
    each complaint); and on a config keepalived accepts without a word, lint makes no
    error-level claim unless the rule documents why keepalived's silence is wrong
    (registry.SILENT_KEEPALIVED)."""
    from lbcheck.lint.engine import enclosing
    from lbcheck.lint.keepalived import echoed
    from lbcheck.lint.registry import SILENT_KEEPALIVED

    own, complaints, names, silent, model = own_and_said(path)
    assert set(header(path, "expect")) <= {f.rule for f in own}, own  # the trap it holds
    assert "KA099" not in {f.rule for f in own}
    assert [f.message for f in complaints
            if not echoed(f, own, names, enclosing([model], f.file, f.line))] == []
    if complaints:  # keepalived is never louder: where it complains (about this host's
        # users and files too), lint judging this host is not clean
        here = lint(str(path), on_host=True).findings
        assert [f for f in here if f.severity in ("error", "warning")]
    if silent:
        assert [(f.rule, f.message) for f in own if f.file == str(path)
                and f.severity == "error" and f.rule not in SILENT_KEEPALIVED] == []

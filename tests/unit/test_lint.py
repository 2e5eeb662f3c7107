"""`lbcheck lint`: each rule fires on its trap and stays quiet on the fix."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.keepalived_conf import KeepalivedConfError
from lbcheck.lint import arithmetic
from lbcheck.lint.engine import lint
from lbcheck.lint.findings import exit_code

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SEED = CORPUS / "seed"
needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus absent")


def rules(path: str | Path, peer: str | Path | None = None) -> Counter[str]:
    report = lint(str(path), str(peer) if peer else None, on_host=False)
    return Counter(f.rule for f in report.findings)


def instance(name: str = "VI_1", body: str = "", vips: str = "192.0.2.10",
             excluded: str = "", priority: int = 100, vrid: int = 51) -> str:
    extra = f" virtual_ipaddress_excluded {{\n {excluded}\n }}\n" if excluded else ""
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n"
            f" priority {priority}\n virtual_ipaddress {{\n {vips}\n }}\n{extra}{body}}}\n")


def write(tmp_path: Path, text: str, name: str = "keepalived.conf") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@needs_corpus
@pytest.mark.parametrize("seed, expected", [
    ("1-mixed-families.conf", {"KA001": 1, "KA002": 2, "KA024": 1, "KA028": 1}),
    ("2-two-instances.conf", {"KA003": 1, "KA002": 2, "KA024": 1, "KA028": 1}),
    ("3-sync-group.conf", {"KA004": 2, "KA002": 2, "KA024": 1, "KA028": 1}),
    ("4-excluded.conf", {"KA002": 2, "KA024": 1, "KA028": 1}),
])
def test_the_articles_configs_get_exactly_the_findings_their_comments_describe(
        seed: str, expected: dict[str, int]) -> None:
    """Mixed block → KA001; two instances → KA003; sync group → KA004; all: mapped + killall,
    and scripts without enable_script_security (KA028: keepalived -t fails on it)."""
    assert expected == dict(rules(SEED / seed))


@needs_corpus
@pytest.mark.parametrize("path", sorted((CORPUS / "keepalived-samples").glob("*")),
                         ids=lambda p: p.name)
def test_keepalived_samples_have_no_error_level_finding(path: Path) -> None:
    """keepalived's own samples: errors only where keepalived 2.2.7 -t complains too (AH with
    state MASTER in SSL_GET; the old sync-group syntax of lvs_syncd), no false positive."""
    expected = {"keepalived.conf.SSL_GET": {"KA053"}, "keepalived.conf.vrrp.lvs_syncd": {"KA006"}}
    # The conditional sample is written to run with `-i high` or `-i low` ("Run keepalived
    # with either…"): read as this host, its vrrp_script has no script line at all.
    config_id = "high" if path.name == "keepalived.conf.conditional_conf" else None
    report = lint(str(path), on_host=False, config_id=config_id)
    assert expected.get(path.name, set()) == {f.rule for f in report.findings
                                              if f.severity == "error"}


def test_mixed_families_fires_and_the_excluded_fix_is_clean(tmp_path: Path) -> None:
    """KA001 on a mixed block; the same VIPs split into _excluded pass."""
    mixed = write(tmp_path, instance(vips="192.0.2.10\n 2001:db8::10"), "mixed.conf")
    fixed = write(tmp_path, instance(excluded="2001:db8::10"), "fixed.conf")
    assert 1 == rules(mixed)["KA001"]
    assert 0 == rules(fixed)["KA001"] == rules(fixed)["KA002"]


@pytest.mark.parametrize("vip, severity", [
    ("::ffff:192.0.2.10", "error"), ("::1", "error"), ("ff02::5", "error"),
    ("fe80::10", "warning"), ("2001:db8::10", None),
])
def test_unreachable_ipv6_vips(tmp_path: Path, vip: str, severity: str | None) -> None:
    """Mapped, loopback, multicast are errors; link-local a warning; documentation range clean."""
    path = write(tmp_path, instance(excluded=vip))
    found = [f.severity for f in lint(str(path), on_host=False).findings if f.rule == "KA002"]
    assert ([severity] if severity else []) == found


def test_split_families_without_and_with_sync_group(tmp_path: Path) -> None:
    """KA003 for one instance per family on one interface, gone once they share a group."""
    two = instance("V4") + instance("V6", vips="2001:db8::10", vrid=52)
    group = "vrrp_sync_group G {\n group {\n V4\n V6\n }\n}\n"
    assert 1 == rules(write(tmp_path, two, "two.conf"))["KA003"]
    assert 0 == rules(write(tmp_path, two + group, "grouped.conf"))["KA003"]


def test_sync_group_drops_weighted_scripts_unless_tracking_weight(tmp_path: Path) -> None:
    """KA004 for a weighted script in a group; sync_group_tracking_weight or weight 0 fix it."""
    script = 'vrrp_script chk {\n script "/bin/true"\n weight W\n}\n'
    body = " track_script {\n chk\n }\n"
    for weight, extra, expected in [("-20", "", 1), ("-20", "sync_group_tracking_weight\n", 0),
                                    ("0", "", 0)]:
        text = (script.replace("W", weight) + instance("A", body) + instance("B", body, vrid=52)
                + f"vrrp_sync_group G {{\n group {{\n A\n B\n }}\n {extra}}}\n")
        assert expected * 2 == rules(write(tmp_path, text))["KA004"], (weight, extra)


def test_process_only_checks_and_lbcheck_deadline(tmp_path: Path) -> None:
    """killall -0 → KA024; an lbcheck deadline at keepalived's timeout → KA026; below it, clean."""
    def with_script(command: str, timing: str = "") -> Path:
        return write(tmp_path, f'vrrp_script chk {{\n script "{command}"\n{timing}}}\n'
                     + instance(body=" track_script {\n chk\n }\n"))
    assert 1 == rules(with_script("killall -0 haproxy"))["KA024"]
    assert 1 == rules(with_script("/usr/bin/lbcheck --deadline 1 haproxy"))["KA026"]
    assert 0 == rules(with_script("/usr/bin/lbcheck haproxy", " interval 1\n"))["KA026"]
    assert 1 == rules(with_script("/bin/true", " interval 1\n timeout 3\n"))["KA025"]


def test_scripts_keepalived_cannot_exec(tmp_path: Path) -> None:
    """Missing (on host), not executable, dead shebang: errors, because they count as success."""
    not_exec = tmp_path / "check.sh"
    not_exec.write_text("#!/bin/sh\nexit 0\n")
    dead_venv = tmp_path / "lbcheck"
    dead_venv.write_text("#!/opt/deleted-venv/bin/python\n")
    dead_venv.chmod(0o755)
    for command, rule in [(str(tmp_path / "missing"), "KA020"), (str(not_exec), "KA021"),
                          (str(dead_venv), "KA022")]:
        path = write(tmp_path, f'vrrp_script chk {{\n script "{command}"\n}}\n' + instance())
        found = Counter(f.rule for f in lint(str(path), on_host=True).findings)
        assert 1 == found[rule], (command, found)
    elsewhere = write(tmp_path, 'vrrp_script chk {\n script "/opt/x/missing"\n}\n' + instance())
    report = lint(str(elsewhere), on_host=False)
    assert 0 == Counter(f.rule for f in report.findings)["KA020"]
    assert any("not checked here" in note for note in report.notes)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as root")
def test_script_security_path_rules(tmp_path: Path) -> None:
    """enable_script_security: a group/world-writable directory on the path is KA023."""
    script = tmp_path / "bin" / "check"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    text = ("global_defs {\n enable_script_security\n}\n"
            f'vrrp_script chk {{\n script "{script}"\n}}\n' + instance())
    script.parent.chmod(0o777)
    assert 1 <= rules(write(tmp_path, text))["KA023"]
    script.parent.chmod(0o755)
    insecure_above = [p for p in script.parents if p.stat().st_mode & 0o022]
    assert len(insecure_above) == rules(write(tmp_path, text))["KA023"]


def test_notify_scripts_suggest_the_fifo(tmp_path: Path) -> None:
    """KA030 for notify scripts, quiet once vrrp_notify_fifo_script is set."""
    body = ' notify "/usr/local/bin/lbnotify event"\n'
    fifo = 'global_defs {\n vrrp_notify_fifo /run/n.fifo\n vrrp_notify_fifo_script "/x fifo"\n}\n'
    assert 1 == rules(write(tmp_path, instance(body=body), "a.conf"))["KA030"]
    assert 0 == rules(write(tmp_path, fifo + instance(body=body), "b.conf"))["KA030"]


def test_master_nopreempt_and_owner_with_weights(tmp_path: Path) -> None:
    """state MASTER + nopreempt → KA046; priority 255 with weights → KA047."""
    text = ('vrrp_script chk {\n script "/bin/true"\n weight 10\n}\n'
            + instance("A", " state MASTER\n nopreempt\n")
            + instance("B", " track_script {\n chk\n }\n", priority=255, vrid=52))
    found = rules(write(tmp_path, text))
    assert (1, 1) == (found["KA046"], found["KA047"])


def test_invalid_values_keepalived_rejects(tmp_path: Path) -> None:
    """virtual_router_id 300 / priority 0: keepalived refuses; so does lint (KA050)."""
    assert 1 == rules(write(tmp_path, instance(vrid=300), "a.conf"))["KA050"]
    assert 1 == rules(write(tmp_path, instance(priority=0), "b.conf"))["KA050"]
    assert 0 == rules(write(tmp_path, instance(), "c.conf"))["KA050"]


def pair(tmp_path: Path, mine: str, theirs: str) -> Counter[str]:
    return rules(write(tmp_path, mine, "n1.conf"), write(tmp_path, theirs, "n2.conf"))


def test_pair_mismatches(tmp_path: Path) -> None:
    """Different vrid, advert_int, VIPs, authentication: each its own error; a match is clean."""
    base = instance(priority=150)
    peer = instance(priority=100)
    assert {} == {k: v for k, v in pair(tmp_path, base, peer).items() if k.startswith("KA04")}
    assert 1 == pair(tmp_path, base, instance(priority=100, vrid=52))["KA040"]
    assert 1 == pair(tmp_path, base, instance(body=" advert_int 2\n", priority=100))["KA041"]
    assert 1 == pair(tmp_path, base, instance(vips="192.0.2.11", priority=100))["KA042"]
    auth = " authentication {\n auth_type PASS\n auth_pass secret\n }\n"
    assert 1 == pair(tmp_path, base, instance(body=auth, priority=100))["KA043"]
    v6peer = " unicast_peer {\n 2001:db8::2\n }\n"
    assert 1 == pair(tmp_path, instance(body=v6peer, priority=150), peer)["KA044"]


def test_failover_arithmetic_weights_that_can_never_move_the_vips(tmp_path: Path) -> None:
    """weight -10 against a gap of 50 never fails over (KA010); -60 does; weight 0 is FAULT."""
    def config(weight: int, priority: int) -> str:
        return (f'vrrp_script chk {{\n script "/bin/true"\n weight {weight}\n}}\n'
                + instance(body=" track_script {\n chk\n }\n", priority=priority))
    assert 1 == pair(tmp_path, config(-10, 150), config(-10, 100))["KA010"]
    assert 0 == pair(tmp_path, config(-60, 150), config(-60, 100))["KA010"]
    assert 0 == pair(tmp_path, config(0, 150), config(0, 100))["KA010"]
    assert 1 == pair(tmp_path, config(0, 100), config(0, 100))["KA011"]


def test_pair_report_prints_the_priority_table(tmp_path: Path) -> None:
    """The notes carry the table (base, weights, OK/KO) and the expected takeover times."""
    text = ('vrrp_script chk {\n script "/bin/true"\n weight 2\n}\n'
            + instance(body=" track_script {\n chk\n }\n", priority=101))
    report = lint(str(write(tmp_path, text, "a.conf")), str(write(tmp_path, text, "b.conf")),
                  on_host=False)
    joined = "\n".join(report.notes)
    assert "chk (+2)" in joined and "103" in joined and "expected takeover" in joined


def test_arithmetic_clamps_and_fault() -> None:
    """Effective priority is clamped to 1..254; weight 0 failing means FAULT."""
    node = arithmetic.Node("n", 250, (arithmetic.Tracked("up", 10),
                                      arithmetic.Tracked("down", -300),
                                      arithmetic.Tracked("fault", 0)))
    assert 254 == node.effective()
    assert 1 == node.effective("down")
    assert arithmetic.FAULT == node.effective("fault")


def test_exit_codes(tmp_path: Path) -> None:
    """0 without errors, 1 with (a block never closed is a KA060 error at its line, as
    keepalived reads on past it); only an unreadable file raises (CLI: exit 2)."""
    assert 0 == exit_code(lint(str(write(tmp_path, instance(), "ok.conf")), on_host=False)[0])
    bad = write(tmp_path, instance(vips="192.0.2.1\n 2001:db8::1"), "bad.conf")
    assert 1 == exit_code(lint(str(bad), on_host=False)[0])
    broken = lint(str(write(tmp_path, "vrrp_instance X {\n", "broken.conf")), on_host=False)
    assert ("KA060", 1) in {(f.rule, f.line) for f in broken.findings}
    assert 1 == exit_code(broken.findings)
    with pytest.raises(KeepalivedConfError):
        lint(str(tmp_path / "absent.conf"))


FRAGMENTS = st.sampled_from([
    "vrrp_instance V {", "}", " interface eth0", " virtual_router_id 51", " priority 300",
    " virtual_ipaddress {", " 192.0.2.1", " ::ffff:1.2.3.4", " fe80::1", " track_script {",
    " chk weight -2", "vrrp_script chk {", ' script "killall -0 haproxy"', " weight 5",
    "vrrp_sync_group G {", " group {", " V", " sync_group_tracking_weight", " nopreempt",
    " state MASTER", "global_defs {", " enable_script_security", '"', "#", "{",
])


@settings(max_examples=250, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40).map("\n".join))
def test_fuzzed_configs_give_findings_or_a_parse_error(tmp_path_factory, text: str) -> None:
    """Whatever the input, lint returns findings or raises KeepalivedConfError — no traceback."""
    path = tmp_path_factory.mktemp("fuzz") / "k.conf"
    path.write_text(text)
    report = lint(str(path), str(path), on_host=False)
    assert [] == [f for f in report.findings if f.rule == "KA099"]

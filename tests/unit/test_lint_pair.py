"""The pair as VRRP pairs it, a truncated auth_pass both nodes share, the state MASTER node
below its peer, and what keepalived does with a script it cannot find (issue 21).

What `keepalived -t` (2.2.7, in a network namespace holding eth0) printed is quoted per test.
"""

from __future__ import annotations

from pathlib import Path

from lbcheck.lint.engine import Report, lint
from lbcheck.lint.findings import Finding, exit_code


def vrrp(name: str = "VI_1", vrid: int = 51, priority: int = 100, state: str = "BACKUP",
         vip: str = "192.0.2.10/24", body: str = "", interface: str = "eth0") -> str:
    return (f"vrrp_instance {name} {{\n state {state}\n interface {interface}\n"
            f" virtual_router_id {vrid}\n priority {priority}\n"
            f" virtual_ipaddress {{\n {vip}\n }}\n{body}}}\n")


def pair(tmp_path: Path, mine: str, theirs: str) -> Report:
    (tmp_path / "n1.conf").write_text(mine)
    (tmp_path / "n2.conf").write_text(theirs)
    return lint(str(tmp_path / "n1.conf"), str(tmp_path / "n2.conf"), on_host=False)


def of(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


CHECK = 'vrrp_script chk {\n script "/bin/true"\n weight -10\n}\n'
TRACKED = " track_script {\n chk\n }\n"


def test_counterparts_named_differently_are_paired_by_router_id(tmp_path: Path) -> None:
    """LB_NORTH here, LB_SOUTH there, one VRID 44 on eth0: one virtual router (keepalived
    hands an advert to the instance of the receiving socket with the advert's VRID:
    vrrp_scheduler.c vrrp_dispatcher_read). No "no counterpart" error, the arithmetic runs
    (weight -10 against a gap of 50: KA010) and KA049 says how they were paired.
    keepalived -t: exit 0, silent, on each config."""
    report = pair(tmp_path, CHECK + vrrp("LB_NORTH", 44, 150, "MASTER", body=TRACKED),
                  CHECK + vrrp("LB_SOUTH", 44, 100, body=TRACKED))
    assert [] == of(report, "KA040")
    assert 1 == len(of(report, "KA010"))
    assert ["info"] == [f.severity for f in of(report, "KA049")]
    assert "pairs with the peer's LB_SOUTH" in of(report, "KA049")[0].message
    assert any("priority table" in note for note in report.notes)


def test_same_name_another_router_id_is_still_two_routers(tmp_path: Path) -> None:
    """VI_1 with VRID 51 here and 52 there: no counterpart, and the message names the
    namesake's VRID. keepalived -t: exit 0, silent (it sees one node)."""
    report = pair(tmp_path, vrrp(vrid=51, priority=150), vrrp(vrid=52))
    assert ["virtual_router_id 51 here, 52 on the peer"] == [
        f.message.split(": ", 1)[1].split(":")[0] for f in of(report, "KA040")]
    assert not any("priority table" in note for note in report.notes)


def test_an_ipv4_and_an_ipv6_router_may_share_a_router_id(tmp_path: Path) -> None:
    """VRID 51 twice on eth0, once per family, named differently on each node: each pairs
    with its own family's (one socket per family). keepalived -t: exit 0, silent."""
    mine = vrrp("V4", 51, 150) + vrrp("V6", 51, 150, vip="2001:db8::10/64")
    theirs = vrrp("SIX", 51, 100, vip="2001:db8::10/64") + vrrp("FOUR", 51, 100)
    report = pair(tmp_path, mine, theirs)
    assert [] == of(report, "KA040") + of(report, "KA042")
    assert {"V4 pairs with the peer's FOUR", "V6 pairs with the peer's SIX"} == {
        f.message.split(" (")[0] for f in of(report, "KA049")}


AUTH = " authentication {{\n auth_type PASS\n auth_pass {}\n }}\n"


def test_auth_pass_over_8_characters(tmp_path: Path) -> None:
    """keepalived -t on one config: '(auth9.conf: Line 7) Truncating auth_pass to 8
    characters', exit 5 (vrrp_auth_pass_handler) — an error alone. In the pair, the same
    long auth_pass on both nodes truncates alike and vrrp_check_packet compares 8 bytes:
    a warning, no error; passes that differ only after the 8th character authenticate
    anyway (no KA043); a difference within the first 8 stays an error. Two keepalived
    2.2.7 in two namespaces: DbWriter123 against DbWriter999, the backup stayed BACKUP and
    logged nothing; against DbReader123, 'received an invalid passwd!' every advert."""
    alone = tmp_path / "alone.conf"
    alone.write_text(vrrp(body=AUTH.format("DbWriter123")))
    assert ["error"] == [f.severity for f in of(lint(str(alone), on_host=False), "KA052")]

    same = pair(tmp_path, vrrp(priority=150, body=AUTH.format("DbWriter123")),
                vrrp(body=AUTH.format("DbWriter123")))
    assert ["warning", "warning"] == [f.severity for f in of(same, "KA052")]
    alike = of(same, "KA052")[0].message
    assert "truncates it alike, so the nodes authenticate each other" in alike
    assert [] == of(same, "KA043") and 0 == exit_code(same.findings)

    after = pair(tmp_path, vrrp(priority=150, body=AUTH.format("DbWriter123")),
                 vrrp(body=AUTH.format("DbWriter")))
    assert ["warning"] == [f.severity for f in of(after, "KA052")]
    assert "differs only after the 8th character" in of(after, "KA052")[0].message
    assert "authenticate anyway" in of(after, "KA052")[0].message
    assert [] == of(after, "KA043")

    within = pair(tmp_path, vrrp(priority=150, body=AUTH.format("DbWriter123")),
                  vrrp(body=AUTH.format("DbReader123")))
    assert ["error", "error"] == [f.severity for f in of(within, "KA052")]
    assert 1 == len(of(within, "KA043"))


def test_state_master_on_the_lower_priority_node(tmp_path: Path) -> None:
    """MASTER at 10, the peer BACKUP at 30 (keepalived issue #138). Two keepalived 2.2.7 in
    two namespaces: the peer logged 'received lower priority (10) advert … discarding', then
    'Entering MASTER STATE'; the written master 'Master received advert from 192.0.2.3 with
    higher priority 30, ours 10', 'Entering BACKUP STATE'. keepalived -t: exit 0, silent, on
    each config — a warning, at the MASTER node's instance, whichever side it is."""
    low = vrrp("LAN112", 112, 10, "MASTER")
    high = vrrp("LAN112", 112, 30)
    for mine, theirs, file in ((low, high, "n1.conf"), (high, low, "n2.conf")):
        found = of(pair(tmp_path, mine, theirs), "KA048")
        assert [("warning", file)] == [(f.severity, Path(f.file).name) for f in found]
        assert "the VIPs rest on the peer written BACKUP" in found[0].message
    assert [] == of(pair(tmp_path, vrrp(priority=30, state="MASTER"), vrrp(priority=10)),
                    "KA048")
    held = vrrp("LAN112", 112, 30, body=" nopreempt\n")
    assert [] == of(pair(tmp_path, low, held), "KA048")  # nopreempt: the first up keeps them


def test_a_missing_script_drops_the_tracker_per_weight(tmp_path: Path) -> None:
    """keepalived -t: 'Disabling track script chk_pos since not found/accessible' (and the
    same for chk_neg, chk_zero), exit 5: check_vrrp_script_security frees the tracker, so
    nothing counts as success — +10 never comes, -10 never comes, 0 never means FAULT."""
    scripts = "".join(f'vrrp_script chk_{n} {{\n script "{tmp_path}/missing-{n}"\n{w}}}\n'
                      for n, w in (("pos", " weight 10\n"), ("neg", " weight -10\n"),
                                   ("zero", "")))
    body = " track_script {\n chk_pos\n chk_neg\n chk_zero\n }\n"
    path = tmp_path / "k.conf"
    path.write_text(scripts + vrrp(body=body))
    said = {f.message.split(":")[0]: f.message for f in lint(str(path), on_host=True).findings
            if f.rule == "KA020"}
    assert "SUCCEEDING" not in "".join(said.values())
    assert "never gets its +10 bonus" in said["vrrp_script chk_pos"]
    assert "as if the check always failed" in said["vrrp_script chk_pos"]
    assert "never gets its -10 penalty" in said["vrrp_script chk_neg"]
    assert "never goes to FAULT for it" in said["vrrp_script chk_zero"]
    assert all("Disabling track script" in m for m in said.values())


def test_a_script_that_is_not_executable_drops_the_tracker(tmp_path: Path) -> None:
    """A mode-644 script: keepalived -t exit 0, silent; keepalived running logs "WARNING -
    script '…' is not executable for uid:gid 0:0 - disabling." (check_script_secure) and
    the instance runs untracked: the +10 never comes."""
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    path = tmp_path / "k.conf"
    path.write_text(f'vrrp_script chk {{\n script "{script}"\n weight 10\n}}\n'
                    + vrrp(body=TRACKED))
    [found] = [f for f in lint(str(path), on_host=True).findings if f.rule == "KA021"]
    assert "drops the tracker" in found.message and "+10 bonus" in found.message
    assert "succeeding" not in found.message

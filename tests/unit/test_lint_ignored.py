"""What keepalived ignores or removes, found without keepalived: untracked trackers, unknown
keywords, overwritten keywords, unknown states, truncated passwords, malformed input."""

from __future__ import annotations

import os
import pwd
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.lint.engine import lint
from lbcheck.lint.findings import Finding
from lbcheck.lint.keepalived import parse


def instance(body: str = "", name: str = "VI_1", priority: int = 100) -> str:
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id 51\n"
            f" priority {priority}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n{body}}}\n")


def findings(tmp_path: Path, text: str, on_host: bool = False, name: str = "k.conf",
             peer: str | None = None) -> list[Finding]:
    path = tmp_path / name
    path.write_text(text)
    peer_path = None
    if peer is not None:
        peer_path = tmp_path / f"peer-{name}"
        peer_path.write_text(peer)
    return lint(str(path), str(peer_path) if peer_path else None, on_host=on_host).findings


def rules(found: list[Finding]) -> Counter[str]:
    return Counter(f.rule for f in found)


@pytest.mark.parametrize("body, name", [
    (" track_script {\n chk_missing\n }\n", "chk_missing"),
    (" track_process {\n haproxy_proc\n }\n", "haproxy_proc"),
    (" track_file {\n flag\n }\n", "flag"),
])
def test_undefined_trackers_are_errors_naming_them(tmp_path: Path, body: str,
                                                   name: str) -> None:
    """keepalived: '(VI_1) track script X not found, ignoring...' → KA005 names X, untracked."""
    found = [f for f in findings(tmp_path, instance(body)) if f.rule == "KA005"]
    assert 1 == len(found) and found[0].severity == "error"
    assert name in found[0].message and "untracked" in found[0].message


def test_a_script_without_command_and_a_missing_sync_group_member(tmp_path: Path) -> None:
    """'No script set … - removing' and 'specified in sync group … doesn't exist'."""
    text = ("vrrp_script chk {\n interval 1\n}\n" + instance(" track_script {\n chk\n }\n")
            + "vrrp_sync_group G {\n group {\n VI_1\n VI_9\n }\n}\n")
    messages = [f.message for f in findings(tmp_path, text) if f.rule == "KA005"]
    assert 3 == len(messages)  # the script, its reference, the missing member
    assert any("VI_9" in m for m in messages)


def test_the_crash_of_issue_11_is_findings_now(tmp_path: Path) -> None:
    """Duplicate keywords, a sync group naming no instance, preempt_delay without a value and
    an undefined track_script: findings, no internal error."""
    text = ("vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n}\n"
            + instance(" priority 90\n preempt_delay\n track_script {\n nope\n }\n"))
    found = rules(findings(tmp_path, text))
    assert {"KA005": 2, "KA007": 1, "KA060": 1} == {k: found[k] for k in
                                                     ("KA005", "KA007", "KA060")}


@pytest.mark.skipif(os.geteuid() != 0, reason="the user check reads the real passwd")
def test_script_security_without_user_on_host(tmp_path: Path) -> None:
    """enable_script_security, no script_user, no keepalived_script user: every script is
    removed (KA005, --on-host only); elsewhere an info (KA027)."""
    try:
        pwd.getpwnam("keepalived_script")
        pytest.skip("keepalived_script exists here")
    except KeyError:
        pass
    text = ("global_defs {\n enable_script_security\n}\nvrrp_script chk {\n script /bin/true\n}\n"
            + instance(" track_script {\n chk\n }\n"))
    on_host = rules(findings(tmp_path, text, on_host=True))
    assert on_host["KA005"] == 2  # the script and its reference
    assert {"KA027": 1} == {k: v for k, v in rules(findings(tmp_path, text)).items()
                            if k in ("KA005", "KA027")}


@pytest.mark.parametrize("block, line, expected", [
    ("vrrp_script chk {\n script /bin/true\n raise 5\n}\n", "raise", "did you mean 'rise'"),
    ("vrrp_script chk {\n script /bin/true\n fal 2\n}\n", "fal", "did you mean 'fall'"),
    ("global_defs {\n lvs_id LB1\n}\n", "lvs_id", "removed before keepalived 2.0"),
    (instance(" nat_mask 255.255.255.0\n"), "nat_mask", "unknown keyword"),
    (instance(" notify_primary /bin/true\n"), "notify_primary", "unknown keyword"),
    (("virtual_server 192.0.2.1 80 {\n real_server 10.0.0.1 80 {\n TCP_CHECK {\n"
     " nb_get_retry 3\n }\n }\n}\n"), "nb_get_retry", "unknown keyword"),
    # keepalived ignores the `{` after an unknown keyword (its lines are read at the top level:
    # test_keepalived_reading.py), so the block here is empty.
    ("foo_block {\n}\n", "foo_block", "at the top level"),
])
def test_unknown_keywords_are_named(tmp_path: Path, block: str, line: str,
                                    expected: str) -> None:
    """Every keyword keepalived calls unknown is KA006, with a hint for typos and legacy."""
    found = [f for f in findings(tmp_path, block) if f.rule == "KA006"]
    assert 1 == len(found), found
    assert line in found[0].message and expected in (found[0].message + found[0].fix)


def test_known_keywords_are_not_flagged(tmp_path: Path) -> None:
    """The usual keywords of every VRRP block pass (no false unknowns)."""
    text = ("global_defs {\n router_id lb1\n script_user root\n enable_script_security\n"
            " vrrp_garp_master_delay 1\n}\n"
            "vrrp_script chk {\n script /bin/true\n interval 1\n timeout 1\n rise 2\n fall 2\n"
            " weight -20\n user root\n init_fail\n}\n"
            + instance(" state BACKUP\n nopreempt\n advert_int 1\n garp_master_delay 1\n"
                       " authentication {\n auth_type PASS\n auth_pass secret\n }\n"
                       " unicast_src_ip 192.0.2.1\n unicast_peer {\n 192.0.2.2\n }\n"
                       " track_script {\n chk\n }\n track_interface {\n eth0\n }\n"))
    assert 0 == rules(findings(tmp_path, text))["KA006"]


def test_keyword_given_twice_names_both_lines(tmp_path: Path) -> None:
    """priority twice: the last wins (KA007 names both lines); notify twice: the first."""
    text = instance(' advert_int 1\n advert_int 3\n notify "/a"\n notify "/b"\n')
    found = [f for f in findings(tmp_path, text) if f.rule == "KA007"]
    assert 2 == len(found)
    assert "lines 8 and 9" in found[0].message and "uses line 9" in found[0].message
    assert "uses line 10" in found[1].message


@pytest.mark.parametrize("body, rule", [
    (" state master\n", "KA051"), (" state PRIMARY\n", "KA051"),
    (" state MASTER\n state BACKUP\n", "KA051"),
    (" authentication {\n auth_type PASS\n auth_pass 123456789\n }\n", "KA052"),
    (" state MASTER\n authentication {\n auth_type AH\n auth_pass abc\n }\n", "KA053"),
])
def test_states_and_authentication_keepalived_changes(tmp_path: Path, body: str,
                                                      rule: str) -> None:
    """Unknown state → BACKUP; auth_pass truncated to 8; AH + MASTER → BACKUP: errors."""
    assert 1 == rules(findings(tmp_path, instance(body)))[rule]


def test_killall_message_names_the_process(tmp_path: Path) -> None:
    """`killall -0 keepalived` is about keepalived, not haproxy."""
    text = 'vrrp_script chk {\n script "killall -0 keepalived"\n}\n' + instance()
    found = [f for f in findings(tmp_path, text) if f.rule == "KA024"]
    assert "zombie keepalived" in found[0].message and "haproxy" not in found[0].message


def test_weight_zero_on_both_nodes_says_who_holds_the_vips(tmp_path: Path) -> None:
    """KA012: both nodes FAULT on the same check → nobody holds the VIPs; the fix names a
    negative weight larger than the priority gap."""
    script = 'vrrp_script chk {\n script "/bin/true"\n}\n'
    body = " track_script {\n chk\n }\n"
    found = [f for f in findings(tmp_path, script + instance(body, priority=150),
                                 peer=script + instance(body, priority=100))
             if f.rule == "KA012"]
    assert 1 == len(found) and "weight -51" in found[0].fix


@pytest.mark.parametrize("text, expected", [
    (instance() + "}\n", "unexpected '}'"),
    (instance(' notify "/bin/true\n'), "unterminated"),
    ("{\n" + instance(), "opens nothing"),
    ("vrrp_instance VI_1 {\n interface eth0\n", "never closed"),
    ("include missing.conf\n" + instance(), "cannot read include"),
])
def test_malformed_input_is_a_finding_with_its_line(tmp_path: Path, text: str,
                                                    expected: str) -> None:
    """What keepalived reads around with a complaint is KA060 at file:line."""
    found = [f for f in findings(tmp_path, text) if f.rule == "KA060"]
    assert found and expected in found[0].message and found[0].line >= 1


def test_include_cycle_and_crlf_and_no_final_newline(tmp_path: Path) -> None:
    """An include loop is one finding (keepalived loops until out of descriptors); CRLF and a
    missing final newline parse like the plain file."""
    (tmp_path / "loop.conf").write_text("include loop.conf\n" + instance())
    loop = lint(str(tmp_path / "loop.conf"), on_host=False).findings
    assert 1 == rules(loop)["KA060"] and "loop" in loop[0].message
    plain = findings(tmp_path, instance(), name="plain.conf")
    crlf = findings(tmp_path, instance().replace("\n", "\r\n").rstrip("\r\n"), name="crlf.conf")
    assert rules(plain) == rules(crlf)


def test_keepalived_output_becomes_findings_once() -> None:
    """`(FILE: Line N) message` lines, repeated per child process, become one finding each;
    `(Line N)` means the main file; complaints about this machine are info off the host."""
    output = ("(Line 4) Unknown keyword 'lvs_id'\n"
              "(/etc/k.conf: Line 4) Unknown keyword 'lvs_id'\n"
              "(/etc/k.conf: Line 4) Unknown keyword 'lvs_id'\n"
              "(/etc/k.conf: Line 9) (VI_1) tracked interface eth9 doesn't exist\n"
              "Sync group G has only 1 virtual router(s) - this probably isn't what you want\n")
    found = parse(output, "/etc/k.conf", on_host=False)
    assert [("error", 4), ("info", 9), ("warning", 0)] == [(f.severity, f.line) for f in found]


BLOCKS = st.sampled_from([
    instance(), instance(" priority 120\n priority\n"), "vrrp_script chk {\n script\n}\n",
    "vrrp_script chk {\n}\n", "vrrp_sync_group G {\n group {\n VI_1\n VI_X\n }\n}\n",
    "vrrp_sync_group G {\n}\n", "global_defs {\n enable_script_security\n lvs_id x\n}\n",
    "foo {\n bar {\n baz\n }\n}\n", "vrrp_instance {\n}\n", "vrrp_instance VI_1\n",
    "track_file {\n}\n", "vrrp_track_process p {\n weight\n}\n", "include loop.conf\n",
    "include *.missing\n", "}\n", "{\n", '"\n', "@host priority 5\n", "$X=1\n", "\r\n",
    " track_script {\n chk weight\n }\n", " unicast_peer {\n}\n", " state\n",
    " authentication {\n auth_type\n auth_pass\n }\n", " native_ipv6\n",
    " virtual_ipaddress {\n 192.0.2.1\n ::1\n }\n", " advert_int nan\n", " priority inf\n",
    " weight +-5\n", " virtual_router_id ²\n",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(BLOCKS, max_size=12).map("".join), st.booleans())
def test_whole_configs_never_crash_lint(tmp_path_factory, text: str, final: bool) -> None:
    """Duplicate blocks, missing values, unknown blocks, include loops, CRLF, no final
    newline: lint always answers with findings, never an internal error (KA099)."""
    directory = tmp_path_factory.mktemp("whole")
    (directory / "loop.conf").write_text("include loop.conf\n" + text)
    path = directory / "k.conf"
    path.write_text(text if final else text.rstrip("\n"))
    for on_host in (False, True):
        report = lint(str(path), str(directory / "loop.conf"), on_host=on_host)
        assert [] == [f for f in report.findings if f.rule == "KA099"]


def test_a_socket_the_script_user_may_not_reach_is_named(tmp_path: Path) -> None:
    """KA027 --on-host's core: an unprivileged script user (here `nobody`) cannot connect to a
    root-only stats socket, nor through a directory it may not search — each said precisely;
    a socket it may write is fine."""
    import tempfile

    from lbcheck.lint.tracking import _cannot_connect

    with tempfile.TemporaryDirectory(dir="/tmp") as top:  # /tmp: searchable by everyone
        sock = Path(top) / "admin.sock"
        sock.write_text("")  # the permission bits are what is judged, not the file type
        Path(top).chmod(0o700)
        assert f"{top} is not searchable by nobody" == _cannot_connect("nobody", str(sock))
        Path(top).chmod(0o755)
        sock.chmod(0o600)
        problem = _cannot_connect("nobody", str(sock))
        assert problem is not None and "nobody may not write" in problem, problem
        assert "-rw-------" in problem
        sock.chmod(0o666)
        assert _cannot_connect("nobody", str(sock)) is None
        assert _cannot_connect("root", str(sock)) is None


LVS = ("virtual_server 192.0.2.20 80 {{\n delay_loop 6\n lb_algo rr\n lb_kind {kind}\n"
       " protocol TCP\n real_server 198.51.100.10 80 {{\n HTTP_GET {{\n url {{\n path /\n"
       " status_code 200\n }}\n connect_timeout 3\n{extra} }}\n }}\n}}\n")


@pytest.mark.parametrize("kind", ["dr", "Nat", "DIRECT"])
def test_an_lb_kind_keepalived_refuses_is_an_error(tmp_path: Path, kind: str) -> None:
    """`lb_kind dr` (seen in a public Salt pillar): keepalived 2.2.7 refuses it ('unknown
    routing method') and `keepalived -t` fails — lint says so without keepalived."""
    found = [f for f in findings(tmp_path, instance() + LVS.format(kind=kind, extra=""))
             if f.rule == "KA050"]
    assert 1 == len(found) and found[0].severity == "error" and f"lb_kind {kind}" in (
        found[0].message)


def test_the_lb_kinds_keepalived_knows_are_clean(tmp_path: Path) -> None:
    """NAT, DR and TUN, spelled so, raise nothing."""
    for kind in ("NAT", "DR", "TUN"):
        text = instance() + LVS.format(kind=kind, extra="")
        assert not [f for f in findings(tmp_path, text) if f.rule == "KA050"], kind


def test_nb_get_retry_in_http_get_is_a_deprecation_warning(tmp_path: Path) -> None:
    """Still read, but keepalived complains and `keepalived -t` fails: a warning naming
    `retry` as the fix."""
    text = instance() + LVS.format(kind="NAT", extra=" nb_get_retry 3\n")
    [found] = [f for f in findings(tmp_path, text) if f.rule == "KA006"]
    assert ("warning", "retry 3") == (found.severity, found.fix)

"""Issue 21's traps, each found by lint's own rules (what a config repository's CI gets).

Each config below was run through real `keepalived -t` 2.2.7 in a network namespace holding
eth0 and eth1 (veth pairs); the docstring quotes what it printed and its exit status. Each test
fails without the rule it names.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lbcheck.lint.engine import lint
from lbcheck.lint.findings import Finding


def findings(tmp_path: Path, text: str) -> list[Finding]:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return lint(str(path), on_host=False).findings


def rules(tmp_path: Path, text: str) -> Counter[str]:
    return Counter(f"{f.rule} {f.severity}" for f in findings(tmp_path, text))


SECURE = "global_defs {\n    script_user root\n    enable_script_security\n}\n"


def instance(body: str = "", head: str = "", name: str = "VI_1") -> str:
    return (f"vrrp_instance {name} {{\n{head}    interface eth0\n    virtual_router_id 51\n"
            f"    priority 100\n    virtual_ipaddress {{\n        192.0.2.10/24\n    }}\n"
            f"{body}}}\n")


SCRIPT = 'vrrp_script chk {\n    script "/usr/bin/true"\n    weight 10\n}\n'
TRACKED = "    track_script {\n        chk\n    }\n"


def test_a_vrrp_script_defined_after_its_track_script_is_ignored(tmp_path: Path) -> None:
    """KA005. keepalived -t (exit 5): `(keepalived.conf: Line 13) (VI_1) track script chk not
    found, ignoring...`; defined first, it is silent (exit 0)."""
    after = rules(tmp_path, SECURE + instance(TRACKED) + SCRIPT)
    before = rules(tmp_path, SECURE + SCRIPT + instance(TRACKED))
    assert after["KA005 error"] == 1 and before["KA005 error"] == 0
    late = next(f for f in findings(tmp_path, SECURE + instance(TRACKED) + SCRIPT)
                if f.rule == "KA005")
    assert late.line == 13 and "defined only after this instance" in late.message


def test_track_interface_on_the_instance_s_own_interface_is_dropped(tmp_path: Path) -> None:
    """KA005. keepalived -t (exit 5): `(VI_1) Ignoring track_interface eth0 since own
    interface`; eth1 is tracked without a word."""
    own = rules(tmp_path, instance("    track_interface {\n        eth0 weight -20\n    }\n"))
    other = rules(tmp_path, instance("    track_interface {\n        eth1 weight -20\n    }\n"))
    assert own["KA005 error"] == 1 and other["KA005 error"] == 0


STRICT = "global_defs {\n    vrrp_strict\n}\n"
AUTH = "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n"


def test_vrrp_strict_drops_authentication_and_fixes_the_state(tmp_path: Path) -> None:
    """KA070. keepalived -t (exit 5): `(VI_1) State MASTER must match being address owner`,
    `(VI_1) Strict mode does not support authentication. Ignoring.`; without vrrp_strict it
    is silent (exit 0)."""
    text = instance(AUTH, head="    state MASTER\n")
    assert rules(tmp_path, STRICT + text)["KA070 error"] == 2
    assert rules(tmp_path, text)["KA070 error"] == 0


def test_vrrp_strict_with_unicast_peers_is_a_warning(tmp_path: Path) -> None:
    """KA070 warning. keepalived 2.2.7 -t is silent (exit 0): its 'Unicast peers are not
    supported in strict mode' check runs before the unicast flag is set, so it never fires."""
    peers = "    unicast_peer {\n        192.0.2.6\n    }\n"
    assert rules(tmp_path, STRICT + instance(peers))["KA070 warning"] == 1
    assert rules(tmp_path, instance(peers))["KA070 warning"] == 0


def test_preempt_delay_with_nopreempt_is_reset(tmp_path: Path) -> None:
    """KA071. keepalived -t (exit 5): `(VI_1) preempt_delay is incompatible with nopreempt
    mode - resetting`; preempt_delay alone on a BACKUP is silent (exit 0)."""
    both = instance("    nopreempt\n    preempt_delay 30\n", head="    state BACKUP\n")
    alone = instance("    preempt_delay 30\n", head="    state BACKUP\n")
    assert rules(tmp_path, both)["KA071 error"] == 1
    assert rules(tmp_path, alone)["KA071 error"] == 0


def test_a_sync_group_of_one_instance(tmp_path: Path) -> None:
    """KA072. keepalived -t (exit 5): `Sync group G has only 1 virtual router(s) - this
    probably isn't what you want`; with two members it is silent (exit 0)."""
    one = "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n}\n" + instance()
    two = ("vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
           + instance() + instance(name="VI_2").replace("router_id 51", "router_id 52"))
    assert rules(tmp_path, one)["KA072 warning"] == 1
    assert rules(tmp_path, two)["KA072 warning"] == 0


def test_an_empty_unicast_peer_block_means_multicast(tmp_path: Path) -> None:
    """KA073. keepalived -t (exit 5): `(VI_1) A unicast keyword has been specified without any
    unicast peers. Defaulting to multicast. This usage is deprecated - please update your
    configuration.`"""
    empty = instance("    unicast_src_ip 192.0.2.5\n    unicast_peer {\n    }\n")
    peered = instance("    unicast_src_ip 192.0.2.5\n    unicast_peer {\n        192.0.2.6\n"
                      "    }\n")
    assert rules(tmp_path, empty)["KA073 error"] == 1
    assert rules(tmp_path, peered)["KA073 error"] == 0


NOTIFY_QUOTED = '    notify_master "/usr/bin/logger master &>> /tmp/lbq.log"\n'
NOTIFY_BARE = "    notify_backup /usr/bin/logger backup | tee /tmp/lbq.log\n"
NOTIFY_SH = "    notify_fault \"/bin/sh -c 'logger fault | tee /tmp/lbq.log'\"\n"


def test_shell_syntax_in_a_command_keepalived_runs_without_a_shell(tmp_path: Path) -> None:
    """KA074. keepalived -t is silent on all three (exit 0): it splits the command into argv
    itself (set_script_params_array) and execve()s it; `&>>` is a literal argument, and the
    unquoted `| tee` is read as user `backup`, group `|` — the script is dropped at start-up.
    `/bin/sh -c '…'` hands the pipe to a shell, as meant."""
    found = rules(tmp_path, SECURE + instance(NOTIFY_QUOTED + NOTIFY_BARE + NOTIFY_SH))
    assert (found["KA074 warning"], found["KA074 error"]) == (1, 1)


@pytest.mark.parametrize("where", ["global", "instance"])
def test_authentication_under_vrrpv3_is_ignored(tmp_path: Path, where: str) -> None:
    """KA075. keepalived -t (exit 5): `(VI_1) VRRP version 3 does not support authentication.
    Ignoring.`; under VRRPv2 it is silent (exit 0)."""
    if where == "global":
        text = "global_defs {\n    vrrp_version 3\n}\n" + instance(AUTH)
    else:
        text = instance(AUTH, head="    version 3\n")
    assert rules(tmp_path, text)["KA075 error"] == 1
    assert rules(tmp_path, instance(AUTH))["KA075 error"] == 0


def test_a_label_on_an_ipv6_address_is_ignored(tmp_path: Path) -> None:
    """KA076. keepalived -t (exit 5): `(keepalived.conf: Line 9) Cannot specify label for IPv6
    addresses (2001:db8::10/64) - ignoring label`; the IPv4 label is silent."""
    text = instance("    virtual_ipaddress_excluded {\n        2001:db8::10/64 dev eth0 label "
                    "eth0:6\n        192.0.2.11/24 dev eth0 label eth0:4\n    }\n")
    assert [(f.line, f.rule) for f in findings(tmp_path, text) if f.severity == "error"] == [
        (9, "KA076")]


VALUES = """\
global_defs {
    vrrp_garp_interval 0
    vrrp_gna_interval 0.5
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority PRIO_PLACEHOLDER
    virtual_ipaddress {
        192.0.2.10/24
    }
}
virtual_server 192.0.2.10 80 {
    lb_kind DR
    persistence_timeout 0
    protocol TCP
}
"""


def test_values_keepalived_rejects(tmp_path: Path) -> None:
    """KA050. keepalived -t (exit 5): `Line 2: number '0' outside range [0.000001,
    4294.967295]`, `Line 2: vrrp_garp_interval '0' is invalid`, `Line 8: invalid number
    'PRIO_PLACEHOLDER'`, `Line 8: (VI_1) Priority not valid! must be between 1 & 255. Using
    default 100`, `Line 15: number '0' outside range [1, 2678400]`, `Line 15:
    persistence_timeout invalid` (and, of the bare virtual_server, `has no real servers -
    ignoring`); vrrp_gna_interval 0.5 is accepted."""
    assert [f.line for f in findings(tmp_path, VALUES) if f.rule == "KA050"] == [2, 8, 15]


ROUTES = """\
static_routes {
    198.51.100.0/24 via 192.0.2.1 dev eth0 scope link frobnicate
    203.0.113.0/24 via 192.0.2.1 dev eth0 metric 5 table 100
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.10/24
    }
    virtual_routes {
        src 192.0.2.10 to 198.51.100.0/25 via 192.0.2.1 dev eth0 wibble 3
        default via 192.0.2.1 dev eth0 mtu lock 1400
    }
}
"""


def test_unknown_route_keywords_drop_the_route(tmp_path: Path) -> None:
    """KA006. keepalived -t (exit 5): `Line 2: VRRP parsed invalid IP frobnicate. skipping
    IP...`, `Line 2: unknown route keyword frobnicate`, and the same for `wibble` on line 13;
    the other two routes are read without a word."""
    assert [f.line for f in findings(tmp_path, ROUTES) if f.rule == "KA006"] == [2, 13]


def test_a_sync_group_member_keepalived_ignores(tmp_path: Path) -> None:
    """KA077. keepalived -t (exit 5): 'Virtual router VI_9 specified in sync group G doesn't
    exist - ignoring'; with no member left, 'Sync group G, no matching virtual router found in
    group declaration - removing'; a member a second group names: 'cannot exist in more than
    one sync group'."""
    group = "vrrp_sync_group {name} {{\n    group {{\n{members}    }}\n}}\n"
    missing = group.format(name="G", members="        VI_9\n")
    found = [f for f in findings(tmp_path, instance() + missing) if f.rule == "KA077"]
    assert len(found) == 2 and any("VI_9, which is no vrrp_instance" in f.message
                                   for f in found)
    twice = (instance() + instance(name="VI_2").replace("51", "52")
             + group.format(name="G1", members="        VI_1\n        VI_2\n")
             + group.format(name="G2", members="        VI_1\n        VI_2\n"))
    repeated = [f for f in findings(tmp_path, twice) if f.rule == "KA077"]
    assert {f.message.split(":")[0] for f in repeated} == {
        "vrrp_sync_group G2 names VI_1, already in G1",
        "vrrp_sync_group G2 names VI_2, already in G1",
        "vrrp_sync_group G2 has no member keepalived can use"}


def test_a_virtual_server_without_real_servers_is_ignored(tmp_path: Path) -> None:
    """KA078. keepalived -t (exit 5): 'Virtual server [192.0.2.20]:tcp:22 has no real servers
    - ignoring'."""
    lvs = ("virtual_server 192.0.2.20 22 {\n    lb_algo rr\n    lb_kind NAT\n"
           "    protocol TCP\n}\n")
    assert rules(tmp_path, instance() + lvs)["KA078 error"] == 1
    served = lvs.replace("}\n", "    real_server 192.0.2.21 22 {\n    }\n}\n")
    assert rules(tmp_path, instance() + served)["KA078 error"] == 0

"""The config read as keepalived 2.2.7's lib/parser.c reads it (issue 21: false errors).

Each config here is written for one line semantic; keepalived 2.2.7 -t was run on each by hand
and its reading (what it expands, skips, complains about) is what the tests assert.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbcheck.keepalived_conf import Instance, parse_text
from lbcheck.keepalived_conf.lines import decomment, host_config_id
from lbcheck.lint.engine import lint
from lbcheck.lint.findings import Finding


def one(text: str, config_id: str = "lb1") -> Instance:
    config = parse_text(text, "k.conf", tolerant=True, config_id=config_id)
    assert 1 == len(config.instances), config
    return config.instances[0]


def found(tmp_path: Path, text: str, peer: str | None = None, **ids: str) -> list[Finding]:
    path = tmp_path / "k.conf"
    path.write_text(text)
    peer_path = None
    if peer is not None:
        peer_path = tmp_path / "peer.conf"
        peer_path.write_text(peer)
    return lint(str(path), str(peer_path) if peer_path else None, on_host=False,
                **ids).findings  # type: ignore[arg-type]


# --- 1. parameters --------------------------------------------------------------------------

PARAMETERS = """$IF=eth0
$VIP=192.0.2.10
$ID=51
vrrp_instance VI_1 {
 interface $IF
 virtual_router_id ${ID}
 virtual_ipaddress {
  ${VIP}/24
  $VIP/32
 }
}
"""


def test_braced_parameters_expand_glued_to_other_text() -> None:
    """`${NAME}` is a parameter (main's reader split it at the braces: VRID None, VIP `$`);
    `$NAME` glued to `/32` is not one (keepalived: 'VRRP parsed invalid IP $VIP/32')."""
    instance = one(PARAMETERS)
    assert ("eth0", 51) == (instance.interface, instance.virtual_router_id)
    assert ["192.0.2.10/24", "$VIP/32"] == [v.text for v in instance.vips]


def test_a_multi_line_parameter_expands_into_lines_of_its_own() -> None:
    """`$NAME=… \\` goes on over the next lines; used as a line's last word, its lines become
    lines of the config (here a whole block)."""
    instance = one("$BLOCK=virtual_ipaddress { \\\n  192.0.2.10/24 \\\n  192.0.2.11/24 \\\n}\n"
                   "vrrp_instance VI_1 {\n interface eth0\n $BLOCK\n}\n")
    assert ["192.0.2.10/24", "192.0.2.11/24"] == [v.text for v in instance.vips]
    assert {7} == {v.line for v in instance.vips}  # the line that used the parameter


def test_an_undefined_parameter_stays_as_written() -> None:
    """keepalived leaves `$NOPE` alone (and `${NOPE}` splits at its braces, like any text)."""
    assert "$NOPE" == one("vrrp_instance VI_1 {\n interface $NOPE\n}\n").interface


def test_parameters_use_parameters_and_a_definition_needs_no_blank_before_the_sign() -> None:
    """A value is scanned again (nested parameters); `$X =1` defines nothing."""
    instance = one("$N=5\n$ID=${N}1\n$P =9\nvrrp_instance VI_1 {\n virtual_router_id $ID\n"
                   " interface eth0\n}\n")
    assert 51 == instance.virtual_router_id


def test_a_parameter_defined_on_itself_is_a_problem_not_a_hang() -> None:
    config = parse_text("$A=$A\nvrrp_instance VI_1 {\n interface $A\n}\n", tolerant=True,
                        config_id="lb1")
    assert any("forever" in p.message for p in config.problems)


def test_only_definitions_continue_over_a_backslash() -> None:
    """keepalived joins no other lines: `priority 90 \\` then `advert_int 2` are two lines."""
    instance = one("vrrp_instance VI_1 {\n interface eth0\n advert_int 2 \\\n priority 90\n}\n")
    assert (90, "eth0") == (instance.priority, instance.interface)


@pytest.mark.parametrize("raw, line", [
    ("  a b # c", "a b"), ('a "#x" ! y', 'a "#x"'), ("a \\# b", "a # b"), ("x\t", "x"),
])
def test_decomment_as_keepalived(raw: str, line: str) -> None:
    assert (line, False) == decomment(raw)


# --- 2. @ID / @^ID --------------------------------------------------------------------------

CONDITIONAL = """vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 @lb1 state MASTER
 @^lb1 state BACKUP
 @lb1 priority 150
 @^lb1 priority 100
 @lb1
 virtual_ipaddress {
  192.0.2.10/24
 }
}
"""


@pytest.mark.parametrize("config_id, state, priority", [
    ("lb1", "MASTER", 150), ("lb2", "BACKUP", 100), ("other", "BACKUP", 100),
])
def test_conditional_lines_apply_on_their_host_only(config_id: str, state: str,
                                                    priority: int) -> None:
    """`@lb1 …` on lb1 only, `@^lb1 …` everywhere but lb1 (main's reader kept both)."""
    instance = one(CONDITIONAL, config_id)
    assert (state, priority) == (instance.state, instance.priority)


def test_the_default_config_id_is_the_short_node_name() -> None:
    """keepalived's main.c: uname's node name up to the first dot."""
    import os

    assert os.uname().nodename.split(".")[0] == host_config_id()
    here = parse_text(f"@{host_config_id()} vrrp_instance HERE {{\n}}\n").instances
    assert ["HERE"] == [i.name for i in here]


def test_lint_sees_no_backup_after_master_on_lines_no_host_reads_together(
        tmp_path: Path) -> None:
    """KA051 'state BACKUP after state MASTER' judged two lines for different hosts."""
    for config_id in ("lb1", "lb2"):
        rules = {f.rule for f in found(tmp_path, CONDITIONAL, config_id=config_id)}
        assert "KA051" not in rules and "KA007" not in rules, (config_id, rules)


def test_the_pair_reads_each_file_with_its_own_id(tmp_path: Path) -> None:
    """One shared file on both nodes: lb1 is MASTER 150, lb2 BACKUP 100 — no tie (KA011)."""
    both = found(tmp_path, CONDITIONAL, peer=CONDITIONAL, config_id="lb1",
                 peer_config_id="lb2")
    assert "KA011" not in {f.rule for f in both}
    same = found(tmp_path, CONDITIONAL, peer=CONDITIONAL, config_id="lb1")
    assert "KA011" in {f.rule for f in same}  # the peer read as lb1 too: 150 / 150


# --- 3. the first value only ----------------------------------------------------------------

ONE_LINE = """vrrp_instance VI_1 {
 state MASTER priority 200
 interface eth0
 virtual_router_id 51
 virtual_ipaddress {
  192.0.2.10/24
 }
}
"""


def test_state_master_with_priority_on_its_line_sets_the_state_only() -> None:
    """No priority set: keepalived derives 255 from MASTER (vrrp_complete_instance()); main's
    model said 100."""
    instance = one(ONE_LINE)
    assert ("MASTER", 255) == (instance.state, instance.priority)
    assert 100 == one(ONE_LINE.replace("MASTER", "BACKUP")).priority


def test_lint_warns_that_the_rest_of_the_line_is_ignored(tmp_path: Path) -> None:
    hits = [f for f in found(tmp_path, ONE_LINE) if f.rule == "KA061"]
    assert [(2, "warning")] == [(f.line, f.severity) for f in hits]
    assert "'priority 200'" in hits[0].message
    assert not [f for f in found(tmp_path, ONE_LINE.replace(" priority 200", ""))
                if f.rule == "KA061"]


def test_the_pair_arithmetic_sees_the_derived_priority(tmp_path: Path) -> None:
    """Against `state BACKUP priority 100`: 255 vs 100, not main's 100/100 tie."""
    peer = ONE_LINE.replace("state MASTER priority 200", "state BACKUP\n priority 100")
    rules = {f.rule for f in found(tmp_path, ONE_LINE, peer=peer)}
    assert "KA011" not in rules


# --- 4. a `{` that opens nothing ------------------------------------------------------------

STRAY = """vrrp_instance VI_1 {
 interface eth0
 state BACKUP {
 virtual_router_id 51
 priority 90
 }
 advert_int 2
}
"""


def test_a_brace_after_a_keyword_without_a_block_is_ignored() -> None:
    """keepalived: 'Unexpected '{' - ignoring'; the lines after it stay in the instance, and
    the `}` meant for it closes the instance (so advert_int is read at the top level)."""
    config = parse_text(STRAY, "k.conf", tolerant=True, config_id="lb1")
    instance = config.instance("VI_1")
    assert instance is not None
    assert (51, 90, 1.0) == (instance.virtual_router_id, instance.priority,
                             instance.advert_int)
    assert ["vrrp_instance", "advert_int"] == [n.keyword for n in config.nodes]
    assert [3] == [p.line for p in config.problems if "after 'state' opens nothing" in p.message]


def test_a_brace_after_an_unknown_keyword_does_not_swallow_what_follows() -> None:
    config = parse_text("vrrp_instance VI_1 {\n interface eth0\n no_such {\n priority 90\n}\n",
                        "k.conf", tolerant=True, config_id="lb1")
    assert 90 == config.instances[0].priority


def test_a_brace_inside_a_block_of_values_opens_nothing() -> None:
    config = parse_text("vrrp_instance VI_1 {\n virtual_ipaddress {\n 192.0.2.10/24 {\n }\n"
                        " priority 90\n}\n", "k.conf", tolerant=True, config_id="lb1")
    assert (90, ["192.0.2.10/24"]) == (config.instances[0].priority,
                                       [v.text for v in config.instances[0].vips])


def test_lint_judges_the_keywords_after_a_stray_brace_where_keepalived_reads_them(
        tmp_path: Path) -> None:
    """`bar` after an unknown block's `{` is an unknown keyword at the top level, as
    keepalived says ('Unknown keyword 'bar'')."""
    unknown = [f for f in found(tmp_path, "foo_block {\n bar 1\n}\n") if f.rule == "KA006"]
    assert [1, 2] == [f.line for f in unknown]


def test_a_block_keyword_without_its_brace_still_opens_its_block(tmp_path: Path) -> None:
    """process_stream()'s bob_needed: `vrrp_instance VI_1` with no '{' — keepalived 2.2.7's
    VRRP process says "Missing '{' at beginning of configuration block" and reads the lines
    after it into the instance (the closing '}' then ends it; `keepalived -t` exit 5). A '{'
    alone on the next line is the block's own, as always."""
    text = ("vrrp_instance VI_1\n    interface eth0\n    virtual_router_id 51\n"
            "    priority 150\n    virtual_ipaddress {\n        192.0.2.10/24\n    }\n}\n")
    assert (one(text).priority, one(text).virtual_router_id) == (150, 51)
    braced = text.replace("vrrp_instance VI_1\n", "vrrp_instance VI_1\n{\n")
    assert one(braced).priority == 150
    said = [f for f in found(tmp_path, text) if f.rule == "KA060"]
    assert [f.line for f in said] == [1] and "Missing '{'" in said[0].message
    assert not [f for f in found(tmp_path, braced) if f.rule == "KA060"]

"""The keepalived.conf model: every corpus file parses; the article's seeds read as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.keepalived_conf import KeepalivedConfError, load, parse_text

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CONFIGS = sorted(p for p in CORPUS.glob("*/*") if p.name != "README.md") if CORPUS.exists() else []
SEED = CORPUS / "seed"


@pytest.mark.skipif(not CONFIGS, reason="../shared/corpus is not beside the checkout")
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_corpus_file_parses(path: Path) -> None:
    """keepalived's own samples and the article's configs all parse without error."""
    load(str(path))


@pytest.mark.skipif(not CONFIGS, reason="corpus absent")
def test_seed_mixed_families_keeps_lines_and_knows_what_keepalived_ignores() -> None:
    """1-mixed-families: IPv4 instance; the IPv4-mapped 'IPv6' VIPs are the ignored ones."""
    config = load(str(SEED / "1-mixed-families.conf"))
    vi1 = config.instance("VI_1")
    assert vi1 is not None
    assert ("ens192", 1, 101, 4) == (vi1.interface, vi1.virtual_router_id, vi1.priority,
                                     vi1.family)
    assert [("10.1.1.100", 26), ("10.1.1.101", 27), ("0:0:0:0:0:FFFF:0A01:0164", 29),
            ("0:0:0:0:0:FFFF:0A01:0165", 30)] == [(v.text, v.line) for v in vi1.vips]
    assert ["0:0:0:0:0:FFFF:0A01:0164", "0:0:0:0:0:FFFF:0A01:0165"] == [
        v.text for v in vi1.ignored_vips]
    assert 2 == config.script_weight(vi1.track_scripts[0])
    assert "killall -0 haproxy" == config.scripts["chk_haproxy"].command


@pytest.mark.skipif(not CONFIGS, reason="corpus absent")
def test_seed_sync_group_and_excluded() -> None:
    """3-sync-group groups VI_1 and VI_2 without tracking weight; 4-excluded moves IPv6 aside."""
    group = load(str(SEED / "3-sync-group.conf")).sync_groups[0]
    assert ("VI_1_2", ("VI_1", "VI_2"), False) == (group.name, group.members,
                                                    group.tracking_weight)
    vi1 = load(str(SEED / "4-excluded.conf")).instance("VI_1")
    assert vi1 is not None
    assert ["::ffff:a01:164", "::ffff:a01:165"] == [str(v.address.ip) for v in
                                                    vi1.excluded_vips if v.address]
    assert () == vi1.ignored_vips


def test_comments_quotes_glued_braces_and_defaults() -> None:
    """`#`/`!` comments, quoted strings, braces glued to words, keepalived's defaults."""
    config = parse_text(
        'global_defs{ enable_script_security ! comment\n script_user nobody }\n'
        'vrrp_script chk { script "/usr/bin/lbcheck haproxy --deadline 0.5" # why\n}\n'
        'vrrp_instance V\n{\n interface eth0\n virtual_ipaddress {\n'
        '  192.0.2.10/24 dev eth1 label eth1:0\n }\n track_script {\n  chk weight -20\n }\n}\n')
    instance = config.instance("V")
    assert instance is not None
    assert (100, 1.0, "BACKUP") == (instance.priority, instance.advert_int, instance.state)
    assert "/usr/bin/lbcheck haproxy --deadline 0.5" == config.scripts["chk"].command
    assert (True, "nobody") == (config.global_defs.enable_script_security,
                                config.global_defs.script_user)
    assert ("eth1", 9) == (instance.vips[0].dev, instance.vips[0].line)
    assert -20 == config.script_weight(instance.track_scripts[0])


def test_include_with_glob_relative_to_the_including_file(tmp_path: Path) -> None:
    """include GLOB resolves beside the including file; items keep their own file and line."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("vrrp_instance A {\n interface eth0\n}\n")
    (tmp_path / "conf.d" / "b.conf").write_text("\n\nvrrp_instance B {\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("include conf.d/*.conf\n")
    config = load(str(main))
    assert [("A", "a.conf", 1), ("B", "b.conf", 3)] == [
        (i.name, Path(i.file).name, i.line) for i in config.instances]


def test_defines_expand(tmp_path: Path) -> None:
    """$NAME=value definitions expand where $NAME is used, as keepalived does."""
    config = parse_text("$IF=eth7\nvrrp_instance A {\n interface $IF\n}\n")
    assert "eth7" == config.instance("A").interface  # type: ignore[union-attr]


@pytest.mark.parametrize("text, line, message", [
    ("vrrp_instance A {\n interface eth0\n", 1, "never closed"),
    ("}\n", 1, "unexpected '}'"),
    ('vrrp_script x {\n script "unterminated\n}\n', 2, "unterminated quoted string"),
    ("include /nonexistent/keepalived.conf\n", 1, "cannot read include"),
])
def test_grammar_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    """Broken input fails with one precise `file:line: message`."""
    with pytest.raises(KeepalivedConfError) as caught:
        parse_text(text, "k.conf")
    assert line == caught.value.line
    assert message in str(caught.value)


WORDS = st.sampled_from(["vrrp_instance", "VI_1", "{", "}", '"', "#", "!", "\n", " ",
                         "virtual_ipaddress", "192.0.2.1/24", "::ffff:1.2.3.4", "include",
                         "track_script", "weight", "-2", "$X=1", "$X", "@host", "\\\n",
                         "vrrp_sync_group", "group", "priority", "x" * 3])


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=60).map("".join))
def test_fuzzed_text_parses_or_fails_cleanly(text: str) -> None:
    """Any text built from keepalived's tokens yields a model or KeepalivedConfError."""
    try:
        parse_text(text, "fuzz.conf")
    except KeepalivedConfError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_fails_cleanly(text: str) -> None:
    """Arbitrary unicode (NULs, lone braces, stray quotes) never raises anything else."""
    try:
        parse_text(text, "fuzz.conf")
    except KeepalivedConfError:
        pass


def test_track_file_blocks_old_and_new_names() -> None:
    """keepalived 2.2's top-level `track_file NAME {}` and the deprecated vrrp_track_file."""
    config = parse_text("track_file a {\n file /run/a\n weight 0\n}\n"
                        "vrrp_track_file b {\n file /run/b\n}\n"
                        "vrrp_track_process c {\n process haproxy\n weight -10\n}\n")
    assert [("a", "/run/a", 0), ("b", "/run/b", 1), ("c", "haproxy", -10)] == [
        (t.name, t.target, t.weight) for t in config.trackers.values()]


def test_a_file_that_cannot_be_read_is_named_once(tmp_path: Path) -> None:
    """A file-level error (line 0) is "cannot read PATH: why", not "PATH:0: cannot read PATH"."""
    missing = tmp_path / "keepalived.conf"
    with pytest.raises(KeepalivedConfError) as caught:
        load(str(missing))
    assert f"cannot read {missing}: No such file or directory" == str(caught.value)

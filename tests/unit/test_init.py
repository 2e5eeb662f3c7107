"""`lbcheck init`: refusals are one line and exit 2, the output is deterministic, and every
generated pair lints clean — for the host's keyword table and for older releases'.

Lint is the judge here (issue 22: "lint-clean by construction"): the generator is not trusted
to know keepalived better than the rules that read its source. `keepalived -t` on the same
files runs in tests/integration/test_init.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lbcheck.cli import _POLICY, cli
from lbcheck.entry import run
from lbcheck.init import InitError, releases
from lbcheck.init.design import design
from lbcheck.init.render import files
from lbcheck.init.spec import build
from lbcheck.keepalived_conf import load
from lbcheck.lint.engine import lint
from lbcheck.lint.registry import Subject
from lbcheck.lint.text import unknown_keywords

V4 = ("--node", "192.0.2.11/24", "--peer", "192.0.2.12/24", "--vip", "192.0.2.10")
V6 = ("--node", "2001:db8:1::11/64", "--peer", "2001:db8:1::12/64", "--vip", "2001:db8:1::10")
BASE = ("init", "--interface", "eth0", "--keepalived-version", "2.2.7")
FAMILIES = {"dual": V4 + V6, "ipv4": V4, "ipv6": V6}


def lbcheck(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`lbcheck ARGV` under its real guard: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        run(cli, list(argv), "lbcheck", _POLICY)
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


def generate(out: Path, *argv: str) -> dict[str, bytes]:
    """The files `lbcheck init ARGV --out OUT` writes, by relative path (the CLI's own option
    parsing, then the modules it calls)."""
    from lbcheck.init.output import write

    given = cli.commands["init"].make_context("init", list(argv)).params
    spec = build(given["interface"], given["nodes"], given["peers"], given["vips"],
                 given["profile"], given["unicast"], given["vrid"], given["check"],
                 given["design"], given["release"] or releases.DEFAULT, given["name"],
                 given["peer_name"])
    write(str(out), files(design(spec)))
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


REFUSALS = [
    (("--vip", "::ffff:10.1.1.100"), "IPv4-mapped"),
    (("--vip", "fe80::10"), "link-local"),
    (("--vip", "127.0.0.1"), "loopback"),
    (("--vip", "224.0.0.18"), "multicast"),
    (("--vip", "0.0.0.0"), "unspecified"),
    (("--vip", "::"), "unspecified"),
    (("--vip", "192.0.2.11"), "is the --node address"),
    (("--vip", "192.0.2.12/24"), "is the --peer address"),
    (("--vip", "198.51.100.10"), "outside --node's subnet 192.0.2.0/24"),
    (("--vip", "192.0.2.10/32"), "given twice"),
    (("--vip", "not-an-address"), "no IPv4 or IPv6 address"),
    (("--vrid", "0"), "outside 1..255"),
    (("--vrid", "256"), "outside 1..255"),
    (("--name", "lb2"), "need two names"),
    (("--name", "../x"), "--name '../x'"),
    (("--keepalived-version", "latest"), "is no release"),
]


@pytest.mark.parametrize(("extra", "said"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_each_refusal_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                             extra: tuple[str, ...], said: str) -> None:
    code, out, err = lbcheck(capsys, *BASE, *V4, *extra)
    assert (2, "") == (code, out)
    assert 1 == len(err.splitlines()) and said in err, err
    assert err.startswith("lbcheck init: error: ")


@pytest.mark.parametrize(("argv", "said"), [
    (("--node", "192.0.2.11", "--peer", "192.0.2.11", "--vip", "192.0.2.10"),
     "--node and --peer are both 192.0.2.11"),
    (("--node", "192.0.2.11", "--peer", "2001:db8::12", "--vip", "192.0.2.10"),
     "node and peer need addresses of the same families"),
    (("--node", "192.0.2.11", "--peer", "192.0.2.12", "--vip", "2001:db8::10"),
     "--node and --peer have no IPv6 address"),
    (("--node", "192.0.2.11", "--node", "192.0.2.13", "--peer", "192.0.2.12",
      "--vip", "192.0.2.10"), "one per family"),
    (("--node", "192.0.2.11", "--peer", "192.0.2.12"), "--vip is missing"),
    (("--peer", "192.0.2.12", "--vip", "192.0.2.10"), "--node is missing"),
    (V4 + V6 + ("--design", "sync-group", "--vrid", "255"), "at most 254"),
    (V4 + ("--design", "sync-group"), "needs IPv4 and IPv6 VIPs"),
    (("--node", "::ffff:192.0.2.11", "--peer", "192.0.2.12", "--vip", "192.0.2.10"),
     "IPv4-mapped"),
    (V4 + ("--interface", "eth0 up"), "no interface name"),
])
def test_refusals_about_the_pair(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                 said: str) -> None:
    code, out, err = lbcheck(capsys, *BASE, *argv)
    assert (2, "") == (code, out)
    assert 1 == len(err.splitlines()) and said in err, err


def test_a_vip_outside_the_peer_s_subnet_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = lbcheck(capsys, *BASE, "--node", "192.0.2.11", "--peer", "192.0.2.12/28",
                           "--vip", "192.0.2.100")
    assert 2 == code and "outside --peer's subnet 192.0.2.0/28" in err


def test_without_out_it_prints_the_plan_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = lbcheck(capsys, *BASE, *V4, *V6, "--profile", "fast")
    assert (0, "") == (code, err)
    assert "would write (add --out DIR):" in out
    assert "  DIR/lb1/keepalived.service.d/lbcheck-release.conf" in out
    assert "  DIR/lb2/lbcheck-watch.service" in out
    assert [] == list(tmp_path.iterdir())


def test_the_same_inputs_give_the_same_bytes(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    argv = (*BASE, *V4, *V6, "--unicast", "--profile", "fast")
    written = []
    for run_dir in ("a", "b"):
        code, _, _ = lbcheck(capsys, *argv, "--out", str(tmp_path / run_dir))
        assert 0 == code
        written.append({str(p.relative_to(tmp_path / run_dir)): p.read_bytes()
                        for p in sorted((tmp_path / run_dir).rglob("*")) if p.is_file()})
    assert written[0] == written[1]
    assert {"README.md", "lb1/keepalived.conf", "lb1/lbcheck.toml",
            "lb1/lbcheck-watch.service", "lb1/keepalived.service.d/lbcheck-release.conf",
            "lb2/keepalived.conf", "lb2/lbcheck.toml", "lb2/lbcheck-watch.service",
            "lb2/keepalived.service.d/lbcheck-release.conf"} == set(written[0])
    assert 0o600 == (tmp_path / "a" / "lb1" / "lbcheck.toml").stat().st_mode & 0o777


def test_out_refuses_existing_files_unless_forced(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    argv = (*BASE, *V4, "--out", str(tmp_path))
    assert 0 == lbcheck(capsys, *argv)[0]
    conf = tmp_path / "lb2" / "keepalived.conf"
    conf.write_text("# the operator's own edit\n")
    code, _, err = lbcheck(capsys, *argv)
    assert 2 == code and 1 == len(err.splitlines())
    assert "exists: --force to overwrite it" in err
    assert "# the operator's own edit\n" == conf.read_text()  # nothing written on refusal
    assert 0 == lbcheck(capsys, *argv, "--force")[0]
    assert conf.read_text().startswith("# keepalived.conf of lb2 (the backup)")


@pytest.mark.parametrize("plant", ["symlinked node directory", "out writable by others"])
def test_out_is_not_redirected_by_what_another_user_planted(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, plant: str) -> None:
    """Run as root into a shared place (`--out /tmp/pair`), a `lb1` symlinked elsewhere
    (/etc/systemd/system…) would receive the files: refused, one line, exit 2, nothing there."""
    out, elsewhere = tmp_path / "pair", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    if plant == "symlinked node directory":
        (out / "lb1").symlink_to(elsewhere)
        said = f"{out / 'lb1'} is a symlink"
    else:
        out.chmod(0o777)
        said = f"{out} is writable by others"
    code, _, err = lbcheck(capsys, *BASE, *V4, "--out", str(out))
    assert (2, 1) == (code, len(err.splitlines())) and said in err, err
    assert [] == list(elsewhere.iterdir())
    assert [] == [p for p in out.rglob("*") if p.is_file()]


def test_the_written_toml_is_a_valid_lbcheck_config(tmp_path: Path) -> None:
    from lbcheck.config import load as load_config

    generate(tmp_path, "--interface", "eth0", *V4)
    config = load_config(str(tmp_path / "lb1" / "lbcheck.toml"))
    assert ("/run/haproxy/admin.sock", ()) == (config.haproxy.socket, config.page.targets)


def _matrix() -> list[tuple[str, str, str, str, str]]:
    found = []
    for family, profile, adverts, dual, check in itertools.product(
            FAMILIES, ("conservative", "fast"), ("--multicast", "--unicast"),
            ("excluded", "sync-group"), ("spawned", "watch")):
        if dual == "sync-group" and family != "dual":
            continue
        found.append((family, profile, adverts, dual, check))
    return found


def _findings(tmp_path: Path, release: str | None = None) -> list[tuple[str, str, str]]:
    """Lint's findings for the pair under tmp_path, with KA006 judged for ``release``."""
    lb1, lb2 = str(tmp_path / "lb1" / "keepalived.conf"), str(tmp_path / "lb2" / "keepalived.conf")
    report = lint(lb1, lb2, on_host=False)
    found = [(f.rule, f.severity, f.message) for f in report.findings]
    if release:
        for path in (lb1, lb2):
            found += [(f.rule, f.severity, f.message) for f in
                      unknown_keywords(Subject(load(path, tolerant=True), False, release))]
    return found


@pytest.mark.parametrize(("family", "profile", "adverts", "dual", "check"), _matrix(),
                         ids=["-".join(m) for m in _matrix()])
def test_every_generated_pair_lints_clean(tmp_path: Path, family: str, profile: str,
                                          adverts: str, dual: str, check: str) -> None:
    """0 errors, 0 warnings in every combination (the conservative profile's check is
    weighted, so a check failing on both nodes still leaves one holder: no KA012)."""
    generate(tmp_path, "--interface", "eth0", *FAMILIES[family], "--profile", profile,
             adverts, "--design", dual, "--check", check, "--keepalived-version", "2.2.7")
    found = [f for f in _findings(tmp_path, "2.2.7") if f[1] != "info"]
    assert [] == found


@pytest.mark.parametrize("release", ["1.3.9", "2.0.20"])
@pytest.mark.parametrize(("family", "profile", "adverts", "dual", "check"), [
    ("dual", "conservative", "--multicast", "excluded", "spawned"),
    ("ipv6", "conservative", "--unicast", "excluded", "spawned"),
    ("dual", "fast", "--unicast", "excluded", "spawned"),
    ("ipv6", "fast", "--multicast", "excluded", "spawned"),
    ("ipv4", "conservative", "--unicast", "excluded", "spawned"),
])
def test_older_releases_get_only_their_keywords(tmp_path: Path, release: str, family: str,
                                                profile: str, adverts: str, dual: str,
                                                check: str) -> None:
    generate(tmp_path, "--interface", "eth0", *FAMILIES[family], "--profile", profile,
             adverts, "--design", dual, "--check", check, "--keepalived-version", release)
    found = [f for f in _findings(tmp_path, release) if f[1] != "info"]
    assert [] == found


def test_2_0_20_names_the_track_file_block_as_it_did(tmp_path: Path) -> None:
    """track_file at the top level is 2.1's name; 2.0.x knows vrrp_track_file only."""
    old = generate(tmp_path / "old", "--interface", "eth0", *V4, "--check", "watch",
                   "--keepalived-version", "2.0.20")
    new = generate(tmp_path / "new", "--interface", "eth0", *V4, "--check", "watch",
                   "--keepalived-version", "2.2.7")
    assert b"\nvrrp_track_file haproxy_watch {" in old["lb1/keepalived.conf"]
    assert b"\ntrack_file haproxy_watch {" in new["lb1/keepalived.conf"]
    assert [] == [f for f in _findings(tmp_path / "old", "2.0.20") if f[1] != "info"]


@pytest.mark.parametrize(("argv", "said"), [
    (("--check", "watch", "--keepalived-version", "1.3.9"),
     ("keepalived 1.3.9 has no track_file (lint's keyword table knows it from 2.0.20): "
      "--check spawned")),
    (("--profile", "fast", "--design", "sync-group", "--check", "spawned",
      "--keepalived-version", "1.3.9"),
     "keepalived 1.3.9 has no sync_group_tracking_weight"),
    (("--design", "sync-group", "--keepalived-version", "1.3.9"),
     "keepalived 1.3.9 has no sync_group_tracking_weight"),
    (("--keepalived-version", "1.2.24"), "keepalived 1.2.24 has no vrrp_notify_fifo"),
    (("--keepalived-version", "1.3.5"), "keepalived 1.3.5 has no vrrp_notify_fifo"),
])
def test_what_a_release_cannot_do_is_refused(capsys: pytest.CaptureFixture[str],
                                             argv: tuple[str, ...], said: str) -> None:
    code, out, err = lbcheck(capsys, "init", "--interface", "eth0", *V4, *V6, *argv)
    assert (2, "") == (code, out)
    assert 1 == len(err.splitlines()) and said in err, err


@pytest.mark.parametrize(("release", "keyword", "known"), [
    ("2.0.20", "track_file", False), ("2.0.20", "vrrp_track_file", True),
    ("2.1.0", "track_file", False),  # between 2.0.20 and 2.1.5: not both neighbours know it
    ("2.1.5", "track_file", True), ("9.9.9", "track_file", True),
    ("1.0.0", "vrrp_instance", False),
])
def test_a_release_knows_what_its_neighbours_in_the_table_agree_on(
        release: str, keyword: str, known: bool) -> None:
    assert known == releases.knows(release, "", keyword)


def test_init_error_is_the_one_refusal_type() -> None:
    with pytest.raises(InitError):
        build("eth0", ("192.0.2.11",), ("192.0.2.11",), ("192.0.2.10",))

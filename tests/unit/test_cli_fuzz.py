"""Issue 17 §6: whatever a user types at lbcheck or lbnotify is one line and a documented code.

hypothesis builds argv from the real option names and hostile values (nan, inf, -0, huge
numbers, ports out of range, NUL bytes, non-UTF-8 arguments as surrogate escapes, empty
strings) and runs the click CLIs in-process through their ``main``, with stdout and stderr as
a UTF-8 terminal has them (strict). Any "internal error", traceback or exit code outside the
documented table fails.

Side-effect-free: every socket, pidfile and keepalived.conf is a missing path in a temp dir
(the cwd too, so relative paths land there); URLs and TCP targets only ever name 127.0.0.1 or
::1; announce only gets documentation addresses (192.0.2.0/24, 2001:db8::/32), which no
interface here holds, so nothing is ever sent; `release` (its only option is a flag) is not
run; `lint` belongs to the lint fuzz.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbcheck.cli import main as lbcheck_main
from lbcheck.exits import CODES, EXIT_USAGE
from lbcheck.notify.cli import main as lbnotify_main

# The table docs/checks.md "Exit codes" shows; --nagios's codes are the same numbers.
LBCHECK_CODES = CODES["lbcheck"] | CODES["lbcheck --nagios"]
LBNOTIFY_CODES = CODES["lbnotify"]

NUMBERS = ["nan", "NaN", "inf", "-inf", "1e309", "-0", "0", "-1", "0.001", "0.3", "60.0001",
           "99999999999999999999", "0x10", "1_000", "²", "١", " 1", "", "\0", "1\0"]
WEIRD = ["", "\0", "a\0b", "\udcff", "x\udcfe\udcff", "é", "-", "--", "-v", "--json", " ",
         "\n", "%s", "{}", "nan", "²"]
SOCKETS = ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:65536", ":70000", "ipv4@1.2.3.4:99999",
           "localhost:²", "nohost.invalid:80", "unix@", "ipv4@", "x" * 200, "/dev/null",
           "/dev/zero", "\0abstract", "127.0.0.1:-1"]
PIDFILES = ["/dev/zero", "/dev/null", "/proc/self/stat", "/", "missing.pid"]
LIMITS = ["app", "app:lots", "app:-1", "app:nan%", "app:150%", "app:99999999999999999999",
          ":1", "app:", "app:1:2", "app:²", "app:0%"]
ADDRESSES = ["192.0.2.7", "192.0.2.7/24", "2001:db8::7", "2001:db8::7/200", "192.0.2.7/33",
             "192.0.2.300", "fe80::1%", "2001:db8::7%\udcff", "nan"]


def weird(*extra: str) -> st.SearchStrategy[str]:
    """A listed hostile value, or a short random one (NUL and surrogates included)."""
    # blacklist_categories: the spelling Debian 12's hypothesis (6.36) knows, as the other tests.
    chars = st.characters(blacklist_categories=("Cs",)) | st.sampled_from(
        ["\0", "\udcff", "\udc80", ":", "/", "%", "."])
    return st.sampled_from([*WEIRD, *extra]) | st.text(chars, max_size=8)


def relative(*extra: str) -> st.SearchStrategy[str]:
    """A path written to: relative to the temp cwd (never ``..``), or a hostile string."""
    return (weird(*extra) | st.sampled_from(["state", "a/b", "track"])).filter(
        lambda v: not v.startswith("/") and ".." not in v and not v.startswith("~"))


def pairs(*options: tuple[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Any subset of ``options``, each with a drawn value, in drawn order."""
    def flatten(chosen: list[int], values: tuple[str, ...]) -> list[str]:
        return [item for i, v in zip(chosen, values, strict=True) for item in (options[i][0], v)]

    return st.lists(st.sampled_from(range(len(options))), unique=True).flatmap(
        lambda chosen: st.tuples(*(options[i][1] for i in chosen)).map(
            lambda values: flatten(chosen, values)))


def lbcheck_argv(tmp: Path) -> st.SearchStrategy[list[str]]:
    socket = st.sampled_from([*SOCKETS, str(tmp / "admin.sock")]) | weird()
    # Mostly valid where another value is hostile, so the commands themselves are reached.
    deadline = (st.sampled_from(["0.3", "0.05", "1"]) | st.sampled_from(NUMBERS)
                | st.floats(allow_nan=True).map(repr))
    config = st.sampled_from(["missing.toml", "", "\0", "\udcff.toml"])
    head = st.one_of(pairs(("--deadline", deadline), ("--state-dir", relative())),
                     pairs(("--deadline", deadline)),
                     pairs(("--config", config)))
    flags = st.lists(st.sampled_from(["-v", "--json", "--nagios", "-vv"]), max_size=2)
    port = st.sampled_from(["1", "0", "65535", "65536", "99999", "²", "", "x", "-1"])
    url = st.builds(lambda user, p, path: f"http://{user}127.0.0.1:{p}/{path}",
                    st.sampled_from(["", "admin:pw@", "admin:s3cr3t-T0KEN-1234@", "u@", ":@"]),
                    port, weird()) | weird("ftp://admin:pw@127.0.0.1/", "http://")
    target = st.builds(lambda host, p: f"{host}:{p}",
                       st.sampled_from(["127.0.0.1", "[::1]", "localhost", "\0", "\udcff",
                                        "", "[127.0.0.1]", "a..b"]), port) | weird()
    haproxy_options = pairs(("--socket", socket), ("--master-socket", socket),
                            ("--pidfile", st.sampled_from(PIDFILES) | weird()),
                            ("--backend", st.sampled_from(LIMITS) | weird()))
    commands = st.one_of(
        haproxy_options.map(lambda o: ["haproxy", *o]),
        st.tuples(st.lists(weird("haproxy", "keepalived"), max_size=1),
                  pairs(("--pidfile", st.sampled_from(PIDFILES) | weird()))).map(
            lambda t: ["process", *t[0], *t[1]]),
        pairs(("--socket", socket)).map(lambda o: ["socket", *o]),
        pairs(("--socket", socket), ("--backend", st.sampled_from(LIMITS) | weird())).map(
            lambda o: ["backends", *o]),
        st.tuples(url, pairs(("--status", st.sampled_from(NUMBERS + ["200", "600"])),
                             ("--contains", weird()))).map(lambda t: ["http", t[0], *t[1]]),
        target.map(lambda t: ["tcp", t]),
        st.tuples(pairs(("--interval", st.sampled_from(NUMBERS)),
                        ("--rise", st.sampled_from(NUMBERS)),
                        ("--fall", st.sampled_from(NUMBERS)),
                        ("--metrics-file", relative())),
                  relative("track"), haproxy_options).map(
            lambda t: ["watch", "--once", "--track-file", t[1], *t[0], "haproxy", *t[2]]),
    )
    return st.tuples(flags, head, commands).map(lambda t: [*t[0], *t[1], *t[2]])


def lbnotify_argv() -> st.SearchStrategy[list[str]]:
    commands = st.one_of(
        st.tuples(st.sampled_from(["master", "backup", "fault", "stop"]),
                  st.lists(weird("VI_1"), max_size=1)).map(lambda t: [t[0], *t[1]]),
        st.lists(weird("INSTANCE", "GROUP", "VI_1", "MASTER", "100"), min_size=0,
                 max_size=5).map(lambda f: ["event", *f]),
        st.lists(weird("INSTANCE", "VI_1", "MASTER", "nan"), min_size=4, max_size=4),
        relative("missing.fifo").map(lambda p: ["fifo", p]),
        st.tuples(pairs(("--dev", weird("nosuchif0")), ("--count", st.sampled_from(NUMBERS)),
                        ("--interval", st.sampled_from(NUMBERS))),
                  st.lists(st.sampled_from(ADDRESSES) | weird().filter(_not_an_address),
                           min_size=0, max_size=3)).map(lambda t: ["announce", *t[0], *t[1]]),
        pairs(("--budget", st.sampled_from(NUMBERS))).map(lambda o: ["flush", *o, "--due-only"]),
    )
    head = st.lists(st.sampled_from([["-v"], ["--config", "missing.toml"], ["--config", "\0"],
                                     ["--config", ""]]), max_size=1).map(
        lambda h: [item for option in h for item in option])
    return st.tuples(head, commands).map(lambda t: [*t[0], *t[1]])


def _not_an_address(value: str) -> bool:
    """Random text must never be an address this host holds (announce would send for it)."""
    import ipaddress

    try:
        ipaddress.ip_interface(value.strip())
    except ValueError:
        return True
    return False


_OPEN: list[io.TextIOWrapper] = []


@contextlib.contextmanager
def terminal() -> Iterator[list[bytes]]:
    """stdout and stderr as on a UTF-8 terminal (strict: a lone surrogate raises); yields a
    list that holds what was written once the block ends."""
    written: list[bytes] = []
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdout, sys.stderr, signal.getsignal(signal.SIGTERM)
    wrappers = [io.TextIOWrapper(buffer, encoding="utf-8", errors="strict", write_through=True)
                for buffer in (out, err)]
    sys.stdout, sys.stderr = wrappers
    try:
        yield written
    finally:
        sys.stdout, sys.stderr = saved[0], saved[1]
        signal.signal(signal.SIGTERM, saved[2])  # main() installs its own
        for wrapper in wrappers:
            wrapper.flush()
        # Kept open: a logger may hold on to the stderr it first saw (it then writes into an
        # earlier example's buffer, harmlessly); closing it would fail that later write.
        _OPEN.extend(wrappers)
        written += [out.getvalue(), err.getvalue()]


def run(entry: object, argv: list[str]) -> tuple[object, str]:
    with terminal() as written:
        try:
            entry(argv)  # type: ignore[operator]
            code: object = 0
        except SystemExit as exc:
            code = exc.code
    return code, b"".join(written).decode("utf-8", errors="backslashreplace")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose every path is in ``tmp_path``, which is also the cwd."""
    config = tmp_path / "lbcheck.toml"
    config.write_text(
        f'[haproxy]\nsocket = "{tmp_path / "admin.sock"}"\n'
        f'[keepalived]\nconfig = "{tmp_path / "keepalived.conf"}"\n'
        f'[log]\ntarget = "{tmp_path / "log.jsonl"}"\n'
        f'[check]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[notify]\nstate_dir = "{tmp_path / "notify"}"\n'
        f'[page]\noutbox = "{tmp_path / "outbox"}"\n')
    config.chmod(0o600)
    monkeypatch.setenv("LBCHECK_CONFIG", str(config))
    monkeypatch.setenv("LBCHECK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _judge(code: object, text: str, codes: frozenset[int], argv: list[str]) -> None:
    assert "internal error" not in text and "Traceback" not in text, (argv, text)
    assert code in codes, (argv, code, text)
    # usage: one line (lbnotify -v logs before it)
    if code == EXIT_USAGE and "--nagios" not in argv:
        lines = [line for line in text.strip().splitlines() if not line.startswith("{")]
        assert 1 == len(lines), (argv, text)


def test_lbcheck_options_never_cause_an_internal_error(sandbox: Path) -> None:
    @FUZZ
    @given(argv=lbcheck_argv(sandbox))
    def check(argv: list[str]) -> None:
        code, text = run(lbcheck_main, argv)
        _judge(code, text, LBCHECK_CODES, argv)
        assert "pw@" not in text and "s3cr3t" not in text, (argv, text)  # URLs redacted

    check()


def test_lbnotify_options_never_cause_an_internal_error(sandbox: Path) -> None:
    @FUZZ
    @given(argv=lbnotify_argv())
    def check(argv: list[str]) -> None:
        code, text = run(lbnotify_main, argv)
        _judge(code, text, LBNOTIFY_CODES, argv)

    check()


@pytest.mark.parametrize("argv", [
    ["--deadline", "nan", "process"],
    ["socket", "--socket", "127.0.0.1:99999"],
    ["haproxy", "--master-socket", "127.0.0.1:0"],
    ["process", "--pidfile", "a\0b"],
    ["watch", "--once", "--interval", "nan", "--track-file", "t", "haproxy"],
])
def test_the_issue_examples_are_usage_errors(sandbox: Path, argv: list[str]) -> None:
    """The inputs issue 17 names: each one line on stderr and exit 2, not exit 3."""
    code, text = run(lbcheck_main, argv)
    assert EXIT_USAGE == code, text
    assert 1 == len(text.strip().splitlines()) and "error" in text


def test_a_password_in_an_http_url_is_never_printed(sandbox: Path) -> None:
    """`lbcheck -v http http://admin:pw@…` printed the password; now the URL is masked."""
    for argv in (["-v", "http", "http://admin:hunter2@127.0.0.1:1/x?token=abcd"],
                 ["--json", "http", "http://admin:hunter2@127.0.0.1:1/"],
                 ["http", "ftp://admin:hunter2@127.0.0.1/"]):
        code, text = run(lbcheck_main, argv)
        assert code in (1, 2, 3), text
        assert "hunter2" not in text and "abcd" not in text, text
        assert "127.0.0.1" in text  # the host stays, for on-call
    assert "hunter2" not in (sandbox / "log.jsonl").read_text(errors="replace")


def test_a_non_utf8_name_is_printed_escaped(sandbox: Path) -> None:
    """`lbcheck -v process $'\\xff'`: the reason names it, escaped, instead of raising."""
    name = os.fsdecode(b"\xffhaproxy")
    code, text = run(lbcheck_main, ["-v", "process", name])
    assert 1 == code, text
    assert "\\udcffhaproxy" in text

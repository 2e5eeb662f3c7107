"""keepalived's own word: `keepalived -t -f CONF`, each complaint turned into a finding
of rule KA090 (registered as keepalived's, not a check's: no check judges it).

Where it runs matters. `keepalived -t` looks the config's interfaces up on the machine it
runs on, and at the first one missing it stops after parsing — before its semantic checks
(state MASTER below 255, nopreempt with MASTER, vrrp_strict's rules, unicast peers). On every
machine but the load balancer that is most configs. So, unless lint runs ``--on-host``, it
runs keepalived in a throw-away network namespace holding every interface the config names
(a dummy, or a veth where the kernel has no dummy module): what it says there is what it
would say on the load balancer. Without root (no namespace), it runs here as before, and when
it then stopped at a missing interface the report says which checks did not run.

keepalived 2.2.x prints `(FILE: Line N) message` on stderr for each problem (`(Line N)` or no
place at all for some, and every line once per child process), and exits non-zero when it
complained. Run through `sh` (imported here only: `lbcheck haproxy` never pays for it), with
a timeout. Works with sh 1.14 (Debian bookworm's python3-sh) and sh 2.x.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA001,
    KA004,
    KA005,
    KA006,
    KA020,
    KA021,
    KA023,
    KA027,
    KA028,
    KA046,
    KA047,
    KA050,
    KA051,
    KA052,
    KA053,
    KA054,
    KA060,
    KA070,
    KA071,
    KA072,
    KA073,
    KA075,
    KA076,
    KA077,
    KA078,
    KA090,
)

if TYPE_CHECKING:
    from lbcheck.keepalived_conf import KeepalivedConfig, Node

TIMEOUT = 10.0
_PLACE = re.compile(r"^\((?:(?P<file>.+?): )?Line (?P<line>\d+)\) (?P<message>.*)$")
_VERSION = re.compile(r"Keepalived v(\d+(?:\.\d+)+)")
_WARNING = re.compile(r"WARNING|probably isn't what you want|SECURITY VIOLATION|deprecated|"
                      r"Config files missing", re.IGNORECASE)
# What depends on the machine keepalived -t runs on rather than on the config: its interfaces,
# files and users there, its DNS (smtp_server), its keepalived build (nftables, ipvs).
_HOST = re.compile(r"interface \S+ for .* doesn't exist|tracked interface \S+ doesn't exist|"
                   r"Non-existent interface|not accessible|No such file|Config files missing|"
                   r"Unable to set default user|interface .* not found|Disabling track script|"
                   r"resolve|Unknown user|user .* not found|getpwnam|nftables|not compiled|"
                   r"not supported by this build|IPVS", re.IGNORECASE)
# keepalived telling what default it applies, not a complaint about what was written.
_DEFAULTED = re.compile(r"no forwarding method set, setting default", re.IGNORECASE)
# keepalived -t stopped after parsing: its semantic checks never ran.
_STOPPED = re.compile(r"Non-existent interface specified in configuration")
NOT_RUN = ("keepalived -t stopped at an interface missing on this machine, before its semantic "
           "checks (state MASTER below 255, nopreempt or preempt_delay with state MASTER, "
           "vrrp_strict's rules, empty unicast peers, route keywords): those did not run — "
           "lint as root to give it the config's interfaces in a private network namespace")
IFNAMSIZ = 16  # the kernel's limit, NUL included

# keepalived -t's complaints and the lint rules that report the same trap: a complaint one of
# them already reports (on its line, or about the object it names) is not shown twice — the
# merge deduplicates by finding, not by line — and the cross-check
# (tests/integration/test_lint_vs_keepalived.py) holds lint's own rules to every complaint.
ECHOES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), frozenset(r.id for r in rules))
    for pattern, rules in (
        (r"track (script|file|process) \S+ not found", (KA005, KA020, KA027)),
        (r"No script set for vrrp_script", (KA005,)),
        (r"since own interface", (KA005,)),
        (r"Disabling track script|Unable to set default user", (KA020, KA021, KA027)),
        (r"SECURITY VIOLATION", (KA028, KA023)),
        (r"with weights due to address_owner", (KA047,)),
        (r"with weights due to SYNC group", (KA004,)),
        (r"address family must match", (KA001,)),
        (r"nopreempt will not work with initial state MASTER", (KA046,)),
        (r"unknown state", (KA051,)),
        (r"Truncating auth_pass", (KA052,)),
        (r"incompatible with AH authentication", (KA053,)),
        (r"No VIP specified", (KA054,)),
        ((r"invalid number|not valid|outside range|is invalid|persistence_timeout invalid|"
         r"routing method"), (KA050,)),
        (r"Unknown keyword|deprecated|unknown route keyword", (KA006, KA060)),
        (r"Unexpected '|Extra '|Missing '|missing '|missing a parameter", (KA060,)),
        (r"State MASTER must match|Strict mode|strict mode", (KA070,)),
        (r"preempt_delay", (KA071,)),
        (r"has only \d+ virtual router", (KA072,)),
        (r"without any unicast peers", (KA073,)),
        (r"does not support authentication", (KA075,)),
        (r"label for IPv6", (KA076,)),
        (r"specified in sync group|no matching virtual router|more than one sync group",
         (KA077,)),
        (r"has no real servers", (KA078,)),
    ))
_IFNAME = re.compile(r"^[^\s/:]{1,15}$")
_NAMES = re.compile(r"[A-Za-z0-9_.:/\[\]-]+")


def echo_rules(message: str) -> frozenset[str]:
    """The lint rules that report what keepalived -t's ``message`` says (empty: none)."""
    return frozenset().union(*(rules for pattern, rules in ECHOES if pattern.search(message)))


def echoed(complaint: Finding, mine: list[Finding], names: set[str],
           enclosing: frozenset[int] = frozenset()) -> bool:
    """Does one of ``mine`` report what ``complaint`` says? A finding of a rule that says the
    same thing: about an object the complaint names (an instance, a script, a sync group of
    ``names``), on the complaint's line, or on the line opening a block around it
    (``enclosing``: keepalived reports some complaints inside a block whose opening lint
    reports, e.g. the lines after a missing '{'); for a complaint with no name and no line,
    any such finding in its file."""
    rules = echo_rules(complaint.message)
    same = [f for f in mine if f.rule in rules and f.file == complaint.file]
    if not same:
        return False
    named = {w.strip("()[]:'.,") for w in _NAMES.findall(complaint.message)} & names
    if named and any(any(n in f.message for n in named) for f in same):
        return True
    if complaint.line:
        return any(f.line == complaint.line or f.line in enclosing for f in same)
    return not named


class Verdict(NamedTuple):
    version: str | None  # None: keepalived is not installed (or did not answer)
    findings: list[Finding]
    problem: str | None = None  # why keepalived's word is missing, for the report's notes


def available() -> str | None:
    return shutil.which("keepalived")


def version() -> str | None:
    binary = available()
    if binary is None:
        return None
    _code, output = _run(binary, ["--version"])
    match = _VERSION.search(output)
    return match.group(1) if match else None


def check(conf: str, on_host: bool, config: KeepalivedConfig | None = None,
          config_id: str | None = None) -> Verdict:
    """keepalived -t on ``conf``; complaints about this machine are info unless ``on_host``.

    ``config`` (the model of ``conf``) names the interfaces to give keepalived in a private
    network namespace when not ``on_host``; without it, or without root, it runs here.
    ``config_id``: keepalived's -i, so that it reads the `@ID` lines lint read.
    """
    binary = available()
    if binary is None:
        return Verdict(None, [], "keepalived not installed: its own check (-t) skipped")
    release = version()
    problem = None
    try:
        args = ["-t", "-f", conf, *(["-i", config_id] if config_id else [])]
        if on_host or config is None:
            code, output = _run(binary, args)
        else:
            code, output, problem = _run_with_interfaces(binary, args, interfaces_of(config))
    except TimeoutError:
        return Verdict(release, [], f"keepalived -t took over {TIMEOUT:g} s: skipped")
    except OSError as exc:
        return Verdict(release, [], f"keepalived -t could not run: {exc}")
    findings = parse(output, conf, on_host)
    if code and not findings:
        findings.append(KA090.finding(conf, 0, f"keepalived -t exited {code} without saying "
                                      "why", "run keepalived -t -f CONF by hand", "error"))
    if _STOPPED.search(output) and not on_host:
        problem = NOT_RUN
    return Verdict(release, findings, problem)


def interfaces_of(config: KeepalivedConfig) -> list[str]:
    """Every interface name the config gives keepalived to look up, in order: instances'
    ``interface``, ``track_interface`` entries, ``dev X`` of addresses and routes,
    ``default_interface``, ``lvs_sync_daemon`` and static addresses' devices."""
    found: list[str] = []

    def add(name: str) -> None:
        if _IFNAME.match(name) and name not in found:
            found.append(name)

    def walk(nodes: tuple[Node, ...], parent: str) -> None:
        for node in nodes:
            if node.keyword in ("interface", "default_interface", "lvs_sync_daemon") \
                    and node.args:
                add(node.args[0])
            elif parent == "track_interface":
                add(node.keyword)
            words = (node.keyword, *node.args)
            for i, word in enumerate(words[:-1]):
                if word == "dev":
                    add(words[i + 1])
            walk(node.children, node.keyword)

    walk(config.nodes, "")
    return found


def _run_with_interfaces(binary: str, args: list[str], interfaces: list[str]
                         ) -> tuple[int, str, str | None]:
    """keepalived -t in a network namespace of its own holding ``interfaces`` (up); as
    :func:`_run` with a note when no namespace can be had (not root, no `ip`)."""
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        code, output = _run(binary, args)
        return code, output, None
    with _namespace(ip, interfaces) as (name, missing):
        code, output = _run(ip, ["netns", "exec", name, binary, *args])
    note = None
    if missing:
        note = (f"keepalived -t ran without interface(s) {', '.join(missing)}: the kernel "
                "refused to create them")
    return code, output, note


@contextmanager
def _namespace(ip: str, interfaces: list[str]) -> Iterator[tuple[str, list[str]]]:
    """A named network namespace with ``interfaces`` up (deleted after, however it ends);
    yields its name and the interfaces that could not be made. No shell: interface names
    come from the config, so they travel as argv words only."""
    name = f"lbcheck-lint-{os.getpid()}-{secrets.token_hex(3)}"
    _ip(ip, "netns", "add", name)
    missing = []
    try:
        _ip(ip, "-n", name, "link", "set", "lo", "up")
        for number, interface in enumerate(interfaces):
            made = (_ip(ip, "-n", name, "link", "add", interface, "type", "dummy")
                    or _ip(ip, "-n", name, "link", "add", interface, "type", "veth", "peer",
                           "name", f"lbcheckp{number}"))
            if not made or not _ip(ip, "-n", name, "link", "set", interface, "up"):
                missing.append(interface)
        yield name, missing
    finally:
        _ip(ip, "netns", "del", name)


def _ip(ip: str, *args: str) -> bool:
    try:
        done = subprocess.run([ip, *args], capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def parse(output: str, conf: str, on_host: bool) -> list[Finding]:
    """Findings from keepalived -t's output, each complaint once."""
    found: dict[tuple[str, int, str], Finding] = {}
    real = os.path.realpath(conf)
    for raw in output.splitlines():
        text = raw.strip()
        if not text or text.startswith("Keepalived v"):
            continue
        match = _PLACE.match(text)
        file, line, message = conf, 0, text
        if match:
            named = match.group("file")
            file = conf if not named or os.path.realpath(named) == real else named
            line, message = int(match.group("line")), match.group("message")
        message = message.lstrip("* ").strip()
        severity = "warning" if _WARNING.search(message) else "error"
        if _DEFAULTED.search(message):
            severity = "info"
        elif _HOST.search(message) and not on_host:
            severity = "info"
            message += " (about this machine, not the config: lint with --on-host there)"
        key = (file, line, message)
        found.setdefault(key, KA090.finding(file, line, f"keepalived -t: {message}",
                                            "keepalived's own complaint; see keepalived.conf(5)",
                                            severity))
    return list(found.values())


def _run(binary: str, args: list[str]) -> tuple[int, str]:
    """(exit code, stdout + stderr) through sh; sh 2.x needs _return_cmd for the code."""
    import sh  # only lint asks keepalived: the check path never imports sh

    major = int(str(getattr(sh, "__version__", "1")).split(".")[0] or 1)
    extra: dict[str, Any] = {"_return_cmd": True} if major >= 2 else {}
    command: Any = sh.Command(binary)  # typed loosely: sh 1.x and 2.x differ
    try:
        # _tty_out=False: a pipe, not a pseudo-terminal — a chroot or container without
        # /dev/pts has none to give ("out of pty devices"), and keepalived -t needs no tty.
        done = command(*args, _ok_code=list(range(256)), _err_to_out=True, _timeout=TIMEOUT,
                       _tty_out=False,
                       _env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                             "LANG": "C"}, **extra)
    except sh.TimeoutException as exc:
        raise TimeoutError(str(exc)) from None
    except sh.CommandNotFound as exc:
        raise OSError(str(exc)) from None
    stdout = done.stdout
    text = stdout.decode(errors="replace") if isinstance(stdout, bytes) else str(stdout)
    return int(done.exit_code), text

"""keepalived's own word: `keepalived -t -f CONF`, each complaint turned into a finding
of rule KA090 (registered as keepalived's, not a check's: no check judges it).

keepalived 2.2.x prints `(FILE: Line N) message` on stderr for each problem (`(Line N)` or no
place at all for some, and every line once per child process), and exits non-zero when it
complained. Run through `sh` (imported here only: `lbcheck haproxy` never pays for it), with
a timeout. Works with sh 1.14 (Debian bookworm's python3-sh) and sh 2.x.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, NamedTuple

from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import KA090

TIMEOUT = 10.0
_PLACE = re.compile(r"^\((?:(?P<file>.+?): )?Line (?P<line>\d+)\) (?P<message>.*)$")
_VERSION = re.compile(r"Keepalived v(\d+(?:\.\d+)+)")
_WARNING = re.compile(r"WARNING|probably isn't what you want|SECURITY VIOLATION|deprecated|"
                      r"Config files missing", re.IGNORECASE)
# What depends on the machine keepalived -t runs on rather than on the config.
_HOST = re.compile(r"doesn't exist|Non-existent interface|not accessible|does not exist|"
                   r"cannot find|No such file|Unable to set default user|"
                   r"interface .* not found|Disabling track script", re.IGNORECASE)


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


def check(conf: str, on_host: bool, config_id: str | None = None) -> Verdict:
    """keepalived -t on ``conf``; complaints about this machine are info unless ``on_host``.
    ``config_id``: keepalived's -i, so that it reads the `@ID` lines lint read."""
    binary = available()
    if binary is None:
        return Verdict(None, [], "keepalived not installed: its own check (-t) skipped")
    release = version()
    try:
        code, output = _run(binary, ["-t", "-f", conf,
                                     *(["-i", config_id] if config_id else [])])
    except TimeoutError:
        return Verdict(release, [], f"keepalived -t took over {TIMEOUT:g} s: skipped")
    except OSError as exc:
        return Verdict(release, [], f"keepalived -t could not run: {exc}")
    findings = parse(output, conf, on_host)
    if code and not findings:
        findings.append(KA090.finding(conf, 0, f"keepalived -t exited {code} without saying "
                                      "why", "run keepalived -t -f CONF by hand", "error"))
    return Verdict(release, findings)


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
        if _HOST.search(message) and not on_host:
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

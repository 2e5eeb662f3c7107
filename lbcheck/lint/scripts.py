"""Script traps: what keepalived does with a vrrp_script that operators do not expect.

The worst ones: a script keepalived cannot find or may not execute is dropped from every
instance tracking it (a positive weight's bonus never comes, a negative weight's penalty never
comes, weight 0 never means FAULT); one it finds but cannot exec — a shebang interpreter that
is gone (a deleted virtualenv) — counts as *success*, so the instance runs as if healthy
forever. These checks look at the real filesystem only when the script exists here; linting a
config copied from elsewhere says "not checked here" instead of guessing. They stat() the
script and open nothing but a regular file, non-blocking, reading its first line only: a
script path naming a FIFO or a device (a typo, or planted) must not hang lint or trigger it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat

from lbcheck.keepalived_conf import KeepalivedConfig, Script
from lbcheck.keepalived_conf.source import file_kind
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA020,
    KA021,
    KA022,
    KA023,
    KA024,
    KA025,
    KA026,
    Subject,
    per_script,
)

_PROCESS_ONLY = re.compile(r"(^|/|')(killall\s+-0|pidof|pgrep)\b")
_DEADLINE = re.compile(r"--deadline[= ](\S+)")


def _process_name(command: str) -> str:
    """The process a killall -0 / pidof / pgrep command asks about (its first plain word)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    names = [w for w in words[1:] if not w.startswith("-") and w != "0"]
    return names[0].rsplit("/", 1)[-1] if names else "the process"


def program(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return words[0] if words else ""


@per_script(KA020, KA021, KA022, KA023)
def check_exec(subject: Subject, script: Script) -> list[Finding]:
    """Missing, not executable, dead shebang, insecure path; "not checked here" is a note."""
    security, on_host = subject.config.global_defs.enable_script_security, subject.on_host
    findings: list[Finding] = []
    prog = program(script.command)
    path = prog if prog.startswith("/") else shutil.which(prog) or ""
    where = (script.file, script.line)
    if not path or not os.path.exists(path):
        if on_host:
            findings.append(KA020.finding(
                *where,
                f"vrrp_script {script.name}: {prog} does not exist; keepalived drops the "
                f"tracker ('Disabling track script {script.name} since not found/accessible'): "
                + dropped(subject.config, script.name),
                f"install {prog} or fix the path (`lbcheck haproxy` if it was a deleted venv)"))
            return findings
        subject.notes.append(f"{script.name}: {prog} not checked here (not on this machine)")
        return findings
    try:
        info = os.stat(path)
    except OSError as exc:  # exists() said yes: a race, or a path we may not stat
        subject.notes.append(f"{script.name}: {path} not checked ({exc.strerror})")
        return findings
    executable = info.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if not stat.S_ISREG(info.st_mode):
        # An execute bit passes check_script_secure; then execve fails in the child, which
        # exits 0 ("Script errors aren't server errors", notify.c system_call_script).
        why = ("keepalived cannot exec it and counts the script as succeeding" if executable
               else "keepalived drops the tracker: " + dropped(subject.config, script.name))
        findings.append(KA021.finding(
            *where,
            f"vrrp_script {script.name}: {path} is {file_kind(info.st_mode)}, not a program; "
            + why, f"point the script at the real program (what is {path}?)"))
        return findings
    if not executable:
        findings.append(KA021.finding(
            *where,
            f"vrrp_script {script.name}: {path} is not executable; keepalived drops the "
            f"tracker ('script … is not executable … - disabling'): "
            + dropped(subject.config, script.name), f"chmod 755 {path}"))
    interpreter = _shebang(path)
    if interpreter and not os.path.exists(interpreter):
        findings.append(KA022.finding(
            *where,
            f"vrrp_script {script.name}: {path} starts with #!{interpreter}, which does not "
            "exist (deleted virtualenv?); keepalived counts the script as succeeding",
            f"reinstall the tool or fix the shebang of {path}"))
    if security:
        findings += _insecure_components(script, path)
    return findings


def dropped(config: KeepalivedConfig, name: str) -> str:
    """What a tracker keepalived removes costs, per the weight each instance gives it.

    keepalived 2.2.7 marks a script it cannot find, or may not execute, insecure
    (vrrp.c check_track_script_secure, from check_script_secure's SC_NOTFOUND or a missing
    SC_EXECUTABLE) and check_vrrp_script_security frees every track_script entry naming it:
    the instance runs as if it had never tracked the script. That is no success: a positive
    weight's bonus, added only while a script succeeds, never comes.
    """
    said = []
    for instance in config.instances:
        for track in instance.track_scripts:
            if track.name != name:
                continue
            weight = config.script_weight(track)
            if weight > 0:
                said.append(f"{instance.name} never gets its +{weight} bonus (it runs at base "
                            f"priority {instance.priority}, as if the check always failed)")
            elif weight < 0:
                said.append(f"{instance.name} never gets its {weight} penalty (the check can "
                            "never fail)")
            else:
                said.append(f"{instance.name} never goes to FAULT for it (the check can never "
                            "fail)")
    return "; ".join(dict.fromkeys(said)) or "no instance tracks it"


def _shebang(path: str) -> str:
    """The interpreter a `#!` line names: at most 256 bytes read, from a regular file only
    (opened non-blocking, checked after opening: it may have been swapped since the stat)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        first = os.read(fd, 256).split(b"\n", 1)[0]
    except OSError:
        return ""
    finally:
        os.close(fd)
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode(errors="replace").split()
    return words[0] if words else ""


def _insecure_components(script: Script, path: str) -> list[Finding]:
    """enable_script_security: every component root-owned, not group/world writable."""
    found: list[Finding] = []
    current = os.path.realpath(path)
    while True:
        try:
            info = os.stat(current)
        except OSError:  # a component we may not stat: keepalived could not run it either
            return found
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            why = "not owned by root" if info.st_uid != 0 else "group/world writable"
            found.append(KA023.finding(
                script.file, script.line,
                f"vrrp_script {script.name}: with enable_script_security, {current} is {why}: "
                "keepalived disables the script and the instance runs untracked",
                f"chown root:root {current} && chmod go-w {current}"))
        parent = os.path.dirname(current)
        if parent == current:
            return found
        current = parent


@per_script(KA024, KA025, KA026)
def check_command(_subject: Subject, script: Script) -> list[Finding]:
    """Process-only checks, and lbcheck deadlines that keepalived's timeout would cut."""
    found = []
    where = (script.file, script.line)
    if _PROCESS_ONLY.search(script.command):
        target = _process_name(script.command)
        fix = ('script "/usr/bin/lbcheck haproxy" (or track_process for process-only)'
               if target == "haproxy" else
               f"a check that asks {target} itself whether it works (or track_process "
               f"{target} if existence really is all you need)")
        found.append(KA024.finding(
            *where,
            f"vrrp_script {script.name}: `{script.command}` only asks whether a process "
            f"exists; a hung (SIGSTOPped) or zombie {target} passes it and the VIP never "
            "moves", fix))
    timeout = script.timeout if script.timeout is not None else script.interval
    if script.timeout is not None and script.timeout > script.interval:
        found.append(KA025.finding(
            *where,
            f"vrrp_script {script.name}: timeout {script.timeout:g} s > interval "
            f"{script.interval:g} s; a run still going at the next interval is skipped, so a "
            "slow check delays failover by whole intervals",
            f"timeout {script.interval:g} (a check must answer within its interval)"))
    if program(script.command).rsplit("/", 1)[-1] == "lbcheck":
        match = _DEADLINE.search(script.command)
        try:
            deadline = float(match.group(1)) if match else 0.8
        except ValueError:
            deadline = 0.8
        if deadline >= timeout:
            found.append(KA026.finding(
                *where,
                f"vrrp_script {script.name}: lbcheck --deadline {deadline:g} s is not below "
                f"keepalived's timeout {timeout:g} s; keepalived kills the check before it "
                "answers", f"--deadline {max(0.1, timeout - 0.2):g}"))
    return found

"""Run every rule over one config (and the pair, given the peer's), then merge keepalived's
own complaints (`keepalived -t`) when it is installed and wanted."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from lbcheck.keepalived_conf import KeepalivedConfig, Script, load
from lbcheck.lint import pair, scripts, text, tracking
from lbcheck.lint.findings import Finding
from lbcheck.lint.rules import RULES


class Report(NamedTuple):
    findings: list[Finding]
    notes: list[str]
    keepalived: str | None = None  # the release whose `keepalived -t` was merged


def lint(path: str, peer_path: str | None = None, on_host: bool | None = None,
         keepalived: bool = False) -> Report:
    """Findings for ``path``; raises KeepalivedConfError only when it cannot read ``path``.

    ``on_host``: this machine is the load balancer, so a script missing here is missing
    there. By default, true when linting the live config under /etc/keepalived.
    ``keepalived``: also run `keepalived -t` (if installed) and merge what it says.
    """
    if on_host is None:
        on_host = path.startswith("/etc/keepalived/")
    release = None
    said: list[Finding] = []
    notes: list[str] = []
    # Read first: a path that is no config (a FIFO, a device, missing) fails here, at once,
    # before `keepalived -t` is asked about it.
    config = load(path, tolerant=True)
    peer = load(peer_path, tolerant=True) if peer_path is not None else None
    if keepalived:
        from lbcheck.lint import keepalived as runner

        for conf in filter(None, (path, peer_path)):
            verdict = runner.check(conf, on_host)
            release = release or verdict.version
            said += verdict.findings
            if verdict.problem and verdict.problem not in notes:
                notes.append(verdict.problem)
    findings = _one(config, on_host, release)
    security = config.global_defs.enable_script_security
    for script in config.scripts.values():
        def exec_check(s: Script = script) -> tuple[list[Finding], list[str]]:
            return scripts.check_exec(s, security, on_host)

        findings += _guarded("scripts", lambda s=script: scripts.check_command(s), [], path)
        found, why = _guarded("scripts", exec_check, ([], []), path)
        findings += found
        notes += why
    if peer is not None:
        findings += _one(peer, on_host=False, release=release)
        more, tables = _guarded("pair", lambda: pair.check(config, peer), ([], []), path)
        findings += more
        notes += tables
    merged = _merge(findings, said)
    if keepalived and release:
        echoed = len(said) - sum(f.rule == "KA090" for f in merged)
        notes.append(f"keepalived {release} -t: {len(said)} complaint(s), {echoed} of them "
                     "on a line lint reports too")
    return Report(merged, notes, release)


def _one(config: KeepalivedConfig, on_host: bool, release: str | None) -> list[Finding]:
    rules: list[tuple[str, Callable[[], list[Finding]]]] = [
        (rule.__name__, lambda rule=rule: rule(config)) for rule in RULES]  # type: ignore[misc]
    rules += [
        ("grammar", lambda: text.grammar_problems(config)),
        ("unknown_keywords", lambda: text.unknown_keywords(config, release)),
        ("overwritten", lambda: text.overwritten(config)),
        ("missing_values", lambda: text.missing_values(config)),
        ("refused_values", lambda: text.refused_values(config)),
        ("untracked", lambda: tracking.untracked(config, on_host)),
        ("script_user", lambda: tracking.script_user(config, on_host)),
    ]
    findings: list[Finding] = []
    for name, rule in rules:
        findings += _guarded(name, rule, [], config.path)
    return findings


def _guarded(name: str, rule: Callable, empty, path: str):  # type: ignore[no-untyped-def]
    """A rule that trips over input it did not foresee reports that, instead of crashing
    the whole lint (the fuzz tests fail on any KA099)."""
    try:
        return rule()
    except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide every other finding
        finding = Finding("KA099", "warning", path, 0,
                          f"lint rule {name} could not judge this config ({type(exc).__name__}: "
                          f"{exc}); the other rules ran", "please report this lbcheck bug")
        return ([finding], []) if isinstance(empty, tuple) else [finding]


def _merge(mine: list[Finding], said: list[Finding]) -> list[Finding]:
    """keepalived's complaints, except on a line where lint already reports something."""
    lines = {(f.file, f.line) for f in mine}
    return mine + [f for f in said if f.line == 0 or (f.file, f.line) not in lines]

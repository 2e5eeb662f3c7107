"""Run every rule over one config (and the pair, given the peer's)."""

from __future__ import annotations

from typing import NamedTuple

from lbcheck.keepalived_conf import load
from lbcheck.lint import pair, scripts
from lbcheck.lint.findings import Finding
from lbcheck.lint.rules import RULES


class Report(NamedTuple):
    findings: list[Finding]
    notes: list[str]


def lint(path: str, peer_path: str | None = None, on_host: bool | None = None) -> Report:
    """Findings for ``path``; raises KeepalivedConfError (file:line) when it cannot parse.

    ``on_host``: this machine is the load balancer, so a script missing here is missing
    there. By default, true when linting the live config under /etc/keepalived.
    """
    config = load(path)
    if on_host is None:
        on_host = path.startswith("/etc/keepalived/")
    findings: list[Finding] = []
    notes: list[str] = []
    for rule in RULES:
        findings += rule(config)
    security = config.global_defs.enable_script_security
    for script in config.scripts.values():
        findings += scripts.check_command(script)
        found, said = scripts.check_exec(script, security, on_host)
        findings += found
        notes += said
    if peer_path is not None:
        more, tables = pair.check(config, load(peer_path))
        findings += more
        notes += tables
    return Report(findings, notes)

"""Run every registered check over one config (and the pair, given the peer's), then merge
keepalived's own complaints (`keepalived -t`) when it is installed and wanted.

keepalived's split, kept: each config is read once into the model (keepalived_conf), then
every check judges that model; none reads the file again. The checks are whatever the rule
modules register (lint/registry.py): this module only decides what each is run on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from lbcheck.keepalived_conf import KeepalivedConfig, Node, load
from lbcheck.keepalived_conf.lines import host_config_id
from lbcheck.lint import commands, completion, pair, rules, scripts, text, tracking
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import KA090, KA099, Check, Subject, per_config, per_pair, per_script

# The modules whose import registers the checks: imported for that, named so it shows.
CHECK_MODULES = (rules, text, tracking, scripts, pair, completion, commands)


class Report(NamedTuple):
    findings: list[Finding]
    notes: list[str]
    keepalived: str | None = None  # the release whose `keepalived -t` was merged


def lint(path: str, peer_path: str | None = None, on_host: bool | None = None,
         keepalived: bool = False, config_id: str | None = None,
         peer_config_id: str | None = None) -> Report:
    """Findings for ``path``; raises KeepalivedConfError only when it cannot read ``path``.

    ``on_host``: this machine is the load balancer, so a script missing here is missing
    there. By default, true when linting the live config under /etc/keepalived.
    ``keepalived``: also run `keepalived -t` (if installed) and merge what it says.
    ``config_id``: whose `@ID` lines apply, as keepalived's --config-id (default: this host's
    short name, keepalived's own default); ``peer_config_id`` the same for the peer's config
    (default: ``config_id``'s value — lint cannot know the peer's host name).
    """
    if config_id is None:
        config_id = host_config_id()
    if peer_config_id is None:
        peer_config_id = config_id
    if on_host is None:
        on_host = path.startswith("/etc/keepalived/")
    release = None
    said: list[Finding] = []
    notes: list[str] = []
    # Read first: a path that is no config (a FIFO, a device, missing) fails here, at once,
    # before `keepalived -t` is asked about it.
    config = load(path, tolerant=True, config_id=config_id)
    peer = (load(peer_path, tolerant=True, config_id=peer_config_id)
            if peer_path is not None else None)
    if keepalived:
        from lbcheck.lint import keepalived as runner

        for conf, model, ident in ((path, config, config_id),
                                   (peer_path, peer, peer_config_id)):
            if conf is None:
                continue
            verdict = runner.check(conf, on_host, model, ident)
            release = release or verdict.version
            said += verdict.findings
            if verdict.problem and verdict.problem not in notes:
                notes.append(verdict.problem)
    mine = Subject(config, on_host, release, notes, peer)
    findings = _per_config(mine)
    for script in config.scripts.values():
        for per in per_script.registered:
            findings += _guarded(per, partial(per.judge, mine, script), path)
    if peer is not None:
        findings += _per_config(Subject(peer, False, release, notes, config))
        for both in per_pair.registered:
            findings += _guarded(both, partial(both.judge, mine, peer), path)
    merged = _merge(findings, said, _names(config) | (_names(peer) if peer else set()),
                    [config, *([peer] if peer else [])])
    if keepalived and release:
        echoed = len(said) - sum(f.rule == KA090.id for f in merged)
        notes.append(f"keepalived {release} -t: {len(said)} complaint(s), {echoed} of them "
                     "reported by lint's own rules too")
    return Report(merged, notes, release)


def _per_config(subject: Subject) -> list[Finding]:
    findings: list[Finding] = []
    for check in per_config.registered:
        findings += _guarded(check, partial(check.judge, subject), subject.config.path)
    return findings


def _guarded(check: Check[Any], judge: Callable[[], list[Finding]], path: str) -> list[Finding]:
    """A check that trips over input it did not foresee reports that, instead of crashing
    the whole lint (the fuzz tests fail on any KA099); so does one raising a rule it did not
    register, which would bypass what the registry promises."""
    try:
        found = judge()
        stray = {f.rule for f in found} - {r.id for r in check.rules}
        if stray:
            raise ValueError(f"raised {', '.join(sorted(stray))}, not registered for it")
        return found
    except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide every other finding
        return [KA099.finding(path, 0,
                              f"lint rule {check.name} could not judge this config "
                              f"({type(exc).__name__}: {exc}); the other rules ran",
                              "please report this lbcheck bug")]


def _names(config: KeepalivedConfig) -> set[str]:
    """What keepalived's complaints name: instances, scripts, trackers, sync groups."""
    return ({i.name for i in config.instances} | set(config.scripts) | set(config.trackers)
            | {g.name for g in config.sync_groups})


def enclosing(configs: list[KeepalivedConfig], file: str, line: int) -> frozenset[int]:
    """The opening lines of the blocks of ``file`` that hold ``line`` (a block ends at its
    last statement, or at its closing brace: one line further per level of nesting)."""
    found: set[int] = set()

    def last(node: Node) -> int:
        return max([node.line, *(last(c) for c in node.children)])

    def height(node: Node) -> int:
        return 1 + max((height(c) for c in node.children if c.children), default=0)

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if (node.children and node.file == file
                    and node.line <= line <= last(node) + height(node)):
                found.add(node.line)
            walk(node.children)

    for config in configs:
        walk(config.nodes)
    return frozenset(found)


def _merge(mine: list[Finding], said: list[Finding], names: set[str],
           configs: list[KeepalivedConfig]) -> list[Finding]:
    """keepalived's complaints, except those a lint finding already reports (by finding, not
    by line: lint/keepalived.py ECHOES says which rule reports which complaint)."""
    from lbcheck.lint.keepalived import echoed

    return mine + [f for f in said
                   if not echoed(f, mine, names, enclosing(configs, f.file, f.line))]

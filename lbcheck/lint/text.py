"""Rules about the text itself: what keepalived reads around, does not know, or overwrites.

These look at the statements as written (``config.nodes``), not at the model: a keyword the
model never reads is exactly what they are for. One check per rule: KA006 (unknown and
deprecated keywords), KA007 (overwritten), KA060 (malformed input), KA061 (words ignored).
"""

from __future__ import annotations

from collections.abc import Iterator

from lbcheck.keepalived_conf import KeepalivedConfig, Node
from lbcheck.keepalived_conf.keywords import table
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import KA006, KA007, KA060, KA061, Subject, per_config
from lbcheck.lint.routes import route_lines

# Given twice, the first one stays (keepalived: "… script already specified - ignoring").
FIRST_WINS = frozenset({"notify", "notify_master", "notify_backup", "notify_fault",
                        "notify_stop", "notify_deleted", "notify_master_rx_lower_pri"})
# Blocks that may repeat by design (each one is another item).
REPEATABLE = frozenset({"real_server", "url", "HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK",
                        "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK",
                        "BFD_CHECK", "host", "include", "{"})


def walk(nodes: tuple[Node, ...] | list[Node], path: str = "") -> Iterator[tuple[str, Node]]:
    """(block path, node) for every statement inside blocks whose lines are keywords."""
    keywords = table()
    for node in nodes:
        yield path, node
        inner = f"{path}/{node.keyword}" if path else node.keyword
        if node.children and keywords.judged(inner):
            yield from walk(node.children, inner)


@per_config(KA060)
def malformed(subject: Subject) -> list[Finding]:
    """KA060: what the grammar read around, and keywords without the value they need."""
    return _grammar_problems(subject.config) + _missing_values(subject.config)


def _grammar_problems(config: KeepalivedConfig) -> list[Finding]:
    """What the grammar read around; a limit of lint's own (its message names it) is not
    keepalived's complaint, so its fix says how to get the rest checked."""
    return [KA060.finding(p.file, p.line, p.message,
                          "lint the included files on their own, or split the config"
                          if "(its limit" in p.message else
                          "keepalived reads around this with a complaint; write what you mean",
                          p.severity)
            for p in config.problems]


# Still parsed, with a complaint that makes `keepalived -t` fail: (block, keyword) → successor.
DEPRECATED = {("HTTP_GET", "nb_get_retry"): "retry", ("SSL_GET", "nb_get_retry"): "retry"}


@per_config(KA006)
def unknown_keywords(subject: Subject) -> list[Finding]:
    """Keywords keepalived calls unknown ('Unknown keyword …') and then ignores, words of a
    static or virtual route alloc_route() does not know (it drops the route), and the ones
    it still reads but calls deprecated, which makes `keepalived -t` fail (a warning, said
    without keepalived installed: a config repository's CI; seen in public configs)."""
    version = subject.release
    keywords = table()
    found = []
    for block, node in walk(subject.config.nodes):
        leaf = block.rsplit("/", 1)[-1]
        successor = DEPRECATED.get((leaf, node.keyword))
        if successor:
            found.append(KA006.finding(
                node.file, node.line,
                f"'{node.keyword}' in {leaf} is deprecated: keepalived still reads it but "
                "complains, and `keepalived -t` fails", f"{successor} {' '.join(node.args)}",
                "warning"))
        if node.keyword == "{" or not keywords.judged(block):
            continue
        verdict = keywords.verdict(block, node.keyword, version)
        if verdict.known:
            continue
        where = f"in {block.replace('/', ' › ')}" if block else "at the top level"
        if verdict.last:
            when = ("in keepalived 2.x" if verdict.last >= "2" else
                    f"before keepalived 2.0 (last seen in {verdict.last})")
            why = (f"'{node.keyword}' {where} was removed {when}: keepalived calls it an "
                   "unknown keyword and ignores it, so it does nothing")
            fix = (f"did you mean '{verdict.suggestion}'?" if verdict.suggestion
                   else f"delete it (see keepalived.conf(5) of your release for what replaced "
                        f"{node.keyword})")
        else:
            why = (f"unknown keyword '{node.keyword}' {where}: keepalived ignores it "
                   f"('Unknown keyword')"
                   f"{', and the whole block under it' if node.children else ''}")
            fix = (f"did you mean '{verdict.suggestion}'?" if verdict.suggestion
                   else "delete it, or look it up in keepalived.conf(5) of your release")
        found.append(KA006.finding(node.file, node.line, why, fix))
    for line, word in route_lines(subject.config.nodes):
        found.append(KA006.finding(
            line.file, line.line,
            f"unknown route keyword '{word}': keepalived drops this whole route ('unknown "
            "route keyword', alloc_route()), so it is never installed",
            "write the route as `ip route` would take it (to, via, dev, src, metric, table, "
            "scope, …)"))
    return found


# Keywords keepalived refuses without a value ("missing a parameter after keyword"), where
# the line is then ignored: the ones whose value decides failover.
NEEDS_VALUE = frozenset({
    "state", "interface", "virtual_router_id", "priority", "advert_int", "preempt_delay",
    "weight", "interval", "timeout", "rise", "fall", "script", "user", "auth_type",
    "auth_pass", "router_id", "script_user", "vrrp_version", "version", "unicast_src_ip",
    "mcast_src_ip", "process", "file", "garp_master_delay", "vrrp_garp_master_delay",
    "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop",
    "vrrp_garp_master_refresh", "vrrp_garp_master_repeat", "vrrp_garp_interval",
    "vrrp_gna_interval", "garp_master_refresh", "garp_master_repeat", "vrrp_mcast_group4",
    "vrrp_mcast_group6", "delay_loop", "lb_algo", "lb_kind", "protocol", "connect_timeout",
    "connect_port", "smtp_server", "notification_email_from",
})


def _missing_values(config: KeepalivedConfig) -> list[Finding]:
    """`priority` alone on its line — keepalived complains and ignores the line."""
    return [KA060.finding(node.file, node.line,
                          f"'{node.keyword}' has no value: keepalived ignores the line "
                          "('missing a parameter') and keeps the default",
                          f"{node.keyword} VALUE")
            for block, node in walk(config.nodes)
            if block and node.keyword in NEEDS_VALUE and not node.args and not node.children]


@per_config(KA007)
def overwritten(subject: Subject) -> list[Finding]:
    """A keyword given twice in one block: keepalived keeps one silently (`keepalived -t` is
    quiet), and the one it keeps may not be the one the reader sees first."""
    config = subject.config
    keywords = table()
    found = []
    blocks = [config.nodes] + [tuple(n.children) for block, n in walk(config.nodes)
                               if n.children and keywords.judged(_join(block, n.keyword))]
    for children in blocks:
        seen: dict[str, Node] = {}
        for node in children:
            if node.keyword in REPEATABLE or node.keyword == "state":
                continue
            if not node.args and not node.children and node.keyword not in FIRST_WINS:
                continue  # a flag given twice is the same flag
            if node.children and node.keyword != "authentication":
                continue  # repeated data blocks add up
            first = seen.setdefault(node.keyword, node)
            if first is node:
                continue
            kept, lost = (first, node) if node.keyword in FIRST_WINS else (node, first)
            found.append(KA007.finding(
                node.file, node.line,
                f"'{node.keyword}' is given twice (lines {first.line} and {node.line}): "
                f"keepalived uses line {kept.line} ({' '.join(kept.args) or '{…}'}) and "
                f"ignores line {lost.line}",
                f"keep one {node.keyword}"))
    return found


def _join(path: str, keyword: str) -> str:
    return f"{path}/{keyword}" if path else keyword


# vrrp_instance keywords whose handler reads the one word after the keyword and never looks
# further (keepalived 2.2.7 vrrp_parser.c: vrrp_state_handler, vrrp_int_handler,
# vrrp_vrid_handler, vrrp_prio_handler, vrrp_adv_handler, vrrp_preempt_delay_handler,
# vrrp_version_handler read strvec slot 1; vrrp_nopreempt_handler reads none) → how many
# words each reads.
READS_ONLY = {"state": 1, "interface": 1, "virtual_router_id": 1, "priority": 1,
              "advert_int": 1, "preempt_delay": 1, "version": 1, "nopreempt": 0}


@per_config(KA061)
def ignored_words(subject: Subject) -> list[Finding]:
    """KA061: `state MASTER priority 200` on one line sets the state only; keepalived says
    nothing about the rest (`keepalived -t` is quiet) and the priority is never set."""
    found = []
    for block, node in walk(subject.config.nodes):
        reads = READS_ONLY.get(node.keyword)
        if block != "vrrp_instance" or reads is None or len(node.args) <= reads:
            continue
        kept = " ".join((node.keyword, *node.args[:reads]))
        rest = " ".join(node.args[reads:])
        found.append(KA061.finding(
            node.file, node.line,
            f"keepalived reads '{kept}' and ignores the rest of the line ('{rest}'), without "
            "a word: whatever it says is not set", f"{kept}, and each further keyword on a "
            "line of its own"))
    return found

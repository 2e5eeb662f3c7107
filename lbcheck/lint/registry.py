"""Every lint rule, declared once: its ID, the severities it may carry, one line of doc.

Why one table: a finding is made by its rule object (``KA001.finding(...)``), never from a
string ID, so no module can invent an ID, reuse another's, or give it a severity nobody
documented; and docs/lint.md's rules table is tested against this one, both ways. The string
IDs live here and nowhere else in the package (a test greps for them).

The checks — functions that judge the model keepalived_conf built, one reading of the config
for all of them — register with :data:`per_config`, :data:`per_script` or :data:`per_pair`,
naming the rules they raise; the engine runs whatever is registered, and refuses a finding a
check did not declare. Each rule is raised by one check only (a test says so), or has another
origin: keepalived's own word (``keepalived -t``, merged) or lint reporting its own failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from lbcheck.keepalived_conf import KeepalivedConfig, Script
from lbcheck.lint.findings import SEVERITIES, Finding


class Origin(Enum):
    """Who decides that a rule's finding is there."""

    CHECK = "check"  # a registered check, judging the model
    KEEPALIVED = "keepalived"  # `keepalived -t`'s complaint, merged (lint/keepalived.py)
    LINT = "lint"  # lint reporting its own failure (a check that crashed)


@dataclass(frozen=True)
class Rule:
    """One rule ID; ``severities[0]`` is the one a finding gets unless the check says."""

    id: str
    severities: tuple[str, ...]
    doc: str
    origin: Origin = Origin.CHECK

    def finding(self, file: str, line: int, message: str, fix: str = "",
                severity: str | None = None) -> Finding:
        """A finding of this rule; a severity the rule does not declare is a lint bug."""
        chosen = severity or self.severities[0]
        if chosen not in self.severities:
            raise ValueError(f"{self.id} is declared {'/'.join(self.severities)}, not {chosen}")
        return Finding(self.id, chosen, file, line, message, fix)


RULES: dict[str, Rule] = {}


def _declare(rule_id: str, severities: str, doc: str, origin: Origin = Origin.CHECK) -> Rule:
    """Add a rule to :data:`RULES`; ``severities`` as docs/lint.md writes them (error/warning)."""
    levels = tuple(severities.split("/"))
    if rule_id in RULES or not set(levels) <= set(SEVERITIES):
        raise ValueError(f"rule {rule_id} declared twice or with unknown severity {severities}")
    RULES[rule_id] = rule = Rule(rule_id, levels, doc, origin)
    return rule


# One config, as keepalived reads it.
KA001 = _declare("KA001", "error", "mixed address families in one virtual_ipaddress")
KA002 = _declare("KA002", "error/warning", "a VIP no client can reach")
KA003 = _declare("KA003", "error", "IPv4 and IPv6 instances on one interface, no sync group")
KA004 = _declare("KA004", "error", "weighted tracking inside a sync group (dropped)")
KA005 = _declare("KA005", "error", "a tracker keepalived ignores or removes")
KA006 = _declare("KA006", "error/warning", "unknown, removed or deprecated keywords")
KA007 = _declare("KA007", "warning", "a keyword given twice in a block")
# The pair (given PEER_CONF).
KA010 = _declare("KA010", "error", "a failing check that never moves the VIPs")
KA011 = _declare("KA011", "warning", "equal base priorities on both nodes")
KA012 = _declare("KA012", "warning", "weight 0 on both nodes for the same check")
KA013 = _declare("KA013", "info", "a lost master node costs more than 1 s")
# Scripts.
KA020 = _declare("KA020", "error", "a script that does not exist (keepalived drops the tracker)")
KA021 = _declare("KA021", "error",
                 "a script that is no executable file (tracker dropped, or counts as success)")
KA022 = _declare("KA022", "error", "a script whose shebang interpreter is gone")
KA023 = _declare("KA023", "error", "a script path enable_script_security refuses")
KA024 = _declare("KA024", "warning", "a check that only asks whether a process exists")
KA025 = _declare("KA025", "warning", "a script timeout above its interval")
KA026 = _declare("KA026", "error", "an lbcheck --deadline not below keepalived's timeout")
KA027 = _declare("KA027", "info/error", "enable_script_security without script_user")
KA028 = _declare("KA028", "warning", "scripts without enable_script_security")
KA030 = _declare("KA030", "info", "notify scripts that can arrive out of order")
# The pair's agreement.
KA040 = _declare("KA040", "error", "an instance without its counterpart, or another router ID")
KA041 = _declare("KA041", "error", "advert_int differs from the peer's")
KA042 = _declare("KA042", "error", "VIPs differ from the peer's")
KA043 = _declare("KA043", "error", "authentication differs from the peer's")
KA044 = _declare("KA044", "error", "a unicast_peer of the other address family")
# What keepalived changes behind your back, or rejects.
KA046 = _declare("KA046", "warning", "state MASTER with nopreempt")
KA047 = _declare("KA047", "warning", "priority 255 with weighted tracking")
KA048 = _declare("KA048", "warning", "the state MASTER node has the lower priority of the pair")
KA049 = _declare("KA049", "info", "counterparts named differently (paired by VRID)")
KA050 = _declare("KA050", "error", "values keepalived rejects")
KA051 = _declare("KA051", "error", "a state keepalived does not know, or BACKUP after MASTER")
KA052 = _declare("KA052", "error/warning", "auth_pass over 8 characters")
KA053 = _declare("KA053", "error", "AH authentication with state MASTER")
KA054 = _declare("KA054", "warning", "an instance without VIPs")
KA060 = _declare("KA060", "error/warning", "malformed input keepalived reads around")
KA061 = _declare("KA061", "warning", "words after a keyword's value that keepalived ignores")
# What vrrp_complete_instance() and its kin change once the config is read (issue 21).
KA070 = _declare("KA070", "error/warning", "vrrp_strict with authentication, state or unicast")
KA071 = _declare("KA071", "error", "a preempt_delay keepalived resets")
KA072 = _declare("KA072", "warning", "a sync group of one instance")
KA073 = _declare("KA073", "error", "a unicast keyword without unicast peers")
KA074 = _declare("KA074", "warning/error", "shell syntax in a command run without a shell")
KA075 = _declare("KA075", "error", "authentication under VRRPv3")
KA076 = _declare("KA076", "error", "a label on an IPv6 address")
KA077 = _declare("KA077", "error", "a sync group member keepalived ignores")
KA078 = _declare("KA078", "error", "a virtual_server without real servers")
# Errors keepalived accepts without a word, and why lint is right to call them errors: what
# keepalived cannot see from one file, or does not check. The cross-check allows an
# error-level finding on a config `keepalived -t` accepts silently only for these rules
# (tests/integration/test_lint_vs_keepalived.py); docs/lint.md lists them.
SILENT_KEEPALIVED: dict[str, str] = {
    "KA002": "keepalived sets any address it can parse; whether a client can reach it "
             "(IPv4-mapped, link-local, off the interface's subnets) is not its question",
    "KA003": "keepalived cannot know that two instances were meant to move together",
    "KA010": "the failover arithmetic needs both nodes' priorities; keepalived reads one file",
    "KA026": "keepalived does not know lbcheck's --deadline",
    "KA040": "keepalived reads one node's file: a counterpart missing on the other is not in it",
    "KA041": "keepalived reads one node's file: the peer's advert_int is not in it",
    "KA042": "keepalived reads one node's file: the peer's VIPs are not in it",
    "KA043": "keepalived reads one node's file: the peer's authentication is not in it",
    "KA044": "keepalived reads one node's file: the peer's families are not in it",
    "KA051": "keepalived keeps the first `state MASTER` and says nothing of a later BACKUP",
    "KA074": "keepalived -t does not resolve a notify command's user/group words; the daemon "
             "drops the script at start-up",
}
# Not judged by a check.
KA090 = _declare("KA090", "error/warning/info", "keepalived -t's own complaint, merged",
                 Origin.KEEPALIVED)
KA099 = _declare("KA099", "warning", "a lint rule that could not judge this config",
                 Origin.LINT)


@dataclass
class Subject:
    """What a check judges: one config as read, how to read the machine, and the run's notes.

    ``notes`` is shared by every subject of one lint run: the report's lines that are no
    finding (the pair's priority table, "not checked here").
    """

    config: KeepalivedConfig
    on_host: bool  # this machine is the load balancer: its files are the config's files
    release: str | None = None  # keepalived's release, when `keepalived -t` named it
    notes: list[str] = field(default_factory=list)
    # The other node's config, when the pair is linted: for a rule about one config whose
    # consequence the peer decides (an auth_pass both nodes truncate alike, KA052).
    peer: KeepalivedConfig | None = None


ConfigCheck = Callable[[Subject], list[Finding]]
ScriptCheck = Callable[[Subject, Script], list[Finding]]
PairCheck = Callable[[Subject, KeepalivedConfig], list[Finding]]
J = TypeVar("J", bound=Callable[..., list[Finding]])


@dataclass(frozen=True)
class Check(Generic[J]):
    """A registered check and the rules it may raise."""

    judge: J
    rules: tuple[Rule, ...]

    @property
    def name(self) -> str:
        return str(getattr(self.judge, "__name__", self.judge))


class Checks(Generic[J]):
    """The checks of one scope, in registration order; used as a decorator."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.registered: list[Check[J]] = []

    def __call__(self, *rules: Rule) -> Callable[[J], J]:
        if not rules or any(r.origin is not Origin.CHECK for r in rules):
            raise ValueError(f"a {self.scope} check raises check rules: {rules}")

        def register(judge: J) -> J:
            self.registered.append(Check(judge, rules))
            return judge
        return register


per_config: Checks[ConfigCheck] = Checks("config")  # each config: this node's, and the peer's
per_script: Checks[ScriptCheck] = Checks("script")  # each vrrp_script of this node's config
per_pair: Checks[PairCheck] = Checks("pair")  # this node's config against the peer's


def checks() -> list[Check[ConfigCheck] | Check[ScriptCheck] | Check[PairCheck]]:
    """Every registered check (the modules that hold them imported: see engine)."""
    return [*per_config.registered, *per_script.registered, *per_pair.registered]

"""keepalived's keyword table, per release: which keywords each block knows.

The data is keywords.json, read from keepalived's own source by bin/keepalived-keywords:
for every block (``vrrp_instance``, ``vrrp_instance/authentication``, …; ``""`` is the top
level) each keyword with the first and last scanned release that knows it. Blocks not in the
table hold data rather than keywords (addresses, names of tracked items) and are not judged.
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from typing import NamedTuple

# Blocks whose lines are data (addresses, routes, tracked names), never keywords.
DATA_BLOCKS = frozenset({
    "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules",
    "track_interface", "track_script", "track_process", "track_file", "track_bfd",
    "unicast_peer", "group", "static_ipaddress", "static_routes", "static_rules",
    "linkbeat_interfaces", "virtual_server_group", "interfaces", "track_group",
})


# The keywords whose handler reads the lines of its block as values (alloc_value_block() /
# read_value_block() in keepalived 2.2.7 and later), by the block they stand in: inside
# those, a `{` opens nothing and the first `}` ends the block.
VALUE_BLOCKS = {
    "": frozenset({"static_ipaddress", "static_routes", "static_rules", "linkbeat_interfaces",
                   "virtual_server_group", "interface_up_down_delays"}),
    "global_defs": frozenset({"notification_email"}),
    "vrrp_sync_group": frozenset({"group", "track_interface", "track_script", "track_file",
                                  "track_process", "track_bfd"}),
    "vrrp_instance": frozenset({"unicast_peer", "track_interface", "track_script",
                                "track_file", "track_process", "track_bfd",
                                "virtual_ipaddress", "virtual_ipaddress_excluded",
                                "virtual_routes", "virtual_rules"}),
    "garp_group": frozenset({"interfaces"}),
    "track_group": frozenset({"group"}),
}
KEYWORDS, VALUES = "keywords", "values"


def block_of(path: str, keyword: str) -> str | None:
    """What a `{` after ``keyword`` inside block ``path`` opens: a block of keywords
    (install_sublevel()), of values, or nothing — keepalived then ignores the `{`."""
    if keyword in VALUE_BLOCKS.get(path, ()):
        return VALUES
    return KEYWORDS if (f"{path}/{keyword}" if path else keyword) in table().blocks else None


class Verdict(NamedTuple):
    known: bool
    last: str | None = None  # the last release that knew it, when it was removed
    suggestion: str | None = None  # a known keyword of this block it looks like


class Table(NamedTuple):
    versions: tuple[str, ...]
    blocks: dict[str, dict[str, tuple[str, str]]]
    alive: dict[tuple[str, str | None], frozenset[str]]  # filled by current(), per table

    def judged(self, block: str) -> bool:
        return block in self.blocks

    def verdict(self, block: str, keyword: str, version: str | None = None) -> Verdict:
        """Is ``keyword`` known in ``block`` — by ``version`` if the table has it, else by
        any 2.x release scanned (lenient: a keyword of a newer release is not an error)."""
        known = self.blocks.get(block, {})
        span = known.get(keyword)
        current = self.current(block, version)
        if span is not None and keyword in current:
            return Verdict(True)
        close = difflib.get_close_matches(keyword, current, n=1, cutoff=0.75)
        return Verdict(False, span[1] if span else None, close[0] if close else None)

    def current(self, block: str, version: str | None) -> frozenset[str]:
        """The keywords of ``block`` alive in ``version``, computed once per block: a config
        of a million statements asks a million times (lint stays linear, and quick)."""
        found = self.alive.get((block, version))
        if found is None:
            found = self.alive[(block, version)] = frozenset(
                k for k, (first, last) in self.blocks.get(block, {}).items()
                if _alive(first, last, version, self.versions))
        return found



def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _alive(first: str, last: str, version: str | None, versions: tuple[str, ...]) -> bool:
    if version is not None and version in versions:
        return _key(first) <= _key(version) <= _key(last)
    return _key(last) >= (2, 2)  # without an exact release: anything a 2.2+ release knows


@functools.cache
def table() -> Table:
    raw = json.loads(resources.files(__package__).joinpath("keywords.json").read_text())
    return Table(tuple(raw["versions"]),
                 {block: {k: (span[0], span[1]) for k, span in keys.items()}
                  for block, keys in raw["blocks"].items()}, {})

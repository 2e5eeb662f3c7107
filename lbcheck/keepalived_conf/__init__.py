"""A model of keepalived.conf: its grammar, parsed with file and line kept for every item.

    config = load("/etc/keepalived/keepalived.conf")
    config.instance("VI_1").excluded_vips
"""

from __future__ import annotations

from lbcheck.keepalived_conf.grammar import KeepalivedConfError, Node, Problem, parse_file
from lbcheck.keepalived_conf.grammar import parse_text as _parse_text
from lbcheck.keepalived_conf.model import (
    GlobalDefs,
    Instance,
    KeepalivedConfig,
    Script,
    SyncGroup,
    Track,
    Tracker,
    Vip,
    build,
)

__all__ = ["GlobalDefs", "Instance", "KeepalivedConfError", "KeepalivedConfig", "Node",
           "Problem", "Script", "SyncGroup", "Track", "Tracker", "Vip", "load", "parse_text"]


def load(path: str, tolerant: bool = False, config_id: str | None = None
         ) -> KeepalivedConfig:
    """Parse ``path`` (following includes); raises KeepalivedConfError with file:line.

    ``tolerant``: read on past what keepalived reads past (config.problems lists it); only
    an unreadable ``path`` still raises. ``config_id``: the host whose `@ID` lines apply, as
    keepalived's `--config-id` (default: this host's short name, keepalived's default).
    """
    problems: list[Problem] | None = [] if tolerant else None
    return build(str(path), parse_file(str(path), problems, config_id), problems)


def parse_text(text: str, filename: str = "<string>", tolerant: bool = False,
               config_id: str | None = None) -> KeepalivedConfig:
    problems: list[Problem] | None = [] if tolerant else None
    return build(filename, _parse_text(text, filename, problems, config_id), problems)

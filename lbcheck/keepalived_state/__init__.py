"""keepalived's live state: asking the running daemon for its dumps, and parsing them.

The parsers are pure (bytes in, records out) so the unit tests run them on dumps captured
from real daemons (tests/unit/data/keepalived/); :mod:`.ask` is the only part that signals
a process or reads a file.

    state = combine(data_dump.parse(data, "2.2.7"), json_dump.parse(raw, "2.2.7"))
    state.instance("VI_1").effective_priority
"""

from __future__ import annotations

from lbcheck.keepalived_state import data_dump, json_dump
from lbcheck.keepalived_state.combine import combine
from lbcheck.keepalived_state.model import (
    DumpFormatError,
    Instance,
    KeepalivedState,
    SyncGroup,
    Tracker,
    Vip,
)

__all__ = ["DumpFormatError", "Instance", "KeepalivedState", "SyncGroup", "Tracker", "Vip",
           "combine", "data_dump", "json_dump"]

"""Every exit code the commands use, in one table: what keepalived, systemd and monitoring see.

keepalived logs a script's exit code and nothing else, so the codes are the contract (README
"Exit codes", DESIGN.md §4). One number means the same kind of thing everywhere — 1 "the thing
asked about is bad", 2 "the question was malformed" — and no other module defines one, so the
commands cannot drift apart (tests/unit/test_exits.py keeps it so).

    code  lbcheck (check commands)     lbcheck lint             lbnotify
    0     healthy, WARN too            no error-level finding   recorded, pages queued
    1     unhealthy                    errors found             a handler failed
    2     usage or config error        unreadable input         bad input or config
    3     could not tell               —                        —

`lbcheck status` keeps lbcheck's codes: 1 an instance not in its configured state or a
tracker failing, 3 keepalived could not be asked (not running, no permission, no dump).
lbcheck's 3 also covers SIGTERM (keepalived's `timeout`), an interrupt and an internal error:
a check that broke could not tell. lbnotify has no 3: an internal error or an interrupt is a
handler that failed (1). `lbcheck --nagios` switches to the monitoring-plugin convention
below (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); usage errors stay 2 there, which a plugin
reads as CRITICAL. `lbcheck init` exits 0 when it wrote (or printed) the pair and 2 when it
refused the inputs. `lbcheck watch` exits 0 once stopped by SIGTERM or SIGINT, and with
--once as the check it ran.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNKNOWN: Final = 3

NAGIOS_OK: Final = 0
NAGIOS_WARNING: Final = 1
NAGIOS_CRITICAL: Final = 2
NAGIOS_UNKNOWN: Final = 3

# The codes each command documents, for the tests that hold the commands to them.
CODES: Final = {
    "lbcheck": frozenset({EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN}),
    "lbcheck --nagios": frozenset({NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN}),
    "lbcheck lint": frozenset({EXIT_OK, EXIT_FAILED, EXIT_USAGE}),
    "lbcheck status": frozenset({EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN}),
    "lbcheck init": frozenset({EXIT_OK, EXIT_USAGE}),
    "lbnotify": frozenset({EXIT_OK, EXIT_FAILED, EXIT_USAGE}),
}

"""A finding: where, which rule, how bad, what is wrong, and the one-line fix.

Rendered as `file:line: RULE-ID severity: message` (the compiler convention editors and CI
annotate) followed by an indented fix hint, or as JSON for machines.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from lbcheck.exits import EXIT_FAILED, EXIT_OK

SEVERITIES = ("error", "warning", "info")


class Finding(NamedTuple):
    rule: str
    severity: str  # error | warning | info
    file: str
    line: int
    message: str
    fix: str = ""

    def render(self) -> str:
        head = f"{self.file}:{self.line}: {self.rule} {self.severity}: {self.message}"
        return f"{head}\n    fix: {self.fix}" if self.fix else head


def order(findings: list[Finding]) -> list[Finding]:
    """By file and line (the report reads top-down, as an editor shows it), each finding once."""
    return sorted(set(findings), key=lambda f: (f.file, f.line, SEVERITIES.index(f.severity),
                                                 f.rule, f.message))


def as_text(findings: list[Finding], notes: list[str], keepalived: str | None = None) -> str:
    lines = [f.render() for f in order(findings)]
    unique = set(findings)
    counts = {s: sum(f.severity == s for f in unique) for s in SEVERITIES}
    lines.append(", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
                 + (f" (with keepalived {keepalived} -t)" if keepalived else ""))
    lines += notes
    return "\n".join(lines)


def as_json(findings: list[Finding], notes: list[str], keepalived: str | None = None) -> str:
    return json.dumps({"findings": [f._asdict() for f in order(findings)], "notes": notes,
                       "keepalived": keepalived}, indent=2)


def exit_code(findings: list[Finding]) -> int:
    return EXIT_FAILED if any(f.severity == "error" for f in findings) else EXIT_OK

"""A finding: where, which rule, how bad, what is wrong, and the one-line fix.

Rendered as `file:line: RULE-ID severity: message` (the compiler convention editors and CI
annotate) followed by an indented fix hint, or as JSON for machines.
"""

from __future__ import annotations

import json
from typing import NamedTuple

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
    """Errors first, then by file and line, so the report reads top-down within each level."""
    return sorted(set(findings), key=lambda f: (SEVERITIES.index(f.severity), f.file, f.line,
                                                 f.rule))


def as_text(findings: list[Finding], notes: list[str]) -> str:
    lines = [f.render() for f in order(findings)]
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    lines.append(", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items()))
    lines += notes
    return "\n".join(lines)


def as_json(findings: list[Finding], notes: list[str]) -> str:
    return json.dumps({"findings": [f._asdict() for f in order(findings)], "notes": notes},
                      indent=2)


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.severity == "error" for f in findings) else 0

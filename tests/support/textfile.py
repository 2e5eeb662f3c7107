"""The metrics convention both textfiles keep (lbcheck watch's and lbnotify's), as one check.

A dashboard written against one half must read the other the same way: a state is a
stateset (one series per state under a ``state`` label, exactly one of them 1), counters end
in ``_total``, every series carries its command's prefix. Deprecated series are named so the
check can skip them while they are still written.
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families


def convention_problems(text: str, prefix: str, deprecated: frozenset[str] = frozenset()
                        ) -> list[str]:
    """What in the exposition ``text`` breaks the convention; [] when nothing does."""
    problems: list[str] = []
    for family in text_string_to_metric_families(text):
        if family.name in deprecated:
            continue
        if not family.name.startswith(prefix):
            problems.append(f"{family.name}: not named {prefix}*")
        if family.type == "counter":
            problems += [f"{s.name}: a counter not ending in _total" for s in family.samples
                         if not s.name.endswith(("_total", "_created"))]
        groups: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
        for sample in family.samples:
            if "state" in sample.labels:
                rest = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "state"))
                groups[rest].append(sample.value)
        for labels, values in groups.items():
            if sorted(values) != [0.0] * (len(values) - 1) + [1.0]:
                problems.append(f"{family.name}{dict(labels)}: a stateset needs exactly one "
                                f"state at 1 and the others at 0, not {values}")
    return problems

"""The lint rule registry: the one place rule IDs exist, and docs/lint.md's table of them.

Why: IDs used to be string literals across seven modules, so a new rule could take an ID in
use, raise a severity nobody documented, or go undocumented; these tests make each of those
a failure with the rule named.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lbcheck
from lbcheck.keepalived_conf import parse_text
from lbcheck.lint import engine
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA001,
    KA002,
    KA099,
    RULES,
    Check,
    Origin,
    Subject,
    checks,
    per_config,
)

LINT_DOC = Path(__file__).resolve().parents[2] / "docs" / "lint.md"
_ROW = re.compile(r"^\| (KA\d{3}) \| ([a-z/]+) \| (.+?) \|$")
_ID = re.compile(r"\bKA\d{3}\b")


def documented() -> dict[str, tuple[str, str]]:
    """ID → (severities, doc) from the table in docs/lint.md's "Lint rules" section."""
    text = LINT_DOC.read_text()
    heading = "\n## Lint rules\n"
    after = text[text.index(heading) + len(heading):]
    section = re.split(r"^#{1,2} ", after, maxsplit=1, flags=re.MULTILINE)[0]  # to its end
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is in the table twice"
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_the_docs_table_lists_exactly_the_registered_rules_with_their_severities() -> None:
    table = documented()
    registered = {r.id: ("/".join(r.severities), r.doc) for r in RULES.values()}
    assert not sorted(set(registered) - set(table)), "registered but not in docs/lint.md's table"
    assert not sorted(set(table) - set(registered)), "in docs/lint.md's table but not registered"
    wrong = {i: (table[i][0], registered[i][0]) for i in table if table[i][0] != registered[i][0]}
    assert not wrong, f"severity in docs/lint.md vs registry: {wrong}"
    docs = {i: (table[i][1], registered[i][1]) for i in table if table[i][1] != registered[i][1]}
    assert not docs, f"one-line doc in docs/lint.md vs registry: {docs}"


def test_no_rule_id_is_a_string_literal_outside_the_registry() -> None:
    """Docstrings may name a rule (they explain); code raises through the rule objects."""
    package = Path(lbcheck.__file__).parent
    registry = package / "lint" / "registry.py"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == registry:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                    | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(package)}:{node.lineno}: {node.value!r}"
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings and _ID.search(node.value)]
    assert not found


def test_each_check_rule_is_raised_by_one_check_and_the_others_by_none() -> None:
    raisers: dict[str, list[str]] = {rule_id: [] for rule_id in RULES}
    for check in checks():
        for rule in check.rules:
            raisers[rule.id].append(check.name)
    for rule in RULES.values():
        expected = 1 if rule.origin is Origin.CHECK else 0
        assert len(raisers[rule.id]) == expected, (rule.id, rule.origin, raisers[rule.id])


def test_a_finding_carries_only_a_severity_its_rule_declares() -> None:
    assert KA002.finding("f", 1, "m", severity="warning").severity == "warning"
    assert KA002.finding("f", 1, "m") == Finding("KA002", "error", "f", 1, "m", "")
    with pytest.raises(ValueError, match="KA001"):
        KA001.finding("f", 1, "m", severity="info")


def test_a_check_raising_a_rule_it_did_not_register_is_reported_as_a_lint_bug(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stray(subject: Subject) -> list[Finding]:
        return [KA002.finding(subject.config.path, 1, "not mine to raise")]

    monkeypatch.setattr(per_config, "registered", [Check(stray, (KA001,))])
    path = tmp_path / "keepalived.conf"
    path.write_text("global_defs {\n}\n")
    report = engine.lint(str(path), on_host=False)
    assert [f.rule for f in report.findings] == [KA099.id]
    assert "stray" in report.findings[0].message and "KA002" in report.findings[0].message


def test_every_check_judges_an_empty_config_without_tripping() -> None:
    """The registered checks run on the model alone (one reading): an empty one is clean."""
    subject = Subject(parse_text("", tolerant=True), on_host=False)
    assert [f for c in per_config.registered for f in c.judge(subject)] == []


def test_every_error_keepalived_is_silent_about_is_explained_in_the_docs() -> None:
    """registry.SILENT_KEEPALIVED lets a rule be an error where `keepalived -t` says nothing:
    each such rule is registered with an error severity and named, bold, in docs/lint.md's
    paragraph on keepalived's silence."""
    from lbcheck.lint.registry import SILENT_KEEPALIVED

    text = (Path(__file__).resolve().parents[2] / "docs" / "lint.md").read_text()
    paragraph = text[text.index("**Lint's own rules against keepalived's word.**"):]
    paragraph = paragraph[:paragraph.index("\n\n")]
    for rule_id, why in SILENT_KEEPALIVED.items():
        assert "error" in RULES[rule_id].severities, rule_id
        assert why
        assert f"**{rule_id}**" in paragraph or any(
            low <= rule_id <= high
            for low, high in re.findall(r"\*\*(KA\d+)–(KA\d+)\*\*", paragraph)), rule_id

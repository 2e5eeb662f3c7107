"""The shipped examples pass our own linter, alone and as the rendered pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbcheck.lint.engine import lint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["keepalived.conf", "keepalived-sync-group.conf",
                                  "keepalived-track-file.conf"])
def test_example_has_no_finding_but_notes(name: str, tmp_path: Path) -> None:
    """Each example is clean on its own and as a pair with its backup (priority 100)."""
    path = EXAMPLES / name
    peer = tmp_path / "peer.conf"
    peer.write_text(path.read_text().replace("priority 150 ", "priority 100 "))
    report = lint(str(path), str(peer), on_host=False)
    assert [] == report.findings


def test_example_lbcheck_toml_is_a_valid_config() -> None:
    """examples/lbcheck.toml loads with every key it documents, at the values it shows."""
    from lbcheck.config import load

    config = load(str(EXAMPLES / "lbcheck.toml"))
    assert (0.5, 900.0) == (config.page.budget, config.page.sender_give_up)
    assert ["webhook"] == [t.type for t in config.page.targets]

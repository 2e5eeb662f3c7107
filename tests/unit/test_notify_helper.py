"""tests/support/notify.py's `Notify` writes a config lbnotify accepts, whatever it is asked.

It once wrote `flap_window = 0.0` and then every [page] keyword as another key, so
`Notify(..., flap_window=60)` wrote the key twice: not TOML, and every lbnotify run exited 2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from lbcheck.config import load
from tests.support.notify import Notify


def test_flap_window_defaults_to_none_and_can_be_asked_for(tmp_path: Path) -> None:
    for name in ("quiet", "asked"):
        (tmp_path / name).mkdir()
    quiet = Notify(tmp_path / "quiet", "http://127.0.0.1:9")
    asked = Notify(tmp_path / "asked", "http://127.0.0.1:9", flap_window=60)
    assert (0.0, 60.0) == (load(str(quiet.config)).page.flap_window,
                           load(str(asked.config)).page.flap_window)


def test_every_page_setting_is_written_once_and_overrides_its_default(tmp_path: Path) -> None:
    outbox = tmp_path / "elsewhere"
    notify = Notify(tmp_path, "http://127.0.0.1:9", budget=2.0, flap_window=5,
                    sender_give_up=0, resend_interval=30, outbox=str(outbox))
    page = load(str(notify.config)).page
    assert (str(outbox), 2.0, 5.0, 0.0, 30.0) == (
        page.outbox, page.budget, page.flap_window, page.sender_give_up, page.resend_interval)
    assert outbox == notify.outbox  # what the helper's waiting() counts
    keys = [line.split(" = ")[0] for line in _table(notify.config, "[page]")]
    assert sorted(set(keys)) == sorted(keys)
    assert "pagerduty" == tomllib.loads(notify.config.read_text())["page"]["target"][0]["type"]


def _table(config: Path, header: str) -> list[str]:
    """The key lines of one table, up to the next header."""
    lines = config.read_text().splitlines()
    start = lines.index(header) + 1
    rest = lines[start:]
    end = next((i for i, line in enumerate(rest) if line.startswith("[")), len(rest))
    return rest[:end]

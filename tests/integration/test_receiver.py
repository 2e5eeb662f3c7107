"""The stand-in pager as a script, the way a lab in another network namespace runs it."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from pathlib import Path

import requests

RECEIVER = Path(__file__).resolve().parents[1] / "receiver.py"


def _listening_url(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"receiver did not start within {timeout} s")
    line = process.stdout.readline()
    assert line.startswith("receiver listening on "), line
    return line.split()[-1]


def test_script_records_one_json_line_per_request_and_switches_mode(tmp_path: Path) -> None:
    """--record appends each page as a JSON line; /_receiver/mode switches to 500 live."""
    record = tmp_path / "pages.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", "0", "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _listening_url(process)
        first = requests.post(f"{url}/v2/enqueue", json={"dedup_key": "a"}, timeout=5)
        switched = requests.post(f"{url}/_receiver/mode", json={"mode": "500"}, timeout=5)
        second = requests.post(f"{url}/hook", json={"dedup_key": "b"}, timeout=5)
        bad = requests.post(f"{url}/_receiver/mode", json={"mode": "teapot"}, timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    assert [202, 200, 500, 400] == [r.status_code for r in (first, switched, second, bad)]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [("/v2/enqueue", "a", "ok"), ("/hook", "b", "500")] == [
        (line["path"], line["json"]["dedup_key"], line["mode"]) for line in lines
    ]

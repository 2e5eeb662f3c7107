"""The shipped examples pass our own linter, alone and as the rendered pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbcheck.lint.engine import lint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["keepalived.conf", "keepalived-sync-group.conf",
                                  "keepalived-track-file.conf"])
def test_example_has_no_finding_but_notes(name: str, tmp_path: Path) -> None:
    """Each example is clean on its own and as a pair with its backup (priority 100).

    Allowed: the conservative profile's known costs, which lint spells out — weight 0 on
    both nodes (KA012: a check failing on both leaves no node holding the VIPs) and a lost
    master node taking 3.6 s (KA013, pointing to examples/fast/).
    """
    path = EXAMPLES / name
    peer = tmp_path / "peer.conf"
    peer.write_text(path.read_text().replace("priority 150 ", "priority 100 "))
    report = lint(str(path), str(peer), on_host=False)
    allowed = {("KA012", "warning"), ("KA013", "info")}
    assert [] == [f for f in report.findings if (f.rule, f.severity) not in allowed]


def test_fast_profile_pair_is_clean_and_prints_its_takeover_times(tmp_path: Path) -> None:
    """examples/fast/: lb1 and lb2 lint clean as a pair; the notes give each fault's time."""
    fast = EXAMPLES / "fast"
    report = lint(str(fast / "keepalived-lb1.conf"), str(fast / "keepalived-lb2.conf"),
                  on_host=False)
    assert [] == report.findings
    notes = "\n".join(report.notes)
    assert "master node lost (power, link): 3 × advert_int + skew ≈ 0.30 s" in notes
    assert "haproxy_watch fails on both: the VIPs stay on this VI_1 (230 vs 229)" in notes
    assert "master-down timer (3 × advert_int + skew from the master's last winning advert) " \
           "≈ 0.20–0.30 s" in notes  # measured in the lab: 0.23–0.32 s detection to answer
    spawned = fast / "keepalived-spawned.conf"
    peer = tmp_path / "lb2.conf"
    peer.write_text(spawned.read_text().replace("priority 250 ", "priority 249 "))
    report = lint(str(spawned), str(peer), on_host=False)
    assert [] == [f for f in report.findings if f.severity != "info"]


def test_example_lbcheck_toml_is_a_valid_config() -> None:
    """examples/lbcheck.toml loads with every key it documents, at the values it shows."""
    import tomllib

    from lbcheck.config import from_mapping, load

    config = load(str(EXAMPLES / "lbcheck.toml"))
    assert (0.5, 900.0) == (config.page.budget, config.page.sender_give_up)
    assert "" == config.notify.metrics_file  # shown commented out: node_exporter may be absent
    uncommented = (EXAMPLES / "lbcheck.toml").read_text().replace("# metrics_file", "metrics_file")
    shown = from_mapping(tomllib.loads(uncommented))
    assert shown.notify.metrics_file.endswith("/textfile/lbnotify.prom")
    assert ["webhook"] == [t.type for t in config.page.targets]


def unit_file(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}} (continuation lines joined)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    text = (EXAMPLES / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_flush_timer_runs_the_flush_service_every_minute() -> None:
    """The timer fires after boot and every minute, and starts the oneshot next to it."""
    timer = unit_file("lbnotify-flush.timer")
    assert (["30s"], ["1min"], ["timers.target"]) == (
        timer["Timer"]["OnBootSec"], timer["Timer"]["OnUnitActiveSec"],
        timer["Install"]["WantedBy"])
    assert "Unit" not in timer["Timer"]  # so it starts lbnotify-flush.service, by name
    assert (EXAMPLES / "lbnotify-flush.service").exists()


def test_status_timer_runs_lbcheck_status_into_node_exporter_s_directory() -> None:
    """The timer starts the oneshot beside it; its ExecStart is options lbcheck accepts, and
    the one directory it may write is the textfile's."""
    from lbcheck.cli import cli

    timer = unit_file("lbcheck-status.timer")
    assert (["15s"], ["timers.target"]) == (timer["Timer"]["OnUnitActiveSec"],
                                            timer["Install"]["WantedBy"])
    service = unit_file("lbcheck-status.service")["Service"]
    [exec_start] = service["ExecStart"]
    program, command, *options = exec_start.split()
    assert ("/usr/bin/lbcheck", "status") == (program, command)
    status = cli.get_command(None, "status")  # type: ignore[arg-type]
    assert status is not None
    textfile = status.make_context("status", options).params["textfile"]
    assert service["ReadWritePaths"] == [f"-{textfile.rpartition('/')[0]}"]
    assert service["SuccessExitStatus"] == ["1 3"]


def test_flush_service_runs_flush_due_only_with_options_lbnotify_accepts() -> None:
    """ExecStart is `lbnotify flush --due-only …`, and lbnotify's own parser takes it."""
    from lbcheck.notify.cli import cli

    service = unit_file("lbnotify-flush.service")["Service"]
    assert ["oneshot"] == service["Type"]
    [exec_start] = service["ExecStart"]
    program, command, *options = exec_start.split()
    assert ("/usr/bin/lbnotify", "flush") == (program, command)
    assert "--due-only" in options
    flush = cli.get_command(None, "flush")  # type: ignore[arg-type]
    assert flush is not None
    parsed = flush.make_context("flush", options).params
    assert (True, 30.0) == (parsed["due_only"], parsed["budget"])
    assert ["/var/lib/lbcheck -/var/lib/node_exporter/textfile"] == service["ReadWritePaths"]

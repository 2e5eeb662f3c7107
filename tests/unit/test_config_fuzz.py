"""A hypothesis fuzz of the config loader: whatever a TOML file can hold, loading it either
gives a Config or raises ConfigError — one line — and never anything else (an "internal
error" in lbcheck, exit 3, or lbnotify, exit 1, instead of the config error's exit 2)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbcheck.config import Config, ConfigError, from_mapping, load

SECTIONS = {
    "haproxy": ["socket", "pidfile", "master_socket"],
    "keepalived": ["config"],
    "log": ["target", "format"],
    "check": ["state_dir"],
    "announce": ["count", "interval"],
    "page": ["outbox", "budget", "flap_window", "sender_give_up", "resend_interval", "target"],
    "notify": ["state_dir", "metrics_file"],
    "vips": ["watch_interval", "settle", "rounds"],
}
TARGET_KEYS = ["type", "url", "routing_key", "api_key", "headers"]
HOSTILE_TEXT = ["", "/", "/tmp", "relative", "syslog", "stderr", "\0", "a\nb", "\udcff",
                "http://h:99999/x", "http://u:p@h/x?token=t", "https://", "pagerduty",
                "opsgenie", "webhook", "alertmanager", "x" * 5000, "0" * 32, "Ω" * 40]
HOSTILE_NUMBERS = [0, -1, 1, 2**63, -(2**63), 0.0, -0.0, 1e308, math.inf, -math.inf,
                   math.nan, 0.5, 1e-300, True, False]

scalars = st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_NUMBERS),
                    st.text(max_size=20), st.integers(), st.floats())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@st.composite
def targets(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(TARGET_KEYS + ["bogus"]), unique=True, max_size=5))
    table = {key: draw(values) for key in keys}
    if draw(st.booleans()):
        table["type"] = draw(st.sampled_from(["pagerduty", "opsgenie", "webhook",
                                              "alertmanager", "slack"]))
    return draw(st.one_of(st.just(table), values))


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "bogus"]), unique=True)):
        keys = SECTIONS.get(section, ["x"])
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
        table: dict[str, Any] = {}
        for key in chosen:
            table[key] = draw(st.lists(targets(), max_size=3)) if key == "target" else (
                draw(values))
        raw[section] = draw(st.one_of(st.just(table), values)) if draw(st.booleans()) else table
    return raw


@settings(max_examples=600, deadline=None)
@given(configs())
def test_any_mapping_loads_or_is_one_config_error(raw: dict[str, Any]) -> None:
    try:
        config = from_mapping(raw, "fuzz.toml")
    except ConfigError as exc:
        assert "\n" not in str(exc).rstrip()
        return
    assert isinstance(config, Config)
    assert all(math.isfinite(v) for v in (config.page.budget, config.announce.interval,
                                          config.page.flap_window, config.page.sender_give_up,
                                          config.vips.watch_interval, config.vips.settle))
    interval = config.vips.watch_interval
    assert interval == 0 or 0.5 <= interval <= 60
    assert type(config.vips.rounds) is int and config.vips.rounds >= 1


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_file_loads_or_is_one_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "lbcheck.toml"
    path.write_bytes(data)
    try:
        load(str(path))
    except ConfigError as exc:
        assert str(path) in str(exc)
        assert "\n" not in str(exc).rstrip()

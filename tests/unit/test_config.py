"""The TOML config: defaults, strict keys and types, page targets, and secret file modes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from lbcheck.config import (
    DEFAULT_PAGE_URLS,
    AnnounceSection,
    Config,
    ConfigError,
    HaproxySection,
    LogSection,
    PageTarget,
    VipsSection,
    check_secret_permissions,
    from_mapping,
    load,
)

SECRET = """\
[page]
budget = 0.25
[[page.target]]
type = "pagerduty"
routing_key = "R0UT1NGK3YR0UT1NGK3YR0UT1NGK3Y01"
"""
PD_KEY = "0123456789abcdef0123456789ABCDEF"  # PagerDuty's keys have 32 characters


def test_empty_mapping_gives_the_documented_defaults() -> None:
    """Every key is optional; the defaults follow Debian's haproxy package and docs/checks.md."""
    config = from_mapping({})
    assert Config() == config
    assert ("/run/haproxy/admin.sock", None, None) == tuple(config.haproxy)
    assert ("/etc/keepalived/keepalived.conf", "syslog", "json") == (
        config.keepalived.config, config.log.target, config.log.format)
    assert (3, 0.5, "/var/lib/lbcheck/outbox", 0.5, ()) == (
        config.announce.count, config.announce.interval, config.page.outbox,
        config.page.budget, config.page.targets)
    assert not config.holds_secrets


def test_the_pair_watch_is_on_every_2_s_by_default_and_0_turns_it_off() -> None:
    """Defaults as docs/notify.md and the conffile say; 0.5 s is the quickest round."""
    assert VipsSection(2.0, 6.0, 2) == from_mapping({}).vips
    assert 0 == from_mapping({"vips": {"watch_interval": 0}}).vips.watch_interval
    assert VipsSection(0.5, 0, 1) == from_mapping(
        {"vips": {"watch_interval": 0.5, "settle": 0, "rounds": 1}}).vips


def test_values_override_defaults_per_key() -> None:
    """A key given replaces its default; its siblings keep theirs."""
    config = from_mapping({"haproxy": {"socket": "/tmp/a.sock", "master_socket": "/tmp/m"},
                           "log": {"target": "/var/log/lbcheck.jsonl", "format": "logfmt"},
                           "announce": {"count": 5}}, "/etc/lbcheck/lbcheck.toml")
    assert "/etc/lbcheck/lbcheck.toml" == config.path
    assert HaproxySection("/tmp/a.sock", None, "/tmp/m") == config.haproxy
    assert LogSection("/var/log/lbcheck.jsonl", "logfmt") == config.log
    assert AnnounceSection(5, 0.5) == config.announce


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"haprxy": {}}, "haprxy"),
        ({"haproxy": {"sockett": "/x"}}, "[haproxy]: unknown key(s) sockett"),
        ({"log": {"level": "debug"}}, "[log]: unknown key(s) level"),
        ({"page": {"targets": []}}, "[page]: unknown key(s) targets"),
        ({"page": {"target": [{"type": "webhook", "url": "http://x", "token": "t"}]}},
         "[[page.target]]: unknown key(s) token"),
    ],
)
def test_unknown_key_is_an_error_naming_it(raw: dict[str, Any], names: str) -> None:
    """A typo is an error that names the key and where it was, not a silently ignored key."""
    with pytest.raises(ConfigError) as caught:
        from_mapping(raw, "lbcheck.toml")
    assert str(caught.value).startswith("lbcheck.toml")
    assert names in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"haproxy": "x"}, "[haproxy] must be a table"),
        ({"haproxy": {"socket": 5}}, "[haproxy] socket: expected a string, got 5"),
        ({"announce": {"count": "3"}}, "[announce] count: expected an integer, got '3'"),
        ({"page": {"budget": "fast"}}, "[page] budget: expected a number"),
        ({"log": {"format": "xml"}}, "[log] format must be json or logfmt, not 'xml'"),
        ({"page": {"sender_give_up": -1}},
         "[page] sender_give_up: expected a number of 0 or more"),
    ],
)
def test_wrong_type_is_an_error(raw: dict[str, Any], why: str) -> None:
    """A value of the wrong type or outside its choices is a ConfigError saying which."""
    with pytest.raises(ConfigError) as caught:
        from_mapping(raw)
    assert why in str(caught.value)


@pytest.mark.parametrize(("kind", "key"), [("pagerduty", "routing_key"), ("opsgenie", "api_key")])
def test_page_target_gets_its_default_url(kind: str, key: str) -> None:
    """PagerDuty and Opsgenie targets need no url: each type has its public endpoint."""
    config = from_mapping({"page": {"target": [{"type": kind, key: PD_KEY}]}})
    expected = PageTarget(kind, DEFAULT_PAGE_URLS[kind], **{key: PD_KEY})
    assert (expected,) == config.page.targets
    assert config.holds_secrets


def test_page_targets_keep_order_and_overrides() -> None:
    """Targets keep file order; an explicit url wins; webhook headers become sorted pairs."""
    config = from_mapping({"page": {"outbox": "/tmp/o", "target": [
        {"type": "webhook", "url": "https://hooks.example/lb", "headers": {"X-B": "2", "A": "1"}},
        {"type": "pagerduty", "url": "https://pd.example/v2/enqueue", "routing_key": PD_KEY},
    ]}})
    assert (PageTarget("webhook", "https://hooks.example/lb", headers=(("A", "1"), ("X-B", "2"))),
            PageTarget("pagerduty", "https://pd.example/v2/enqueue", routing_key=PD_KEY)) == (
        config.page.targets)
    assert "/tmp/o" == config.page.outbox


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ({"type": "slack", "url": "https://x"}, "type must be one of pagerduty, opsgenie"),
        ({"url": "https://x"}, "type must be one of"),
        ({"type": "webhook"}, "[[page.target]] type = 'webhook': needs a url"),
        ("pagerduty", "[[page.target]] must be a table"),
        # Targets that load but could never deliver: every page refused or dead-lettered.
        ({"type": "pagerduty"}, "needs routing_key (without spaces)"),
        ({"type": "pagerduty", "routing_key": ""}, "needs routing_key"),
        ({"type": "pagerduty", "routing_key": "R0UT1NGK3Y"},
         "routing_key has 10 characters; PagerDuty's integration keys have 32"),
        ({"type": "pagerduty", "routing_key": PD_KEY[:-1] + " "}, "needs routing_key"),
        ({"type": "pagerduty", "routing_key": 12345}, "routing_key must be a string"),
        ({"type": "opsgenie"}, "type = 'opsgenie': needs api_key"),
        ({"type": "webhook", "url": "hooks.example/lb"}, "is not an http(s)://host/… URL"),
        ({"type": "webhook", "url": "ftp://hooks.example/lb"}, "is not an http(s)://host/"),
        ({"type": "webhook", "url": "http://127.0.0.1:99999/x"}, "is not an http(s)://host/"),
        ({"type": "webhook", "url": "http:///x"}, "is not an http(s)://host/"),
        ({"type": "webhook", "url": "http://h/x y"}, "is not an http(s)://host/"),
        ({"type": "webhook", "url": 5}, "url must be a string"),
        ({"type": "webhook", "url": "http://h/", "headers": {"X-A": "1\r\nX-B: 2"}},
         "header X-A: the value must be one line of text"),
        ({"type": "webhook", "url": "http://h/", "headers": {"X A": "1"}},
         "'X A' is not an HTTP header name"),
        ({"type": "webhook", "url": "http://h/", "headers": {"X-A": 1}},
         "header X-A: the value must be one line"),
    ],
)
def test_invalid_page_target(target: Any, why: str) -> None:
    """An unknown type, a target missing what it needs to deliver, a URL no request can go
    to, or a non-table target is a ConfigError naming it — never a loaded target that
    silently dead-letters every page."""
    with pytest.raises(ConfigError) as caught:
        from_mapping({"page": {"target": [target]}})
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"page": {"target": 5}}, "page targets are [[page.target]] tables, not 5"),
        ({"page": {"target": {"type": "webhook"}}}, "page targets are [[page.target]] tables"),
        ({"page": {"budget": math.nan}}, "[page] budget: expected a number in 0.01..600"),
        ({"page": {"budget": math.inf}}, "[page] budget: expected a number in 0.01..600"),
        ({"page": {"budget": 0}}, "[page] budget: expected a number in 0.01..600, got 0"),
        ({"page": {"flap_window": -1}}, "[page] flap_window: expected a number of 0 or more"),
        ({"page": {"budget": True}}, "[page] budget: expected a number, got True"),
        ({"announce": {"count": 1.5}}, "[announce] count: expected an integer, got 1.5"),
        ({"announce": {"count": 0}}, "[announce] count: expected an integer in 1..100"),
        ({"announce": {"interval": 1e9}}, "[announce] interval: expected a number in 0..60"),
        ({"notify": {"state_dir": ""}}, "[notify] state_dir: needs an absolute path, not ''"),
        ({"check": {"state_dir": "run"}}, "[check] state_dir: needs an absolute path"),
        ({"page": {"outbox": "outbox"}}, "[page] outbox: needs an absolute path"),
        ({"notify": {"metrics_file": "x.prom"}}, "[notify] metrics_file: needs an absolute"),
        ({"log": {"target": "lbcheck.jsonl"}}, "[log] target: syslog, stderr or an absolute"),
        ({"log": {"target": "/tmp"}}, "[log] target: /tmp is a directory; name a file in it"),
        ({"haproxy": {"socket": "/run/a\0b"}}, "[haproxy] socket: contains a NUL"),
        # A round listens 0.25 s and must fit; 0 is off.
        ({"vips": {"watch_interval": 0.2}}, "[vips] watch_interval: 0 (off) or 0.5..60"),
        ({"vips": {"watch_interval": 61}}, "[vips] watch_interval: expected a number in 0..60"),
        ({"vips": {"watch_interval": -1}}, "[vips] watch_interval: expected a number in 0..60"),
        ({"vips": {"settle": math.inf}}, "[vips] settle: expected a number in 0..300"),
        ({"vips": {"rounds": 0}}, "[vips] rounds: expected an integer in 1..100, got 0"),
        ({"vips": {"rounds": 2.0}}, "[vips] rounds: expected an integer, got 2.0"),
        ({"vips": {"rounds": True}}, "[vips] rounds: expected an integer, got True"),
        ({"vips": {"interval": 2}}, "[vips]: unknown key(s) interval"),
        ({"vips": 2}, "[vips] must be a table"),
    ],
)
def test_values_that_cannot_work_are_config_errors(raw: dict[str, Any], why: str) -> None:
    """Each of these once became an internal error, a page never sent or files written into
    whatever directory keepalived started us in; now it is one line naming the key."""
    with pytest.raises(ConfigError) as caught:
        from_mapping(raw)
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("page", [5, "x"])
def test_page_that_is_not_a_table_is_a_config_error(page: object) -> None:
    """`page = 5` is reported like `haproxy = 5`: [page] must be a table."""
    with pytest.raises(ConfigError, match=r"\[page\] must be a table"):
        from_mapping({"page": page})


@pytest.mark.parametrize("headers", [5, "Authorization: x"])
def test_webhook_headers_that_are_not_a_table_are_a_config_error(headers: object) -> None:
    """`headers` must be a table of name = value; anything else is a ConfigError."""
    with pytest.raises(ConfigError):
        from_mapping({"page": {"target": [{"type": "webhook", "url": "http://x",
                                           "headers": headers}]}})


@pytest.mark.parametrize("key", ["pidfile", "master_socket"])
def test_optional_path_of_wrong_type_is_a_config_error(key: str) -> None:
    """An optional path given as a number is a ConfigError, like `socket = 5` is."""
    with pytest.raises(ConfigError, match=f"{key}: expected a string"):
        from_mapping({"haproxy": {key: 5}})


def test_load_reads_a_toml_file(tmp_path: Path) -> None:
    """load() parses the file given and records its path."""
    path = tmp_path / "lbcheck.toml"
    path.write_text('[haproxy]\nsocket = "/tmp/h.sock"\n[announce]\ninterval = 1\n')
    config = load(str(path))
    assert (str(path), "/tmp/h.sock", 1) == (config.path, config.haproxy.socket,
                                             config.announce.interval)


def test_invalid_toml_is_a_one_line_error(tmp_path: Path) -> None:
    """A syntax error names the file and the position, on one line."""
    path = tmp_path / "lbcheck.toml"
    path.write_text('[haproxy]\nsocket = /run/haproxy/admin.sock\n')
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    message = str(caught.value)
    assert message.startswith(f"config {path} is not valid TOML: ")
    assert "line 2" in message
    assert "\n" not in message


def test_unreadable_config_is_an_error(tmp_path: Path) -> None:
    """A path that is not a readable file is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read config"):
        load(str(tmp_path / "missing.toml"))


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    """Errors from a loaded file start with that file's path."""
    path = tmp_path / "lbcheck.toml"
    path.write_text("[haproxy]\npid_file = '/run/haproxy.pid'\n")
    with pytest.raises(ConfigError, match=f"^{path} \\[haproxy\\]: unknown key\\(s\\) pid_file"):
        load(str(path))


def _secret_file(tmp_path: Path, mode: int, uid: int = 0) -> Config:
    path = tmp_path / "lbcheck.toml"
    path.write_text(SECRET)
    os.chown(path, uid, 0)
    path.chmod(mode)
    return load(str(path))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own the file")
def test_root_only_file_with_secrets_passes(tmp_path: Path) -> None:
    """A routing key in a root-owned 0600 file is fine (like /etc/shadow)."""
    config = _secret_file(tmp_path, 0o600)
    assert config.holds_secrets
    assert check_secret_permissions(config) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own the file")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_secrets_readable_by_others_are_refused(tmp_path: Path, mode: int) -> None:
    """A routing key readable by group or others is refused, with the fix spelled out."""
    config = _secret_file(tmp_path, mode)
    with pytest.raises(ConfigError) as caught:
        check_secret_permissions(config)
    assert (f"{config.path} holds paging keys but is readable by group/others: run "
            f"`chown root:root {config.path} && chmod 600 {config.path}`") == str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown the file")
def test_secrets_owned_by_someone_else_are_refused(tmp_path: Path) -> None:
    """A 0600 file owned by another user could be rewritten by that user: refused."""
    config = _secret_file(tmp_path, 0o600, uid=1000)
    with pytest.raises(ConfigError, match="holds paging keys but is not owned by root"):
        check_secret_permissions(config)


@pytest.mark.parametrize("url", [
    "https://hooks.example/services/T024BE7LD/B0123ABCD/XXXXXXXXXXXXXXXXXXXXXXXX",
    "https://hooks.example/lbcheck?token=s3cr3t",
    "https://lb:pa55word@hooks.example/lbcheck",
])
def test_webhook_url_with_credentials_is_a_secret(tmp_path: Path, url: str) -> None:
    """A webhook's token in its URL is its key: such a file must be root's 0600 too."""
    path = tmp_path / "lbcheck.toml"
    path.write_text(f'[page]\n[[page.target]]\ntype = "webhook"\nurl = "{url}"\n')
    path.chmod(0o644)
    config = load(str(path))
    assert config.holds_secrets
    with pytest.raises(ConfigError, match="holds paging keys but is"):
        check_secret_permissions(config)


def test_file_without_secrets_may_be_world_readable(tmp_path: Path) -> None:
    """No paging key, nothing to protect: a 0644 config passes."""
    path = tmp_path / "lbcheck.toml"
    path.write_text('[page]\n[[page.target]]\ntype = "webhook"\nurl = "https://x"\n')
    path.chmod(0o644)
    assert check_secret_permissions(load(str(path))) is None


def test_defaults_without_a_file_need_no_check() -> None:
    """The built-in defaults have no path and no secrets."""
    assert check_secret_permissions(Config()) is None


def test_alertmanager_target_needs_its_url() -> None:
    """Every site runs its own Alertmanager: there is no default to fall back on."""
    with pytest.raises(ConfigError, match=r"type = 'alertmanager': needs a url"):
        from_mapping({"page": {"target": [{"type": "alertmanager"}]}})
    config = from_mapping({"page": {"target": [{"type": "alertmanager",
                                                "url": "http://am:9093"}]}})
    assert (PageTarget("alertmanager", "http://am:9093"),) == config.page.targets
    assert not config.holds_secrets


@pytest.mark.parametrize("interval", [0, -1, 121])
def test_resend_interval_must_leave_room_for_a_missed_resend(interval: float) -> None:
    """Past 120 s, one missed re-send would let Alertmanager resolve an open FAULT."""
    with pytest.raises(ConfigError,
                       match=r"\[page\] resend_interval: expected a number in 1\.\.120"):
        from_mapping({"page": {"resend_interval": interval}})
    assert 60.0 == from_mapping({}).page.resend_interval


def test_opsgenie_target_warns_of_the_sunset_and_others_do_not() -> None:
    """Opsgenie still works (a warning, not an error) until its REST API ends on 2027-04-05."""
    opsgenie = from_mapping({"page": {"target": [{"type": "opsgenie", "api_key": "K"}]}})
    [warning] = opsgenie.warnings
    assert "2027-04-05" in warning
    pagerduty = {"type": "pagerduty", "routing_key": PD_KEY}
    assert () == from_mapping({"page": {"target": [pagerduty]}}).warnings


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "huge", "not utf-8", "deep"])
def test_a_config_path_that_is_no_config_is_one_line(tmp_path: Path, kind: str) -> None:
    """`--config /dev/zero` once read forever, a FIFO hung, deep nesting raised: each is now
    a ConfigError (exit 2) on one line, within the time of a read of 1 MiB at most."""
    path = tmp_path / "lbcheck.toml"
    if kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    elif kind == "not utf-8":
        path.write_bytes(b'[log]\ntarget = "\xff"\n')
    else:
        path.write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_config_reached_through_a_symlink_is_read(tmp_path: Path) -> None:
    """Operators link /etc/lbcheck/lbcheck.toml into a deployment tree: that must keep working."""
    real = tmp_path / "deploy" / "lbcheck.toml"
    real.parent.mkdir()
    real.write_text('[haproxy]\nsocket = "/tmp/h.sock"\n')
    link = tmp_path / "lbcheck.toml"
    link.symlink_to(real)
    assert "/tmp/h.sock" == load(str(link)).haproxy.socket

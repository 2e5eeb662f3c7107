"""debian/: the conffile documents every key at its default, and the versions agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from lbcheck.config import Config, PageTarget, from_mapping

REPO = Path(__file__).resolve().parents[2]
CONFFILE = REPO / "debian" / "lbcheck.toml"
# Keys whose default is "not set": the conffile shows them with a typical value instead.
UNSET_BY_DEFAULT = ("pidfile", "master_socket", "metrics_file")


def uncommented() -> str:
    """The conffile with every commented-out `# key = value` (and `# [[table]]`) made live."""
    return re.sub(r"^# (\[\[|[a-z_]+ = )", r"\1", CONFFILE.read_text(), flags=re.MULTILINE)


def test_conffile_sets_nothing_as_shipped() -> None:
    """Installed untouched, /etc/lbcheck/lbcheck.toml means the built-in defaults."""
    assert Config(path="x") == from_mapping(tomllib.loads(CONFFILE.read_text()), "x")


def test_conffile_shows_every_key_at_its_default() -> None:
    """Uncommented, it holds every key lbcheck knows, each section at its default value."""
    raw = tomllib.loads(uncommented())
    config = from_mapping(raw, "x")
    for section in Config._fields[1:]:
        if section == "page":  # [[page.target]] tables hold what the targets field does
            fields, shown = set(Config().page._fields) - {"targets"}, set(raw[section]) - {
                "target"}
        else:
            fields, shown = set(getattr(Config(), section)._fields), set(raw[section])
        assert (section, fields) == (section, shown)
        if section != "page":  # the page target is an example, not a default
            assert getattr(Config(), section)._replace(
                **{k: v for k, v in raw[section].items() if k in UNSET_BY_DEFAULT}
            ) == getattr(config, section)
    [target] = raw["page"]["target"]
    assert set(PageTarget._fields) == set(target)
    assert Config().page._replace(targets=config.page.targets) == config.page


def test_changelog_version_is_pyprojects() -> None:
    """bin/package refuses to build when they differ; this says so before it is run."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    assert f"lbcheck ({project}) " in first


def test_packaged_units_are_the_examples() -> None:
    """The .deb installs examples/'s units, so the tests of the examples cover them."""
    lines = (REPO / "debian" / "lbcheck.install").read_text().splitlines()
    units = [line.split()[0] for line in lines if "systemd" in line]
    assert ["examples/lbcheck-watch.service", "examples/lbnotify-flush.service",
            "examples/lbnotify-flush.timer", "examples/lbcheck-status.service",
            "examples/lbcheck-status.timer"] == units
    assert all((REPO / unit).is_file() for unit in units)


def test_every_package_directory_is_installed() -> None:
    """pyproject lists its packages by name (checks/ and notify/ install inside lbcheck): a
    new room left out of the list works in the editable checkout and is missing from the
    wheel and the .deb (lbcheck.keepalived_state was, once)."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = set()
    for top, name in (("lbcheck", "lbcheck"), ("checks", "lbcheck.checks"),
                      ("notify", "lbcheck.notify")):
        for init in (REPO / top).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / top).parts
            found.add(".".join((name, *parts)))
    assert found == listed

"""keepalived_state's parsers on the dumps captured from real keepalived 2.2.7, 2.3.3, 2.3.4
(tests/unit/data/keepalived/README.md: the configuration, and what each version prints).

Every field of every instance is spelled out per version and role: a format change in a new
keepalived must fail here, next to the bytes, not on a load balancer at 3 am.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.keepalived_state import (
    DumpFormatError,
    Instance,
    SyncGroup,
    Tracker,
    Vip,
    combine,
    data_dump,
    json_dump,
)

DATA = Path(__file__).parent / "data" / "keepalived"
RELEASES = ("2.2.7", "2.3.3", "2.3.4")

# Last transition of VI_1, VI_2, VI_3, as each dump printed it
TRANSITIONS = {
    ("2.2.7", "master"): (1796152975.116367, 1796152975.120599, 1796152974.917417),
    ("2.2.7", "backup"): (1796152971.757279, 1796152971.758177, 1796152971.759127),
    ("2.3.3", "master"): (1796152980.030356, 1796152980.030730, 1796152978.443601),
    ("2.3.3", "backup"): (1796152976.537875, 1796152976.616833, 1796152978.125172),
    ("2.3.4", "master"): (1796152984.803243, 1796152984.803613, 1796152982.508106),
    ("2.3.4", "backup"): (1796152981.445034, 1796152981.445816, 1796152982.672134),
}
# VI_3 (nopreempt, BACKUP on both nodes): 2.2.7's n1 took it, n2 heard it; in 2.3.x neither
# node had taken it yet when captured (2.3.x prints "(none)"/0 for a master not yet heard)
VI_3_MASTER_2_2_7 = "fe80::8050:bdff:fe3f:3c05"


def read(release: str, role: str, kind: str) -> bytes:
    return (DATA / f"keepalived.{release}.{role}.{kind}").read_bytes()


def vip(address: str, installed: bool | None) -> Vip:
    return Vip(address, "eth0", installed)


def expected(release: str, role: str) -> tuple[Instance, ...]:
    master = role == "master"
    base = 200 if master else 100
    t1, t2, t3 = TRANSITIONS[release, role]
    heard = {"master_router": "VI_3 has heard no master yet",
             "master_priority": "VI_3 has heard no master yet"}
    if master:
        mine = {f: "{} is MASTER: no other master to hear" for f in heard}
        vi3_state = "MASTER" if release == "2.2.7" else "BACKUP"
        vi3_missing = ({f: r.format("VI_3") for f, r in mine.items()} if release == "2.2.7"
                       else heard)
        vi3_router, vi3_priority = None, None
    else:
        vi3_state = "BACKUP"
        if release == "2.2.7":
            vi3_router, vi3_priority, vi3_missing = VI_3_MASTER_2_2_7, 200, {}
        else:
            vi3_router, vi3_priority, vi3_missing = None, None, heard
    return (
        Instance(
            name="VI_1", state="MASTER" if master else "BACKUP", sync_group="G1",
            interface="eth0", base_priority=base, effective_priority=base - 50,
            vips=(vip("192.0.2.100/24", master),),
            excluded_vips=(vip("2001:db8::100/64", master),),
            master_router=None if master else "192.0.2.1",
            master_priority=None if master else 150,
            preempt=True, last_transition=t1,
            trackers=(
                Tracker("interface", "trk0", -20, "UP, RUNNING", None),
                Tracker("script", "chk_pass", 5, "GOOD", 1),
                Tracker("script", "chk_fail", -30, "BAD", 0),
                Tracker("file", "tf_haproxy", -2, "5", 5),
                Tracker("process", "tp_absent", -15, "no quorum", 0),
            ),
            missing={f: r.format("VI_1") for f, r in mine.items()} if master else {},
        ),
        Instance(
            name="VI_2", state="MASTER" if master else "BACKUP", sync_group="G1",
            interface="eth0", base_priority=base, effective_priority=base,
            vips=(vip("192.0.2.101/24", master),),
            excluded_vips=(vip("192.0.2.102/24", master),),
            master_router=None if master else "192.0.2.1",
            master_priority=None if master else 200,
            preempt=True, last_transition=t2, trackers=(),
            missing={f: r.format("VI_2") for f, r in mine.items()} if master else {},
        ),
        Instance(
            name="VI_3", state=vi3_state, sync_group=None, interface="eth0",
            base_priority=base, effective_priority=base,
            vips=(vip("2001:db8::103/64", vi3_state == "MASTER"),), excluded_vips=(),
            master_router=vi3_router, master_priority=vi3_priority,
            preempt=False, last_transition=t3, trackers=(), missing=vi3_missing,
        ),
    )


@pytest.mark.parametrize("role", ["master", "backup"])
@pytest.mark.parametrize("release", RELEASES)
def test_data_dump_every_field(release: str, role: str) -> None:
    state = data_dump.parse(read(release, role, "data"), release)
    assert state.source == "data"
    assert state.instances == expected(release, role)
    assert state.sync_groups == (
        SyncGroup("G1", "MASTER" if role == "master" else "BACKUP", ("VI_1", "VI_2")),)


@pytest.mark.parametrize("role", ["master", "backup"])
@pytest.mark.parametrize("release", RELEASES)
def test_json_dump_has_priorities_not_trackers(release: str, role: str) -> None:
    state = json_dump.parse(read(release, role, "json"), release)
    from_data = {i.name: i for i in expected(release, role)}
    assert [i.name for i in state.instances] == ["VI_1", "VI_2", "VI_3"]
    assert state.sync_groups == ()
    for got in state.instances:
        want = from_data[got.name]
        assert (got.state, got.interface, got.base_priority, got.effective_priority,
                got.preempt, got.last_transition) == (
                    want.state, want.interface, want.base_priority, want.effective_priority,
                    want.preempt, want.last_transition)
        assert got.vips == tuple(Vip(v.address, "eth0", None) for v in want.vips or ())
        assert got.master_priority == want.master_priority
        assert got.master_router is None and got.sync_group is None
        dump = f"keepalived {release}'s JSON dump"
        assert got.missing["trackers"] == (
            f"{dump} has no tracker status or weight (acassen/keepalived #2673)")
        assert got.missing["master_router"] == f"{dump} has no master router address"
    vi1 = state.instances[0]
    scripts = (Tracker("interface", "trk0", None, None, None),
               Tracker("script", "/usr/bin/true", None, None, None),
               Tracker("script", "/usr/bin/false", None, None, None))
    processes = () if release == "2.2.7" else (
        Tracker("process", "tp_absent", None, None, None),)
    assert vi1.trackers == scripts + processes


@pytest.mark.parametrize("release", RELEASES)
def test_combined_is_the_data_dump_when_it_has_everything(release: str) -> None:
    data = data_dump.parse(read(release, "backup", "data"), release)
    both = combine(data, json_dump.parse(read(release, "backup", "json"), release))
    assert both == data


def test_combine_fills_what_the_data_dump_lacks_from_json() -> None:
    raw = read("2.3.4", "backup", "data").replace(b"   Effective priority = 50\n", b"")
    data = data_dump.parse(raw, "2.3.4")
    assert data.instances[0].effective_priority is None
    assert data.instances[0].missing["effective_priority"] == (
        "keepalived 2.3.4's .data dump has no effective priority for VI_1")
    both = combine(data, json_dump.parse(read("2.3.4", "backup", "json"), "2.3.4"))
    assert both.instances[0].effective_priority == 50
    assert "effective_priority" not in both.instances[0].missing


def test_an_unknown_release_is_named_as_such() -> None:
    raw = read("2.2.7", "master", "data").replace(b"   Preempt = enabled\n", b"")
    state = data_dump.parse(raw)
    assert state.instances[0].preempt is None
    assert state.instances[0].missing["preempt"] == (
        "this keepalived's .data dump has no preempt for VI_1")


def test_unknown_fields_and_sections_are_ignored() -> None:
    raw = read("2.3.4", "backup", "data")
    noisy = raw.replace(b"   Priority = 100\n",
                        b"   Priority = 100\n   Quantum flux = 7\n     a list item\n", 1)
    noisy += b"------< Something new >------\n Thing = 1\n   Field = 2\n"
    assert data_dump.parse(noisy, "2.3.4") == data_dump.parse(raw, "2.3.4")


@pytest.mark.parametrize("raw", [
    b"", b"\x00\xff", b"hello\n", b"------< Global definitions >------\n Router ID = x\n",
])
def test_not_a_data_dump(raw: bytes) -> None:
    with pytest.raises(DumpFormatError):
        data_dump.parse(raw)


@pytest.mark.parametrize("raw", [
    b"", b"{", b"{}", b"[1]", b'[{"data": []}]', b'[{"data": {"vrid": 1}}]', b"[" * 100000,
])
def test_not_a_json_dump(raw: bytes) -> None:
    with pytest.raises(DumpFormatError):
        json_dump.parse(raw)


def test_json_numbers_beyond_a_double_are_no_time() -> None:
    raw = b'[{"data": {"iname": "VI_1", "last_transition": 1' + b"0" * 400 + b"}}]"
    assert json_dump.parse(raw).instances[0].last_transition is None


LINES = st.lists(st.sampled_from([
    "------< VRRP Topology >------", "------< VRRP Scripts >------",
    "------< VRRP Sync groups >------", "------< Interfaces >------",
    " VRRP Instance = VI_1", " VRRP Script = chk", " VRRP Sync Group = G1, MASTER",
    " Name = eth0", "   State = MASTER", "   Priority = x", "   Effective priority = -",
    "   Master router = (none)", "   Master priority = ", "   Last transition = nan",
    "   Tracked scripts :", "     chk weight", "     chk, weight -1", "   Virtual IP (1):",
    "     dev", "     192.0.2.1/24 dev", "", " = ", "   =", "     ",
    "   VRRP member instances :", "     VI_1", "   Result = 1e9", "   Status = ",
]) | st.text(max_size=40), max_size=40)


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_data_garbage_never_raises_anything_else(lines: list[str]) -> None:
    try:
        data_dump.parse("\n".join(lines).encode("utf-8", errors="surrogatepass"))
    except DumpFormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_data_bytes_never_raise_anything_else(raw: bytes) -> None:
    try:
        data_dump.parse(raw)
    except DumpFormatError:
        pass


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "iname", "state", "vips", "evips", "nopreempt",
                         "base_priority", "effective_priority", "master_priority",
                         "last_transition", "track_script", "track_ifp", "ifp_ifname"]),
        inner, max_size=6),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_json_garbage_never_raises_anything_else(document: object) -> None:
    try:
        json_dump.parse(json.dumps(document).encode())
    except DumpFormatError:
        pass


def test_after_a_reload_the_multicast_group_is_no_master() -> None:
    """keepalived 2.2.7 right after SIGHUP (seen in the lab): a BACKUP's dump names its
    multicast group as master router, priority 0, until it hears an advert again."""
    raw = (DATA / "keepalived.2.2.7.backup.data").read_bytes().decode()
    reloaded = raw.replace("Master router = 192.0.2.1", "Master router = ff02::12", 1)
    reloaded = re.sub(r"Master priority = \d+", "Master priority = 0", reloaded, count=1)
    found = data_dump.parse(reloaded.encode()).instances[0]
    assert (found.master_router, found.master_priority) == (None, None)
    assert found.missing["master_router"] == "VI_1 has heard no master yet"

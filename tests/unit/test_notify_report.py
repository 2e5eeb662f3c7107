"""The `vrrp_event` line's shape, from the typed step results (notify/report.py).

Operators and the integration tests read this line; the typed results replaced a dict the
steps filled in, and the line must say exactly what it said then: a key that does not apply
is absent (not null), lists are lists, and a step that fails names its error.
"""

from __future__ import annotations

from lbcheck.notify.report import AnnounceStep, DeliverStep, MetricsStep, PageStep, Report


def test_a_quiet_backup_logs_page_deliver_and_previous() -> None:
    report = Report(PageStep(("resolve:critical",), ms=1.5),
                    deliver=DeliverStep(1, 0, 0, 0, 0, ms=20.0), previous="FAULT",
                    recalled=True, ms=30.0)
    assert {"previous": "FAULT", "page": {"queued": ["resolve:critical"], "ms": 1.5},
            "deliver": {"sent": 1, "waiting": 0, "failed": 0, "rejected": 0, "dead": 0,
                        "ms": 20.0},
            "ms": 30.0} == report.as_log()
    assert {} == report.failed_steps()


def test_first_sight_is_a_null_previous_and_an_unread_memory_no_previous_at_all() -> None:
    first = Report(PageStep(ms=1.0), previous=None, recalled=True)
    unread = Report(PageStep(error="state/page/instance-VI_1.json is not JSON", ms=1.0))
    assert (True, None) == ("previous" in first.as_log(), first.as_log()["previous"])
    assert "previous" not in unread.as_log()
    assert {"error": "state/page/instance-VI_1.json is not JSON", "ms": 1.0} == \
        unread.as_log()["page"]
    assert {"page": "state/page/instance-VI_1.json is not JSON"} == unread.failed_steps()


def test_announce_shapes() -> None:
    sent = AnnounceStep(sent=("192.0.2.1 on eth0: sent 3 gratuitous ARP",), ms=1002.0,
                        config_warnings=("k.conf:1: cannot read include x",))
    partly = AnnounceStep(sent=("a",), failed=("b: error: down",), error="b: error: down",
                          ms=5.0)
    unread = AnnounceStep(error="no vrrp_instance VI_9 in k.conf", ms=2.0, tried=False)
    by_hand = AnnounceStep(error="not an IPv4 or IPv6 address: 'x'")
    assert {"sent": ["192.0.2.1 on eth0: sent 3 gratuitous ARP"], "skipped": [],
            "failed": [], "ms": 1002.0,
            "config_warnings": ["k.conf:1: cannot read include x"]} == sent.as_log()
    assert ["error", "sent", "skipped", "failed", "ms"] == list(partly.as_log())
    assert {"error": "no vrrp_instance VI_9 in k.conf", "ms": 2.0} == unread.as_log()
    # `lbnotify announce` times nothing: its line has no ms.
    assert {"error": "not an IPv4 or IPv6 address: 'x'", "sent": [], "skipped": [],
            "failed": []} == by_hand.as_log()
    assert ("a", "b: error: down") == partly.lines()


def test_deliver_shapes() -> None:
    handed = DeliverStep(0, 1, 1, 0, 0, sender="started 42", ms=510.0)
    unusable = DeliverStep(error="cannot open outbox: Permission denied", ms=0.3)
    crashed = DeliverStep(waiting=1, error="internal: OverflowError: x", sender="off", ms=2.0)
    assert ["sent", "waiting", "failed", "rejected", "dead", "ms", "sender"] == list(
        handed.as_log())
    assert {"error": "cannot open outbox: Permission denied", "ms": 0.3} == unusable.as_log()
    assert {"error": "internal: OverflowError: x", "waiting": 1, "ms": 2.0,
            "sender": "off"} == crashed.as_log()


def test_every_failed_step_is_named_in_step_order() -> None:
    report = Report(PageStep(ms=1.0), recalled=True,
                    announce=AnnounceStep(error="announcement still running after 3.5 s",
                                          ms=3500.0, tried=False),
                    deliver=DeliverStep(error="disk full", ms=1.0),
                    metrics=MetricsStep("cannot write metrics to /x", 0.5))
    assert ["announce", "deliver", "metrics"] == list(report.failed_steps())
    assert {"error": "announcement still running after 3.5 s", "ms": 3500.0} == \
        report.as_log()["announce"]
    assert {"error": "cannot write metrics to /x", "ms": 0.5} == report.as_log()["metrics"]
    assert ["previous", "page", "announce", "deliver", "metrics", "ms"] == list(
        report.as_log())


def test_config_warnings_are_the_announcements() -> None:
    report = Report(PageStep(), announce=AnnounceStep(config_warnings=("w1", "w2")))
    assert [("announce", "w1"), ("announce", "w2")] == report.config_warnings()
    assert [] == Report(PageStep()).config_warnings()

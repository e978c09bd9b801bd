"""Rollout notifications: receivers, payloads, the Paused Event, and delivery to a real HTTP
receiver on loopback (retries, order, a reconcile never waiting)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelops.metrics import NOTIFICATIONS
from modelops.notify.delivery import Notifier, Retries
from modelops.notify.payloads import json_payload, notifications_for, slack_payload
from modelops.notify.receivers import (
    KINDS,
    Format,
    ReceiversError,
    parse_config_map,
    parse_flag,
)
from modelops.notify.receivers import (
    Receiver as Receives,
)
from modelops.rollout.events import Event
from modelops.rollout.transitions import Commands
from tests.support.cluster import wait_until
from tests.support.receiver import Receiver, receiving
from tests.support.rollout import deployed, ready, spec, tick

AT = datetime(2026, 12, 1, 21, 0, 0, 123456, tzinfo=UTC)
BODY = {"metadata": {"namespace": "ml", "name": "chat"}, "spec": {"model": {"version": "2.0.0"}}}
STATUS = {"stableVersion": "1.0.0", "canaryWeight": 50, "currentStep": 1}


def test_a_flag_names_the_receiver_its_format_and_events(tmp_path: Path) -> None:
    assert parse_flag("ops", tmp_path) == Receives("ops", url_file=tmp_path / "ops")
    slack = parse_flag("team:slack:Promoted,RolledBack", tmp_path)
    assert (slack.format, slack.events) == (Format.SLACK, frozenset({"Promoted", "RolledBack"}))
    for bad in ("", ":slack", "a:xml", "a:json:Deleted", "../etc"):
        with pytest.raises(ReceiversError):
            parse_flag(bad, tmp_path)


def test_an_operator_receiver_reads_its_url_at_each_delivery(tmp_path: Path) -> None:
    receiver = parse_flag("ops", tmp_path)
    with pytest.raises(ReceiversError, match="cannot read"):
        receiver.address()
    (tmp_path / "ops").write_text("https://hooks.example/one\n")
    assert receiver.address() == "https://hooks.example/one"
    (tmp_path / "ops").write_text("https://hooks.example/two")  # a rotated Secret
    assert receiver.address() == "https://hooks.example/two"
    (tmp_path / "ops").write_text("s3cret-token")
    with pytest.raises(ReceiversError) as raised:
        receiver.address()
    assert "s3cret" not in str(raised.value)


def test_a_config_map_lists_receivers() -> None:
    text = (
        "- {name: relay, url: 'http://relay.ml:8080/hook'}\n"
        "- {name: chat, url: 'https://chat.example/hook', format: slack, events: [RolledBack]}\n"
    )
    relay, chat = parse_config_map({"receivers.yaml": text}, "ConfigMap ml/hooks")
    assert (relay.name, relay.format, relay.events) == ("relay", Format.JSON, KINDS)
    assert (chat.format, chat.events, chat.url) == (
        Format.SLACK,
        frozenset({"RolledBack"}),
        "https://chat.example/hook",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "has no key receivers.yaml"),
        ({"receivers.yaml": "a: b"}, "must be a list"),
        ({"receivers.yaml": "- {name: x, url: 'ftp://x'}"}, "must start with http"),
        ({"receivers.yaml": "- {name: x, url: 'http://x', events: [Nope]}"}, "unknown events"),
        ({"receivers.yaml": "- {name: x, url: 'http://x', token: y}"}, "unknown fields"),
    ],
)
def test_a_bad_config_map_says_why(data: dict[str, str], message: str) -> None:
    with pytest.raises(ReceiversError, match=message):
        parse_config_map(data, "ConfigMap ml/hooks")


def test_only_the_rollouts_milestones_notify_with_the_events_time_and_state() -> None:
    events = [
        Event("Normal", "StepAdvanced", "step 2/2: 50%"),
        Event("Normal", "Progressing", "not notified"),
        Event("Warning", "RolledBack", "rolled back 2.0.0: errors"),
    ]
    step, back = notifications_for(events, BODY, STATUS, AT)
    assert json_payload(step) == {
        "kind": "StepAdvanced",
        "type": "Normal",
        "message": "step 2/2: 50%",
        "modelService": {"namespace": "ml", "name": "chat"},
        "version": "2.0.0",
        "stableVersion": "1.0.0",
        "canaryWeight": 50,
        "step": 2,
        "time": "2026-12-01T21:00:00.123456+00:00",
    }
    assert slack_payload(back) == {
        "text": ":rotating_light: *ml/chat* RolledBack: rolled back 2.0.0: errors"
    }
    started = notifications_for([Event("Normal", "RolloutStarted", "m")], BODY, {}, AT)
    assert [(n.kind, n.step) for n in started] == [("Started", None)]


def test_a_pause_posts_one_paused_event_when_it_begins() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), ready(new, desired=1), at=0)
    held = tick(
        new, step.status, ready(old), ready(new, desired=1), at=5, commands=Commands(pause=True)
    )
    again = tick(
        new, held.status, ready(old), ready(new, desired=1), at=6, commands=Commands(pause=True)
    )
    assert [e.reason for e in held.events] == ["Paused"]
    assert "Paused" not in [e.reason for e in again.events]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def counted(result: str) -> float:
    return NOTIFICATIONS.labels(result)._value.get()


def notes(*reasons: str) -> list[Any]:
    return notifications_for([Event("Normal", r, r) for r in reasons], BODY, STATUS, AT)


FAST = Retries(attempts=3, first_delay=0.01, timeout=5)


def test_delivery_retries_5xx_and_keeps_the_order(receiver: Receiver) -> None:
    receiver.codes["/hook"] = [503, 500]  # the first notification needs three tries
    notifier = Notifier([Receives("ops", url=receiver.url + "/hook")], lambda ns, name: None, FAST)
    delivered = counted("delivered")
    notifier.start()
    try:
        notifier.notify(notes("RolloutStarted", "StepAdvanced"), None)
        notifier.notify(notes("Promoted"), None)
        wait_until(
            lambda: len(receiver.received) == 3, 10, message=f"3 received: {receiver.received}"
        )
    finally:
        notifier.stop()
    assert [g["kind"] for g in receiver.delivered("/hook")] == [
        "Started",
        "StepAdvanced",
        "Promoted",
    ]
    assert counted("delivered") - delivered == 3


def test_a_4xx_fails_at_once_and_a_reconcile_never_waits(receiver: Receiver) -> None:
    receiver.codes["/hook"] = [404]
    receiver.gate.clear()  # the receiver holds its answers
    notifier = Notifier([Receives("ops", url=receiver.url + "/hook")], lambda ns, name: None, FAST)
    failed = counted("failed")
    notifier.start()
    try:
        notifier.notify(notes("RolloutStarted"), None)  # returns with the receiver still holding
        assert receiver.received == []
        receiver.gate.set()
        wait_until(lambda: counted("failed") - failed == 1, 10, message="one failure counted")
    finally:
        notifier.stop()
    assert receiver.received == []  # not retried


def test_a_modelservices_config_map_adds_receivers_filtered_by_event(
    receiver: Receiver,
) -> None:
    maps = {
        ("ml", "hooks"): {
            "receivers.yaml": f"- {{name: t, url: '{receiver.url}/hook', format: slack, "
            "events: [RolledBack]}"
        }
    }
    notifier = Notifier([], lambda ns, name: maps.get((ns, name)), FAST)
    failed = counted("failed")
    notifier.start()
    try:
        notifier.notify(notes("RolloutStarted", "RolledBack"), "hooks")
        notifier.notify(notes("RolledBack"), "missing")  # counted as failed, logged
        wait_until(lambda: len(receiver.received) == 1, 10, message="the rollback received")
        wait_until(lambda: counted("failed") - failed == 1, 10, message="the missing one")
    finally:
        notifier.stop()
    assert receiver.delivered("/hook") == [
        {"text": ":rotating_light: *ml/chat* RolledBack: RolledBack"}
    ]

"""What is posted: one notification per notifying Event, as generic JSON or Slack text."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.notify.receivers import NOTIFIED, Format
from modelops.rollout.events import Event

# Slack's mrkdwn: an emoji per kind, so a channel reads at a glance.
_ICONS = {
    "Started": ":rocket:",
    "StepAdvanced": ":arrow_forward:",
    "Switched": ":twisted_rightwards_arrows:",
    "Paused": ":double_vertical_bar:",
    "Promoted": ":white_check_mark:",
    "RolledBack": ":rotating_light:",
}


@dataclass(frozen=True)
class Notification:
    kind: str  # Started | StepAdvanced | Switched | Paused | Promoted | RolledBack
    type: str  # the Event's: Normal | Warning
    message: str  # the Event's
    namespace: str
    name: str
    version: str | None  # the version the spec rolls out
    stable_version: str | None
    canary_weight: int | None
    step: int | None  # 1-based
    time: datetime  # the Event's time, to the microsecond


def notifications_for(
    events: list[Event], body: dict[str, Any], status: dict[str, Any], at: datetime
) -> list[Notification]:
    """The notifications of a reconcile's Events (``at``: the time the Events carry), with
    the ModelService's state from the status that reconcile computed."""
    meta = body["metadata"]
    model = (body.get("spec") or {}).get("model") or {}
    step = status.get("currentStep")
    return [
        Notification(
            kind=NOTIFIED[event.reason],
            type=event.type,
            message=event.message,
            namespace=meta["namespace"],
            name=meta["name"],
            version=model.get("version"),
            stable_version=status.get("stableVersion"),
            canary_weight=status.get("canaryWeight"),
            step=None if step is None else int(step) + 1,
            time=at,
        )
        for event in events
        if event.reason in NOTIFIED
    ]


def json_payload(note: Notification) -> dict[str, Any]:
    return {
        "kind": note.kind,
        "type": note.type,
        "message": note.message,
        "modelService": {"namespace": note.namespace, "name": note.name},
        "version": note.version,
        "stableVersion": note.stable_version,
        "canaryWeight": note.canary_weight,
        "step": note.step,
        "time": note.time.isoformat(),
    }


def slack_payload(note: Notification) -> dict[str, Any]:
    """Slack's incoming-webhook shape (``text``), which Mattermost and Rocket.Chat take too."""
    icon = _ICONS[note.kind]
    text = f"{icon} *{note.namespace}/{note.name}* {note.kind}: {note.message}"
    return {"text": text}


def payload(note: Notification, fmt: Format) -> dict[str, Any]:
    return slack_payload(note) if fmt is Format.SLACK else json_payload(note)

"""Kubernetes Events for a ModelService, posted right after the status they explain.

Posted by the reconcile itself rather than through kopf's posting queue: that queue is one
sequence for all objects, and its retries for a namespace being deleted held every other
Event back for seconds (and lost them when the process died meanwhile). An Event is best
effort: a failure is logged, never retried into a backlog, never fails the reconcile.
"""

import logging
import socket
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelops.api import GROUP, KIND, VERSION
from modelops.api.base import k8s_time
from modelops.kube.client import Kube
from modelops.rollout.events import Event

COMPONENT = "modelops"
MESSAGE_LIMIT = 1024
log = logging.getLogger("modelops.events")


def event_manifest(owner: dict[str, Any], event: Event, now: datetime) -> dict[str, Any]:
    meta = owner["metadata"]
    stamp = k8s_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "type": event.type,
        "reason": event.reason,
        "message": event.message[:MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def post_events(
    kube: Kube, owner: dict[str, Any], events: list[Event], now: datetime | None = None
) -> None:
    """``now``: the Events' time (the notifications of the same Events carry it too)."""
    now = now or datetime.now(UTC)
    for event in events:
        try:
            kube.create(event_manifest(owner, event, now))
        except ApiException as error:
            log.warning(
                "could not post Event %s for %s/%s: %s %s",
                event.reason,
                owner["metadata"]["namespace"],
                owner["metadata"]["name"],
                error.status,
                error.reason,
            )

"""When something first happened to a kind of object, seen through a watch started before it:
the moment a gate's Job failed, or a canary's Deployment was deleted. A watch sees an object
the operator removes again within a second, which polling (a kubectl call is a few hundred
milliseconds here) could miss or see late."""

import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, config, watch

from tests.support.cluster import Cluster

# (event type, the object as a dict) -> it happened
Happened = Callable[[str, dict[str, Any]], bool]


class FirstMoment:
    """``kind``: "jobs" or "deployments" (the two the gate tests watch)."""

    def __init__(
        self, cluster: Cluster, kind: str, namespace: str, selector: str, happened: Happened
    ) -> None:
        self.at: float | None = None
        api = config.new_client_from_config(config_file=cluster.kubeconfig)
        lister = {
            "jobs": client.BatchV1Api(api).list_namespaced_job,
            "deployments": client.AppsV1Api(api).list_namespaced_deployment,
        }[kind]
        self._api = api
        self._watch = watch.Watch()
        self._stream = self._watch.stream(
            lister, namespace, label_selector=selector, timeout_seconds=600
        )
        self._happened = happened
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._stream:
            body = self._api.sanitize_for_serialization(event["object"])
            if self.at is None and self._happened(event["type"], body):
                self.at = time.monotonic()
                self._watch.stop()

    def stop(self) -> None:
        self._watch.stop()


def job_failed(_: str, job: dict[str, Any]) -> bool:
    return int((job.get("status") or {}).get("failed") or 0) > 0


def deleted(kind: str, _: dict[str, Any]) -> bool:
    return kind == "DELETED"

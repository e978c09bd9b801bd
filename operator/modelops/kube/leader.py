"""Leader election over a ``coordination.k8s.io`` Lease, for more than one operator replica:
only the holder reconciles; the others wait, watching nothing but the Lease.

The Kubernetes client's own ``leaderelection`` package does the election (client-go's
algorithm: the holder renews every ``retry`` seconds; a follower takes over once the record has
not changed for ``lease_seconds``). Added here:

- a graceful stop hands the Lease over at once (client-go's ReleaseOnCancel), so a rolling
  update or a drained node costs the standby one retry, not a whole lease;
- a holder that could not renew in time stops acting by stopping the process, as
  kube-controller-manager does: its caches and in-flight work cannot be trusted once another
  replica may hold the Lease, and Kubernetes restarts it as a follower.
"""

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger("modelops.leader")
# The library logs every retry of a follower ("yet to finish lease_duration ...") at INFO.
logging.getLogger("leaderelection").setLevel(logging.WARNING)

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace(default: str = "modelops-system") -> str:
    """The namespace this pod runs in (its service account's), or ``default`` off-cluster."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as found:
            return found.read().strip() or default
    except OSError:
        return default


class _ReleasableLease(LeaseLock):
    """A LeaseLock that stops taking or renewing the Lease once the process is stopping."""

    def __init__(self, name: str, namespace: str, identity: str) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.stopping = threading.Event()

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        if self.stopping.is_set():
            return False
        return bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        if self.stopping.is_set():
            return False
        return bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]


class Leadership:
    def __init__(
        self,
        name: str,
        namespace: str,
        lease_seconds: int,
        on_started: Callable[[], None],
    ) -> None:
        self.identity = f"{socket.gethostname()}-{os.getpid()}"
        self.leading = threading.Event()
        self._lock = _ReleasableLease(name, namespace, self.identity)
        # client-go's proportions (15 s lease, 10 s renew deadline, 2 s retry), scaled.
        renew = max(2, lease_seconds * 2 // 3)
        retry = max(1, min(2, renew // 3))
        self._config = electionconfig.Config(  # type: ignore[no-untyped-call]
            self._lock,
            lease_duration=lease_seconds,
            renew_deadline=renew,
            retry_period=retry,
            onstarted_leading=self._started(on_started),
            onstopped_leading=self._stopped,
        )
        self.name, self.namespace = name, namespace

    def start(self) -> None:
        log.info("waiting for the Lease %s/%s as %s", self.namespace, self.name, self.identity)
        election = leaderelection.LeaderElection(self._config)  # type: ignore[no-untyped-call]
        threading.Thread(target=election.run, name="leader-election", daemon=True).start()

    def _started(self, on_started: Callable[[], None]) -> Callable[[], None]:
        def started() -> None:
            self.leading.set()
            log.info("holding the Lease %s/%s: this replica reconciles", self.namespace, self.name)
            on_started()

        return started

    def _stopped(self) -> None:
        if self._lock.stopping.is_set():
            return
        log.error(
            "lost the Lease %s/%s (not renewed in time): stopping, to come back as a follower",
            self.namespace,
            self.name,
        )
        self.leading.clear()
        os.kill(os.getpid(), signal.SIGTERM)

    def release(self) -> None:
        """At a graceful stop: no more renewals, and the Lease handed over if still ours."""
        self._lock.stopping.set()
        if not self.leading.is_set():
            return
        api = self._lock.api_instance
        try:
            lease = api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            # No holder: a follower takes it at its next retry. resourceVersion guards the
            # write: a Lease someone else took meanwhile is left alone (409).
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            api.replace_namespaced_lease(self.name, self.namespace, lease)
            log.info("released the Lease %s/%s", self.namespace, self.name)
        except ApiException as error:
            log.warning("could not release the Lease: %s %s", error.status, error.reason)

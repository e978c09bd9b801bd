"""The controller: every event, whatever its kind, wakes one level-based reconcile of the
ModelService it concerns (modelops.controller.reconcile).

The operator's own watches (modelops.kube.cache: ModelServices, and children label-selected on
the server) feed a cache the reconcile reads from and wake it, on a pool of threads: no GET per
child per wake, no cluster-wide pod watch filtered on the client, and no kopf bookkeeping per
ModelService event. With leader election the cache starts only once this replica holds the
Lease (modelops.kube.leader): a follower watches nothing but the Lease.

Every failure of a reconcile ends here, in ``reconcile_key``: a ``Reconciled=False`` condition
with reason ``ReconcileError`` and the error in status, a Warning Event when that message is
new, and a retry after a backoff that doubles up to a cap and goes on for as long as the
failure does. The next successful reconcile removes the condition.

Nothing starts before ``start``: constructing a Controller makes no thread and no request.
"""

import logging
import threading
import time
from collections.abc import Hashable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from kubernetes.client.exceptions import ApiException

from modelops.api import KIND
from modelops.api.base import k8s_time
from modelops.controller.coalesce import Coalescer
from modelops.controller.config import OperatorConfig
from modelops.controller.gates import GateRunner
from modelops.controller.reconcile import (
    RECONCILE_ERROR,
    ReconcileResult,
    describe_error,
    holds_slot,
    previous_status,
    reconcile,
    record_failure,
)
from modelops.controller.sampler import Sampler
from modelops.controller.slots import RolloutSlots
from modelops.controller.timers import Backoff, Timers
from modelops.controller.wakequeue import WakeQueue
from modelops.health.analysis import sample_fails
from modelops.kube.cache import CachedKube
from modelops.kube.client import Kube, NamespaceTerminatingError
from modelops.kube.events import post_events
from modelops.kube.leader import Leadership
from modelops.metrics import (
    CANARY_WEIGHT,
    MANAGED,
    RECONCILE_SECONDS,
    RECONCILES,
    ROLLOUTS,
    forget,
    set_phase,
)
from modelops.notify.delivery import Notifier
from modelops.notify.payloads import notifications_for
from modelops.rollout.events import Event
from modelops.rollout.gate_io import GateOutcome

# What the operator did, one line per reconcile that changed something.
log = logging.getLogger("modelops.reconcile")

Key = tuple[str, str]  # (namespace, ModelService name)


def rollouts_in_flight(kube: Kube, namespaces: list[str | None]) -> list[Key]:
    """(namespace, name) of every ModelService whose status says a canary is under way."""
    found = []
    for namespace in namespaces:
        for item in kube.list_all(KIND, namespace):
            if holds_slot(previous_status(item)):
                found.append((item["metadata"]["namespace"], item["metadata"]["name"]))
    return found


# How long a ModelService in a namespace being deleted waits before it is reconciled again.
TERMINATING_PAUSE_SECONDS = 60.0


def notifications_config_map(done: ReconcileResult) -> str | None:
    """The ConfigMap of the ModelService's own notification receivers, if it names one."""
    rollout = done.spec.rollout if done.spec is not None else None
    chosen = rollout.notifications if rollout is not None else None
    return chosen.config_map if chosen is not None else None


class Controller:
    """The watch cache, the wake queue, timers, retries, sampling and rollout slots around
    one reconcile per ModelService (controller-runtime's manager and Reconciler in one)."""

    def __init__(self, config: OperatorConfig, kube: Kube) -> None:
        self.config = config
        self._api = kube  # uncached: the start-up reads, and the cache's own lists and watches
        self.kube = kube  # what reconciles read through: the cache once started
        self.queue = WakeQueue(workers=config.workers)
        self.coalescer = Coalescer()
        self.timers = Timers()
        self.retries = Backoff(first=config.retry_first_seconds, limit=config.retry_limit_seconds)
        self.slots = RolloutSlots(config.max_concurrent_rollouts)
        self.sampler = Sampler()
        self.notifier = Notifier(list(config.notify), self._read_config_map)
        self.gates = GateRunner()
        self.leadership: Leadership | None = None
        self._seen_lock = threading.Lock()
        self._seen: set[Key] = set()
        # Namespace -> monotonic time until which its ModelServices are not reconciled.
        self._terminating: dict[str, float] = {}

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        """Watch and reconcile now, or once this replica holds the Lease."""
        if self.config.leader_elect:
            self.leadership = Leadership(
                self.config.lease_name,
                self.config.lease_namespace,
                self.config.lease_seconds,
                on_started=self._lead,
            )
            self.leadership.start()
        else:
            self._lead()

    def stop(self) -> None:
        """A graceful stop (SIGTERM: a rolling update, a drain) hands the Lease over now."""
        if self.leadership is not None:
            self.leadership.release()
        self.notifier.stop()

    def _lead(self) -> None:
        watched: list[str | None] = list(self.config.namespaces) or [None]
        # Rollouts already under way hold their slots before any wake can claim one (the
        # cache starts waking reconciles as soon as it has listed).
        if self.slots.limit:
            self.slots.seed(rollouts_in_flight(self._api, watched))
        cache = CachedKube(self._api, list(self.config.namespaces) or None, self.wake)
        self.kube = cache
        self.notifier.start()  # before any reconcile: none of their notifications is lost
        self.queue.start()
        cache.start()

    # -- waking -----------------------------------------------------------------------------

    def wake(self, namespace: str, name: str) -> None:
        """Queue a reconcile on the pool (from a watch thread or a timer: never run it there)."""
        key = (namespace, name)
        with self._seen_lock:
            known = key in self._seen
        self.queue.wake(key, partial(self.reconcile_key, namespace, name), known=known)

    def _wake_all(self, keys: list[Hashable]) -> None:
        """Queued rollouts a freed slot may start: reconciled now, not at their next timer."""
        for key in keys:
            namespace, name = cast(Key, key)
            self.wake(namespace, name)

    def _remember(self, key: Key, present: bool) -> None:
        with self._seen_lock:
            if present:
                self._seen.add(key)
            else:
                self._seen.discard(key)
            MANAGED.set(len(self._seen))

    # -- one reconcile ------------------------------------------------------------------------

    def reconcile_key(self, namespace: str, name: str) -> None:
        """Reconcile one ModelService (what the queue's workers run). The one place where a
        reconcile's failure is caught, reported and retried, whatever called."""
        key = (namespace, name)
        try:
            self.coalescer.run(key, partial(self._reconcile_once, namespace, name))
        except Exception as error:  # any failure: reported in status, retried with backoff
            delay = self.retries.failed(key)
            message = describe_error(error)
            log.warning(
                "reconcile of %s/%s failed, retrying in %.0fs: %s", namespace, name, delay, message
            )
            self._report_failure(namespace, name, message)
            # Left to the caller, a failure in a timer's or a pool's thread would be printed
            # and the rollout would stall until some watch event happened to wake it.
            self.timers.schedule(key, delay, partial(self.wake, namespace, name))
        else:
            self.retries.succeeded(key)

    def _report_failure(self, namespace: str, name: str, message: str) -> None:
        """The condition in status, and a Warning Event when the condition changed (the same
        failure again writes and posts nothing)."""
        try:
            body = self.kube.get(KIND, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            if record_failure(self.kube, body, message, k8s_time(datetime.now(UTC))):
                post_events(self.kube, body, [Event("Warning", RECONCILE_ERROR, message)])
        except Exception as error:  # the API server may be what failed; the retry goes on
            log.warning(
                "could not report the failure of %s/%s: %s",
                namespace,
                name,
                describe_error(error),
            )

    def _reconcile_once(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        body = self.kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._remember(key, present=False)
            self.timers.cancel(key)
            self._drop_rollout(key)
            forget(namespace, name)
            return
        self._remember(key, present=True)
        paused = self._terminating.get(namespace, 0.0) - time.monotonic()
        if paused > 0:
            RECONCILES.labels("namespace-terminating").inc()
            # Looked at again after the pause: the namespace may be made anew by then.
            self.timers.schedule(key, paused, partial(self.wake, namespace, name))
            return
        started = time.perf_counter()
        result = "error"
        try:
            done = reconcile(
                self.kube,
                body,
                self.config.sidecar_image,
                self.slots,
                sampled_failure=self.sampler.take_failure(key),
                gate_outcomes=self.gates.outcomes(key),
            )
            result = "changed" if done.applied or done.deleted else "unchanged"
        except NamespaceTerminatingError:
            # The namespace controller is removing children and owner alike: do not fight it,
            # and free its rollout slot now rather than when the namespace is finally gone.
            result = "namespace-terminating"
            self._drop_rollout(key)
            # Every child the namespace controller deletes wakes its owner, whose apply is
            # refused again (5,155 refused applies while a namespace of 1,000 was deleted
            # under load). Its ModelServices wait out a pause, then are tried again: the
            # namespace may be gone and made anew under the same name by then.
            self._terminating[namespace] = time.monotonic() + TERMINATING_PAUSE_SECONDS
            return
        except ApiException as error:
            if error.status != 404:
                raise
            # Deleted while we worked on it; its deletion event ends the story.
            result = "gone"
            return
        finally:
            RECONCILES.labels(result).inc()
            RECONCILE_SECONDS.labels(result).observe(time.perf_counter() - started)
        self._act_on(body, done)

    def _act_on(self, body: dict[str, Any], done: ReconcileResult) -> None:
        """What a reconcile leaves to the controller: timers, queued rollouts, sampling,
        metrics, Events and one log line."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        key = (namespace, name)
        if done.wake_after is not None:
            self.timers.schedule(key, done.wake_after, partial(self.wake, namespace, name))
        self._wake_all(done.wake)
        self._sample(key, done)
        self._run_gates(body, done)
        status = done.status or {}
        CANARY_WEIGHT.labels(namespace, name).set(status.get("canaryWeight") or 0)
        set_phase(namespace, name, status.get("phase"))
        for event in done.events:
            if event.reason in {"Promoted", "RolledBack"}:
                ROLLOUTS.labels(event.reason).inc()
        # One time for the Events and their notifications: the two never disagree.
        now = datetime.now(UTC)
        post_events(self.kube, body, done.events, now)
        self.notifier.notify(
            notifications_for(done.events, body, status, now), notifications_config_map(done)
        )
        if done.applied or done.deleted or done.status_written:
            log.info(
                "reconciled %s/%s: phase=%s applied=%s deleted=%s conflicts=%s",
                namespace,
                name,
                done.phase,
                done.applied,
                done.deleted,
                done.conflicts,
            )

    def _read_config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ModelService's receivers ConfigMap (not one of its children: asked of the API
        server, from the notifier's thread, never from a reconcile)."""
        found = self._api.get("ConfigMap", namespace, name)
        return None if found is None else dict(found.get("data") or {})

    def _sample(self, key: Key, done: ReconcileResult) -> None:
        """Sample the canary's metrics between analysis runs while the reconcile asks for it."""
        if done.sample_every is None or done.spec is None:
            self.sampler.forget(key)
            return
        namespace, name = key
        self.sampler.watch(
            key,
            done.sample_every,
            fails=partial(sample_fails, done.spec, namespace, name),
            wake=partial(self.wake, namespace, name),
        )

    def _run_gates(self, body: dict[str, Any], done: ReconcileResult) -> None:
        """The gate runs the rollout wants in flight, on their own threads; a finished one
        wakes the reconcile. A post-rollout webhook's answer becomes an Event."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        self.gates.sync((namespace, name), done.gate_calls, partial(self.wake, namespace, name))
        for id_, call in done.post_calls.items():
            self.gates.fire(id_, call, partial(self._posted, body, id_))

    def _posted(self, body: dict[str, Any], id_: str, outcome: GateOutcome) -> None:
        gate = id_.split("/", 1)[1].split("@", 1)[0]
        kind, reason = ("Normal", "GatePassed") if outcome.passed else ("Warning", "GateFailed")
        message = f"post-rollout webhook {gate}: {outcome.message}"
        try:
            post_events(self.kube, body, [Event(kind, reason, message)])
        except Exception as error:  # an Event is news, not state: never kill the thread
            log.warning("could not post %s: %s", message, describe_error(error))

    def _drop_rollout(self, key: Key) -> None:
        """A ModelService going away: no more sampling, its gates end, and its rollout slot
        (if any) freed for the head of the line."""
        self.sampler.forget(key)
        self.gates.forget(key)
        self._wake_all(self.slots.forget(key))

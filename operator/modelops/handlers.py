"""kopf handlers: a thin shell. Every event, whatever its kind, wakes one level-based reconcile
of the ModelService it concerns (modelops.reconcile).

The operator's own watches (modelops.kube.cache: ModelServices, and children label-selected on
the server) feed a cache the reconcile reads from and wake it, on a pool of threads: no GET per
child per wake, no cluster-wide pod watch filtered on the client, and no kopf bookkeeping per
ModelService event. kopf runs the process (start-up, clean-up, signals) but no resource
handler. With ``--leader-elect`` the cache starts only once this replica holds the Lease
(modelops.kube.leader): a follower watches nothing but the Lease.
"""

import logging
import time
from collections.abc import Hashable
from functools import partial
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException

from modelops.api import KIND
from modelops.coalesce import Coalescer
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
from modelops.reconcile import Outcome, holds_slot, previous_status, reconcile
from modelops.sampler import Sampler
from modelops.slots import RolloutSlots
from modelops.wakequeue import WakeQueue
from modelops.waker import Backoff, Waker

# What the operator did, one line per reconcile that changed something (kopf's own per-object
# logger is quiet unless --verbose).
log = logging.getLogger("modelops.reconcile")
_coalescer = Coalescer()
_waker = Waker()
_queue = WakeQueue(workers=16)
# A reconcile that failed (the API server or etcd away, a timeout) is tried again after this.
_retries = Backoff(first=1.0, limit=30.0)
_slots = RolloutSlots(0)
_sampler = Sampler()
_seen: set[tuple[str, str]] = set()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our Events are posted by the reconcile (modelops.kube.events); kopf posts none.
    settings.posting.enabled = False
    settings.networking.request_timeout = 30
    # With --namespace the operator runs on a Role (manifests/overlays/namespaced): it may not
    # list namespaces or watch CRDs, and kopf, told so, takes the namespaces as exact names and
    # the CRDs from one discovery at start instead of retrying those reads for a minute.
    if getattr(memo, "namespaced", False):
        settings.scanning.disabled = True
    kube = Kube.from_environment()
    watched: list[str] = list(getattr(memo, "namespaces", None) or [])  # empty: all of them
    _slots.limit = int(getattr(memo, "max_concurrent_rollouts", 0) or 0)

    def act() -> None:
        # Rollouts already under way hold their slots before any wake can claim one (the cache
        # starts waking reconciles as soon as it has listed).
        if _slots.limit:
            _slots.seed(rollouts_in_flight(kube, [*watched] or [None]))
        cached = CachedKube(
            kube,
            watched or None,
            lambda namespace, name: _wake(cached, namespace, name, memo.gateway_image),
        )
        cached.start()

    memo.leadership = None
    if getattr(memo, "leader_elect", False):
        memo.leadership = Leadership(
            memo.lease_name, memo.lease_namespace, int(memo.lease_duration), on_started=act
        )
        memo.leadership.start()
    else:
        act()


@kopf.on.cleanup()
def hand_over(memo: kopf.Memo, **_: Any) -> None:
    """A graceful stop (SIGTERM: a rolling update, a drain) hands the Lease to a follower now."""
    leadership: Leadership | None = getattr(memo, "leadership", None)
    if leadership is not None:
        leadership.release()


def rollouts_in_flight(kube: Kube, namespaces: list[str | None]) -> list[tuple[str, str]]:
    """(namespace, name) of every ModelService whose status says a canary is under way."""
    found = []
    for namespace in namespaces:
        for item in kube.list_all(KIND, namespace):
            if holds_slot(previous_status(item)):
                found.append((item["metadata"]["namespace"], item["metadata"]["name"]))
    return found


def _reconcile_by_name(kube: Kube, namespace: str, name: str, gateway_image: str) -> None:
    def once() -> None:
        body = kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            _seen.discard((namespace, name))
            MANAGED.set(len(_seen))
            _waker.cancel((namespace, name))
            _drop_rollout(kube, namespace, name, gateway_image)
            forget(namespace, name)
            return
        _seen.add((namespace, name))
        MANAGED.set(len(_seen))
        started = time.perf_counter()
        result = "error"
        try:
            sampled_failure = _sampler.take_failure((namespace, name))
            outcome = reconcile(kube, body, gateway_image, _slots, sampled_failure=sampled_failure)
            result = "changed" if outcome.applied or outcome.deleted else "unchanged"
        except NamespaceTerminatingError:
            # The namespace controller is removing children and owner alike: do not fight it,
            # and free its rollout slot now rather than when the namespace is finally gone.
            result = "namespace-terminating"
            _drop_rollout(kube, namespace, name, gateway_image)
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
        _act_on(kube, body, outcome, gateway_image)

    key = (namespace, name)
    try:
        _coalescer.run(key, once)
    except Exception as error:
        # Retried here with a backoff, whoever called: left to the caller, a failure in a
        # timer's or a pool's thread would be printed and the rollout would stall until some
        # watch event happened to wake it (a canary that holds still has none).
        delay = _retries.failed(key)
        log.warning(
            "reconcile of %s/%s failed, retrying in %.0fs: %s: %s",
            namespace,
            name,
            delay,
            type(error).__name__,
            error,
        )
        _waker.schedule(key, delay, lambda: _wake(kube, namespace, name, gateway_image))
    else:
        _retries.succeeded(key)


def _act_on(kube: Kube, body: dict[str, Any], outcome: Outcome, gateway_image: str) -> None:
    """What a reconcile leaves to the shell: timers, queued rollouts, sampling, metrics,
    Events and one log line."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    if outcome.wake_after is not None:
        _waker.schedule(
            (namespace, name),
            outcome.wake_after,
            lambda: _wake(kube, namespace, name, gateway_image),
        )
    _wake_queued(kube, outcome.wake, gateway_image)
    _sample(kube, namespace, name, outcome, gateway_image)
    status = outcome.status or {}
    CANARY_WEIGHT.labels(namespace, name).set(status.get("canaryWeight") or 0)
    set_phase(namespace, name, status.get("phase"))
    for event in outcome.events:
        if event.reason in {"Promoted", "RolledBack"}:
            ROLLOUTS.labels(event.reason).inc()
    post_events(kube, body, outcome.events)
    if outcome.applied or outcome.deleted or outcome.status_written:
        log.info(
            "reconciled %s/%s: phase=%s applied=%s deleted=%s conflicts=%s",
            namespace,
            name,
            outcome.phase,
            outcome.applied,
            outcome.deleted,
            outcome.conflicts,
        )


def _sample(kube: Kube, namespace: str, name: str, outcome: Outcome, gateway_image: str) -> None:
    """Sample the canary's metrics between analysis runs while the reconcile asks for it."""
    if outcome.sample_every is None or outcome.spec is None:
        _sampler.forget((namespace, name))
        return
    _sampler.watch(
        (namespace, name),
        outcome.sample_every,
        fails=partial(sample_fails, outcome.spec, namespace, name),
        wake=partial(_wake, kube, namespace, name, gateway_image),
    )


def _drop_rollout(kube: Kube, namespace: str, name: str, gateway_image: str) -> None:
    """A ModelService going away: no more sampling, and its rollout slot (if any) freed for
    the head of the line."""
    _sampler.forget((namespace, name))
    _wake_queued(kube, _slots.forget((namespace, name)), gateway_image)


def _wake_queued(kube: Kube, keys: list[Hashable], gateway_image: str) -> None:
    """Queued rollouts a freed slot may start: reconciled now, not at their next timer."""
    for key in keys:
        namespace, name = cast(tuple[str, str], key)
        _wake(kube, namespace, name, gateway_image)


def _wake(kube: Kube, namespace: str, name: str, gateway_image: str) -> None:
    """Queue a reconcile on the pool (from a watch thread or a timer: never run it there);
    _reconcile_by_name retries its own failures."""
    work = partial(_reconcile_by_name, kube, namespace, name, gateway_image)
    _queue.wake((namespace, name), work, known=(namespace, name) in _seen)

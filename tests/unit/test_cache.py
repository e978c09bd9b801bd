"""The watch cache's store: newer versions win, our own writes are not undone by late watch
events, deletes leave a tombstone, and pods are found by owner and labels."""

import threading
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelops.controller.wakequeue import WakeQueue
from modelops.kube.cache import CachedKube, Store
from modelops.kube.client import Kube


def pod(name: str, version: int, owner: str = "svc", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(version),
            "labels": {"app.kubernetes.io/instance": owner, **labels},
            "managedFields": [{"manager": "kwok"}],
        },
        "spec": {"containers": []},
        "status": {"phase": "Running"},
    }


def test_only_a_newer_version_replaces_what_is_held() -> None:
    store = Store("Pod")
    assert store.put(pod("a", 5))
    assert not store.put(pod("a", 5))  # the echo of our own write wakes nothing
    assert not store.put(pod("a", 4))  # a late event does not put an older object back
    assert store.put(pod("a", 6))
    assert store.get(("ns", "a"))["metadata"]["resourceVersion"] == "6"


def test_pods_are_kept_trimmed_to_metadata_and_status() -> None:
    store = Store("Pod")
    store.put(pod("a", 1))
    held = store.get(("ns", "a"))
    assert held == {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {"app.kubernetes.io/instance": "svc"},
        },
        "status": {"phase": "Running"},
    }


def test_a_delete_leaves_a_tombstone_until_a_newer_object() -> None:
    store = Store("Pod")
    store.put(pod("a", 5))
    assert store.remove(("ns", "a"), 7)
    assert store.get(("ns", "a")) is None
    assert not store.put(pod("a", 6))  # a MODIFIED event from before the delete
    assert store.put(pod("a", 8))  # created again
    assert store.owned("ns", "svc") == [store.get(("ns", "a"))]


def test_owned_follows_label_changes() -> None:
    store = Store("Pod")
    store.put(pod("a", 1, owner="one"))
    store.put(pod("b", 1, owner="one"))
    store.put(pod("a", 2, owner="two"))
    assert [p["metadata"]["name"] for p in store.owned("ns", "one")] == ["b"]
    assert [p["metadata"]["name"] for p in store.owned("ns", "two")] == ["a"]


def synced_cache(
    objects: dict[str, dict[str, Any]], gets: list[str], foreign: bool = False
) -> CachedKube:
    """A CachedKube with no informers (so every store counts as synced) whose API requests
    are answered from ``objects`` by path, and recorded in ``gets``; ``foreign``: with the
    stores of someone else's objects (else a wanted child missing from the cache is asked
    of the API server, as before those watches have listed)."""
    cache = CachedKube.__new__(CachedKube)
    cache.stores = {kind: Store(kind) for kind in ("Pod", "Deployment", "ConfigMap")}
    kinds = ("Deployment", "ConfigMap") if foreign else ()
    cache.foreign = {kind: Store(kind, foreign=True) for kind in kinds}
    cache.informers = []

    def call(method: str, path: str, *_: Any, **__: Any) -> Any:
        gets.append(path.rsplit("/", 1)[1])
        if path not in objects:
            raise ApiException(status=404)
        return objects[path]

    cache._call = call  # type: ignore[method-assign]
    return cache


def test_lookup_asks_the_api_only_for_a_wanted_child_missing_from_the_cache() -> None:
    unlabelled = {"metadata": {"name": "x-stable", "namespace": "ns", "resourceVersion": "1"}}
    gets: list[str] = []
    cache = synced_cache({"/apis/apps/v1/namespaces/ns/deployments/x-stable": unlabelled}, gets)
    # Someone else's object holds the name: found by the GET, so the reconcile refuses it.
    assert cache.lookup("Deployment", "ns", "x-stable", wanted=True) == unlabelled
    # A child not wanted and not in the cache is not ours to delete: no request.
    assert cache.lookup("Deployment", "ns", "x-canary", wanted=False) is None
    # Not ours by label: not kept, so asked again next time (a conflict stays visible).
    assert cache.stores["Deployment"].get(("ns", "x-stable")) is None
    # Wanted and absent everywhere: the GET answers 404, the reconcile creates it.
    assert cache.lookup("Deployment", "ns", "x-other", wanted=True) is None
    assert gets == ["x-stable", "x-other"]


def test_list_of_pods_comes_from_the_cache_by_selector() -> None:
    cache = synced_cache({}, [])
    cache.stores["Pod"].put(pod("s1", 1, track="stable"))
    cache.stores["Pod"].put(pod("c1", 1, track="canary"))
    found = cache.list("Pod", "ns", {"app.kubernetes.io/instance": "svc", "track": "canary"})
    assert [p["metadata"]["name"] for p in found] == ["c1"]


def test_wake_queue_runs_a_key_once_for_a_burst_queued_before_it_starts() -> None:
    queue = WakeQueue(workers=1)
    queue.start()
    gate = threading.Event()
    runs: list[str] = []
    queue.wake("block", gate.wait)  # holds the only worker
    for _ in range(20):
        queue.wake("k", lambda: runs.append("k"))
    gate.set()
    deadline = time.monotonic() + 5
    while not runs and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert runs == ["k"]


def test_a_read_is_a_copy_the_caller_may_change() -> None:
    store = Store("Pod")
    store.put(pod("a", 1))
    first = store.get(("ns", "a"))
    assert first is not None
    first["status"]["phase"] = "Failed"
    assert store.get(("ns", "a"))["status"]["phase"] == "Running"


def test_wake_queue_runs_objects_seen_before_ahead_of_new_ones() -> None:
    queue = WakeQueue(workers=1)
    queue.start()
    gate = threading.Event()
    runs: list[str] = []
    queue.wake("block", gate.wait)
    time.sleep(0.1)  # the worker holds "block"
    queue.wake("new", lambda: runs.append("new"), known=False)
    queue.wake("seen", lambda: runs.append("seen"), known=True)
    gate.set()
    deadline = time.monotonic() + 5
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runs == ["seen", "new"]


def test_someone_elses_names_come_from_the_metadata_watch_with_no_get() -> None:
    gets: list[str] = []
    cache = synced_cache({}, gets, foreign=True)
    theirs = {
        "metadata": {
            "name": "x-stable",
            "namespace": "ns",
            "uid": "their-uid",
            "resourceVersion": "7",
            "labels": {"app": "theirs"},
            "annotations": {"big": "x" * 1000},
        }
    }
    cache.foreign["Deployment"].put(theirs)
    found = cache.lookup("Deployment", "ns", "x-stable", wanted=True)
    # Enough to see whose it is, nothing more is kept.
    assert found == {
        "metadata": {
            "name": "x-stable",
            "namespace": "ns",
            "uid": "their-uid",
            "resourceVersion": "7",
        }
    }
    # Nobody holds the name: free to create, and nothing asked.
    assert cache.lookup("Deployment", "ns", "x-other", wanted=True) is None
    assert cache.lookup("ConfigMap", "ns", "x-ratelimit", wanted=True) is None
    assert gets == []
    # Someone else's objects belong to no ModelService: their changes wake nothing.
    assert cache.foreign["Deployment"].owner_of(theirs) == ("ns", "")


def test_someone_elses_objects_are_listed_and_watched_as_metadata_only() -> None:
    sent: list[tuple[str, Any, Any]] = []
    kube = Kube(api=None)  # type: ignore[arg-type]

    def call(
        method: str, path: str, *_: Any, query: Any = None, accept: str = "", **__: Any
    ) -> Any:
        sent.append((path, query, accept))
        # What the API server says when nobody else has an object of the kind.
        return {"items": None, "metadata": {"resourceVersion": "5"}}

    kube._call = call  # type: ignore[method-assign]
    listed = kube.list_versioned(
        "ConfigMap",
        "ns",
        {},
        excluding={"app.kubernetes.io/managed-by": "modelops"},
        metadata_only=True,
    )
    assert listed == ([], "5")
    assert sent == [
        (
            "/api/v1/namespaces/ns/configmaps",
            [("labelSelector", "app.kubernetes.io/managed-by!=modelops")],
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
    ]

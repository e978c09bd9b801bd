"""A watch-fed cache of the operator's own objects: reads at rest cost no API request.

One list-then-watch per kind (per namespace with ``--namespace``); children label-selected
(``app.kubernetes.io/managed-by=modelops``) on the server, so the operator never receives
another controller's pods. Every change that makes a cached object newer wakes the owning
ModelService (its ``app.kubernetes.io/instance`` label, or the ModelService itself).

Our own writes go into the cache at once (write-through: the apply or status patch answers
with the new object); the watch event that echoes them later is not newer, so it wakes
nothing. resourceVersions are compared as integers (what etcd gives), which keeps a late
event from putting an older object back. A delete leaves a tombstone at the deleted object's
version for the same reason.

Objects of the child kinds that are *not* ours (``managed-by!=modelops``) are watched too, as
metadata only (PartialObjectMetadata: name, uid, owners): the names someone else holds. A
reconcile that wants a child its cache does not hold learns from them, with no GET, whether
the name is free or someone else's object holds it (a conflict it reports, never touches).
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelops.api import KIND
from modelops.kube.client import Kube, Objects
from modelops.render.meta import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY

CHILD_KINDS = (
    "Deployment",
    "Pod",
    "Service",
    "ConfigMap",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
)
# Kinds whose names a ModelService's children claim (Pods are named by their ReplicaSet).
FOREIGN_KINDS = tuple(kind for kind in CHILD_KINDS if kind != "Pod")
SELECTOR = {LABEL_MANAGED_BY: MANAGED_BY}
WATCH_SECONDS = 300
log = logging.getLogger("modelops.cache")

Key = tuple[str, str]  # (namespace, name)
Wake = Callable[[str, str], None]  # (namespace, ModelService name)


def _version(body: dict[str, Any]) -> int:
    try:
        return int(body["metadata"].get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


# Of someone else's object, what tells whose it is.
_FOREIGN_FIELDS = ("name", "namespace", "uid", "resourceVersion", "ownerReferences")


def _trim(kind: str, body: dict[str, Any], foreign: bool = False) -> dict[str, Any]:
    """What the reconcile reads, nothing more: the cache holds every child of thousands of
    ModelServices. managedFields is most of an applied object's size."""
    if foreign:
        found = body.get("metadata", {})
        return {"metadata": {k: found[k] for k in _FOREIGN_FIELDS if k in found}}
    meta = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
    if kind == "Pod":  # only status and labels decide health
        return {"metadata": meta, "status": body.get("status") or {}}
    return {**body, "metadata": meta}


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    owner: str
    data: bytes  # compact JSON: a decoded Deployment takes about ten times the memory


class Store:
    """Objects of one kind by (namespace, name), indexed by owner for pod lookups. Each read
    decodes a fresh copy, so a caller may change what it got. ``foreign``: someone else's
    objects, metadata only, owned by no ModelService (their changes wake nothing)."""

    def __init__(self, kind: str, foreign: bool = False) -> None:
        self.kind = kind
        self.foreign = foreign
        self._lock = threading.Lock()
        self._objects: dict[Key, _Entry] = {}
        self._tombstones: dict[Key, int] = {}
        self._by_owner: dict[Key, set[str]] = {}

    def owner_of(self, body: dict[str, Any]) -> Key:
        meta = body["metadata"]
        if self.foreign:
            return (meta.get("namespace", ""), "")
        if self.kind == KIND:
            return (meta.get("namespace", ""), meta["name"])
        labels = meta.get("labels") or {}
        return (meta.get("namespace", ""), labels.get(LABEL_INSTANCE, ""))

    def put(self, body: dict[str, Any]) -> bool:
        """Keep ``body`` if it is newer than what is held; True if it was."""
        meta = body["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        version = _version(body)
        owner = self.owner_of(body)[1]
        data = json.dumps(_trim(self.kind, body, self.foreign), separators=(",", ":")).encode()
        with self._lock:
            held = self._objects.get(key)
            floor = held.version if held is not None else self._tombstones.get(key, -1)
            if version and version <= floor:
                return False
            self._tombstones.pop(key, None)
            if held is not None:
                self._by_owner.get((key[0], held.owner), set()).discard(key[1])
            self._objects[key] = _Entry(version, owner, data)
            self._by_owner.setdefault((key[0], owner), set()).add(key[1])
        return True

    def remove(self, key: Key, version: int) -> bool:
        """Forget ``key`` unless something newer than ``version`` is held; True if held."""
        with self._lock:
            held = self._objects.get(key)
            if held is not None and held.version > version > 0:
                return False
            self._tombstones[key] = max(version, self._tombstones.get(key, 0))
            if held is None:
                return False
            del self._objects[key]
            self._by_owner.get((key[0], held.owner), set()).discard(key[1])
        return True

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            held = self._objects.get(key)
        return None if held is None else _decode(held)

    def version(self, key: Key) -> int:
        with self._lock:
            held = self._objects.get(key)
        return 0 if held is None else held.version

    def owned(self, namespace: str, owner: str) -> Objects:
        with self._lock:
            names = self._by_owner.get((namespace, owner), set())
            held = [self._objects[(namespace, name)] for name in sorted(names)]
        return [_decode(entry) for entry in held]

    def held(self) -> list[Key]:
        with self._lock:
            return list(self._objects)


def _decode(entry: _Entry) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(entry.data)
    return decoded


class Informer:
    """List, then watch from the list's version, for ever (a thread); relist when the watch
    breaks or its version is too old."""

    def __init__(self, kube: Kube, store: Store, namespace: str | None, wake: Wake) -> None:
        self.kube = kube
        self.store = store
        self.namespace = namespace
        self.wake = wake
        self.synced = threading.Event()
        # Children by our label; ModelServices are all ours; someone else's: all but ours.
        self.selector = {} if store.kind == KIND or store.foreign else SELECTOR
        self.excluding = SELECTOR if store.foreign else None
        self._thread = threading.Thread(
            target=self._run,
            name=f"informer-{store.kind}{'-foreign' if store.foreign else ''}-{namespace or '*'}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def _changed(self, body: dict[str, Any]) -> None:
        namespace, owner = self.store.owner_of(body)
        if owner:
            self.wake(namespace, owner)

    def _relist(self) -> str:
        items, version = self.kube.list_versioned(
            self.store.kind,
            self.namespace,
            self.selector,
            excluding=self.excluding,
            metadata_only=self.store.foreign,
        )
        listed = set()
        for item in items:
            item.setdefault("metadata", {}).setdefault("namespace", self.namespace or "")
            listed.add((item["metadata"].get("namespace", ""), item["metadata"]["name"]))
            if self.store.put(item):
                self._changed(item)
        for key in self.store.held():
            if key in listed or (self.namespace is not None and key[0] != self.namespace):
                continue
            gone = self.store.get(key)
            if gone is not None and self.store.remove(key, int(version or 0)):
                self._changed(gone)
        return version

    def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                version = self._relist()
                self.synced.set()
                while version:
                    version = self._watch(version)
                backoff = 1.0
            except Exception as error:  # any failure: relist after a pause
                log.warning("watch of %s failed (%s); relisting", self.store.kind, error)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _watch(self, version: str) -> str:
        """One watch request; the version to go on from, or "" to relist."""
        for event in self.kube.watch(
            self.store.kind,
            self.namespace,
            self.selector,
            version,
            WATCH_SECONDS,
            excluding=self.excluding,
            metadata_only=self.store.foreign,
        ):
            kind, body = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # 410 Gone: the version is too old to watch from
                return ""
            version = body.get("metadata", {}).get("resourceVersion", version)
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                meta = body["metadata"]
                if self.store.remove((meta.get("namespace", ""), meta["name"]), _version(body)):
                    self._changed(body)
            elif self.store.put(body):
                self._changed(body)
        return version


class CachedKube(Kube):
    """The operator's client: reads of watched kinds come from the cache once it is synced;
    writes go to the API server and their answers into the cache."""

    def __init__(self, kube: Kube, namespaces: list[str] | None, wake: Wake) -> None:
        super().__init__(kube.api)
        self.stores = {kind: Store(kind) for kind in (KIND, *CHILD_KINDS)}
        self.foreign = {kind: Store(kind, foreign=True) for kind in FOREIGN_KINDS}
        where: list[str | None] = list(namespaces) if namespaces else [None]
        self.informers = [
            Informer(kube, store, namespace, wake)
            for store in (*self.stores.values(), *self.foreign.values())
            for namespace in where
        ]

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def _store(self, kind: str, foreign: bool = False) -> Store | None:
        """The store of ``kind`` once its informers have listed; None before, or if none."""
        store = (self.foreign if foreign else self.stores).get(kind)
        if store is None:
            return None
        synced = all(i.synced.is_set() for i in self.informers if i.store is store)
        return store if synced else None

    def get(
        self, kind: str, namespace: str, name: str, cached: bool = False
    ) -> dict[str, Any] | None:
        store = self._store(kind)
        held = store.get((namespace, name)) if store else None
        if held is not None:
            return held
        # Not seen yet (just created), or not ours by label (someone else's object of that
        # name, which the reconcile must see to refuse it): ask the API server, which may
        # answer from its own watch cache for a child (a ModelService missing from ours may
        # have just been deleted: that is asked of etcd).
        found = super().get(kind, namespace, name, cached=cached or kind != KIND)
        if found is not None and store is not None and store.owner_of(found)[1]:
            store.put(found)
        return found

    def lookup(self, kind: str, namespace: str, name: str, wanted: bool) -> dict[str, Any] | None:
        """A child by name: ours from the cache; else, for a wanted child, someone else's
        object of that name (its metadata: enough to see it is not ours), or None when
        nobody holds the name. The API server is asked only while the watches have not listed
        yet, or for a kind they do not cover."""
        store = self._store(kind)
        if store is None:
            return self.get(kind, namespace, name)
        held = store.get((namespace, name))
        if held is not None or not wanted:
            # Not desired: only an object of ours (labelled, so in the cache) is deleted.
            return held
        foreign = self._store(kind, foreign=True)
        if foreign is None:
            return self.get(kind, namespace, name)
        return foreign.get((namespace, name))

    def list(self, kind: str, namespace: str, selector: dict[str, str]) -> Objects:
        store = self._store(kind)
        owner = selector.get(LABEL_INSTANCE)
        if store is None or owner is None:
            return super().list(kind, namespace, selector)
        return [
            item
            for item in store.owned(namespace, owner)
            if all((item["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        applied = super().apply(manifest)
        store = self.stores.get(manifest["kind"])
        if store is not None:
            store.put(applied)
        return applied

    def delete(self, kind: str, namespace: str, name: str, uid: str) -> None:
        super().delete(kind, namespace, name, uid)
        store = self.stores.get(kind)
        if store is not None:
            store.remove((namespace, name), store.version((namespace, name)))

    def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        patched = super().patch_status(kind, namespace, name, status)
        store = self.stores.get(kind)
        if store is not None and patched:
            store.put(patched)
        return patched

"""Follow the local API server's audit log and keep one user's requests, for counting by verb.

hack/cluster-up.sh's audit policy records every request (reads and watches too) of the
ServiceAccount ``modelops-bench``, the identity bench/reconcile.py runs the operator as. So
the count covers all of the operator's requests, kopf's own (watches, annotation patches)
and the reconcile's alike, told apart by user agent (``kopf/...`` or ``modelops/...``).

The log rotates at 200 MB: a renamed file is read to its end through the open handle before
the new one is opened.
"""

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    at: float  # epoch seconds the API server received it
    verb: str
    agent: str  # "kopf" or "modelops" (the user agent's product)
    resource: str
    namespace: str  # "" for a request across namespaces (a cluster-wide watch or list)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class AuditTail:
    """A thread that reads new audit lines every ``interval`` s and keeps ``user``'s requests
    (one per audit ID: a watch is logged when it starts and again when it ends)."""

    def __init__(self, path: Path, user: str, interval: float = 0.5) -> None:
        self.path = path
        self.user = user
        self.interval = interval
        self.requests: list[Request] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._needle = user.encode()
        self._handle = path.open("rb")
        self._handle.seek(0, os.SEEK_END)  # only what happens from now on
        self._partial = b""
        self._inode = os.fstat(self._handle.fileno()).st_ino
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _read_available(self) -> None:
        for chunk in self._handle:
            # The API server may be half-way through writing a line: keep that part until
            # the rest (and its newline) arrives.
            line = self._partial + chunk
            if not line.endswith(b"\n"):
                self._partial = line
                continue
            self._partial = b""
            if self._needle not in line:
                continue
            entry = json.loads(line)
            if entry.get("user", {}).get("username") != self.user:
                continue
            audit_id = entry["auditID"]
            if audit_id in self._seen:
                continue
            self._seen.add(audit_id)
            ref = entry.get("objectRef", {})
            resource = ref.get("resource", "") + (
                "/" + ref["subresource"] if ref.get("subresource") else ""
            )
            agent = entry.get("userAgent", "").split("/", 1)[0]
            with self._lock:
                self.requests.append(
                    Request(
                        _epoch(entry["requestReceivedTimestamp"]),
                        entry["verb"],
                        agent,
                        resource,
                        ref.get("namespace", ""),
                    )
                )

    def _follow_rotation(self) -> None:
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            return
        if inode != self._inode:
            self._read_available()  # the rest of the renamed file
            self._partial = b""
            self._handle.close()
            self._handle = self.path.open("rb")
            self._inode = inode

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._read_available()
            self._follow_rotation()
            self._stop.wait(self.interval)

    def flush(self) -> None:
        """Wait until the API server has written what it received up to now (it buffers
        nothing by default, but a request still in flight is logged when it completes)."""
        time.sleep(2 * self.interval + 1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._read_available()
        self._handle.close()

    def between(self, start: float, end: float) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if start <= r.at < end]


def by_verb(requests: list[Request]) -> dict[str, int]:
    return dict(sorted(Counter(r.verb for r in requests).items()))


def by_agent_verb_resource(requests: list[Request]) -> dict[str, int]:
    counted = Counter(f"{r.agent} {r.verb} {r.resource}" for r in requests)
    return dict(sorted(counted.items(), key=lambda item: -item[1]))


def in_namespace(requests: list[Request], namespace: str) -> tuple[list[Request], int]:
    """The requests about ``namespace`` or across namespaces (the operator's watches), and
    how many were about other namespaces (an earlier size's still being deleted)."""
    kept = [r for r in requests if r.namespace in ("", namespace)]
    return kept, len(requests) - len(kept)


def writes(requests: list[Request]) -> int:
    return sum(1 for r in requests if r.verb in WRITE_VERBS)

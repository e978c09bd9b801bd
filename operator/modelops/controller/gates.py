"""Rollout gates run off the reconcile: each run on its own thread, its outcome kept here
until a reconcile hands it to the rollout machine (which writes it into status.gates).

The machine says which runs should be in flight (``GateRun``); after each reconcile the
controller ``sync``s: runs not yet started start, runs no longer wanted are cancelled and
forgotten (a Job gate deletes its Job). A finished run wakes its ModelService, so a gate's
verdict acts at once and no reconcile ever waits on a webhook or a Job. Outcomes are kept
until the machine stops wanting the run: a reconcile reading a status a little behind (the
watch cache) sees the same outcome again, and no run is made twice.

post-rollout webhooks are ``fire``d: once per rollout end, their answer posted as an Event.
"""

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from modelops.metrics import GATE_RUNS
from modelops.rollout.gate_io import GateOutcome

log = logging.getLogger("modelops.gates")

# A run: told when it is no longer wanted, it ends (a Job gate deletes its Job).
Call = Callable[[threading.Event], GateOutcome]


@dataclass
class _Run:
    cancelled: threading.Event = field(default_factory=threading.Event)
    outcome: GateOutcome | None = None


class GateRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[Hashable, dict[str, _Run]] = {}
        self._fired: set[str] = set()

    def outcomes(self, key: Hashable) -> dict[str, GateOutcome]:
        """The finished runs of ``key`` by id: the observations of the next reconcile."""
        with self._lock:
            runs = self._runs.get(key, {})
            return {id_: run.outcome for id_, run in runs.items() if run.outcome is not None}

    def sync(self, key: Hashable, wanted: dict[str, Call], wake: Callable[[], None]) -> list[str]:
        """Start the wanted runs that are not in flight, cancel and forget the others; the
        ids started."""
        started: list[tuple[str, _Run, Call]] = []
        with self._lock:
            runs = self._runs.setdefault(key, {})
            for id_ in [id_ for id_ in runs if id_ not in wanted]:
                runs.pop(id_).cancelled.set()
            for id_, call in wanted.items():
                if id_ not in runs:
                    runs[id_] = _Run()
                    started.append((id_, runs[id_], call))
            if not runs:
                del self._runs[key]
        for id_, run, call in started:
            thread = threading.Thread(
                target=self._run, args=(id_, run, call, wake), name=f"gate {id_}", daemon=True
            )
            thread.start()
        return [id_ for id_, _, _ in started]

    def forget(self, key: Hashable) -> None:
        """The ModelService is gone: its runs end."""
        self.sync(key, {}, lambda: None)

    def fire(self, id_: str, call: Call, done: Callable[[GateOutcome], None]) -> bool:
        """Run ``call`` once (per id) whatever happens to the rollout; ``done`` gets its answer."""
        with self._lock:
            if id_ in self._fired:
                return False
            self._fired.add(id_)

        def run() -> None:
            done(self._outcome(id_, call, threading.Event()))

        threading.Thread(target=run, name=f"gate {id_}", daemon=True).start()
        return True

    @staticmethod
    def _outcome(id_: str, call: Call, cancelled: threading.Event) -> GateOutcome:
        try:
            outcome = call(cancelled)
        except Exception as error:  # a broken run is a failed check, never a dead thread
            log.warning("gate %s failed to run: %s: %s", id_, type(error).__name__, error)
            outcome = GateOutcome(False, f"could not run: {type(error).__name__}: {error}")
        GATE_RUNS.labels("pass" if outcome.passed else "fail").inc()
        return outcome

    def _run(self, id_: str, run: _Run, call: Call, wake: Callable[[], None]) -> None:
        outcome = self._outcome(id_, call, run.cancelled)
        with self._lock:
            if run.cancelled.is_set():
                return  # no longer wanted: nobody waits for it
            run.outcome = outcome
        wake()

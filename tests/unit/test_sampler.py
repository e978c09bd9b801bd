"""The sampler's scheduling: real threads, a fake probe; waits end on events, not on time."""

import threading
from collections.abc import Callable

from modelops.controller.sampler import Sampler

WAIT = 5.0  # seconds: a wait for something that should happen in milliseconds


def probe(answers: list[bool], asked: threading.Semaphore) -> Callable[[], bool]:
    """A probe answering ``answers`` in turn (then the last one), counting its calls."""

    def fails() -> bool:
        asked.release()
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return fails


def test_a_failing_sample_wakes_once_and_stops_until_watched_again() -> None:
    sampler = Sampler()
    asked = threading.Semaphore(0)
    woken = threading.Event()
    sampler.watch("a", 0.01, probe([False, False, True], asked), woken.set)
    assert woken.wait(WAIT)
    for _ in range(3):
        assert asked.acquire(timeout=WAIT)
    assert sampler.take_failure("a")
    assert not sampler.take_failure("a")  # asking clears it
    assert "a" not in sampler.sampled()  # the reconcile says whether sampling goes on
    assert not asked.acquire(timeout=0.1)


def test_passing_samples_repeat_and_never_wake() -> None:
    sampler = Sampler()
    asked = threading.Semaphore(0)
    woken = threading.Event()
    sampler.watch("a", 0.01, probe([False], asked), woken.set)
    for _ in range(5):
        assert asked.acquire(timeout=WAIT)
    assert not woken.is_set()
    assert not sampler.take_failure("a")
    sampler.forget("a")
    while asked.acquire(timeout=0.1):  # at most one sample was already in flight
        pass
    assert not asked.acquire(timeout=0.1)


def test_a_probe_that_raises_does_not_stop_the_others() -> None:
    sampler = Sampler()
    asked = threading.Semaphore(0)
    woken = threading.Event()

    def broken() -> bool:
        raise RuntimeError("no Prometheus")

    sampler.watch("broken", 0.01, broken, lambda: None)
    sampler.watch("b", 0.01, probe([False, True], asked), woken.set)
    assert woken.wait(WAIT)
    assert sampler.take_failure("b")
    assert not sampler.take_failure("broken")
    assert sampler.sampled() == ["broken"]
    # The sampler's thread lives on (a daemon): left watched, "broken" would be sampled and
    # logged as failing until the test process exits.
    sampler.forget("broken")
    sampler.forget("b")


def test_watching_again_keeps_a_due_sample_due() -> None:
    now = [100.0]
    sampler = Sampler(clock=lambda: now[0])
    sampler._thread = threading.Thread()  # never started: this test drives the schedule
    sampler.watch("a", 10.0, lambda: False, lambda: None)  # due at 110
    now[0] = 109.0
    sampler.watch("a", 10.0, lambda: False, lambda: None)  # a reconcile: still due at 110
    now[0] = 110.0
    handed: list[float] = []
    # The fake clock stands still: _next would wait for ever if the due time had moved.
    picker = threading.Thread(target=lambda: handed.append(sampler._next()[1].due), daemon=True)
    picker.start()
    picker.join(WAIT)
    assert handed == [120.0]  # handed out now, and rescheduled one interval on

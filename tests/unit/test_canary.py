"""The rollout state machine, transition by transition, with no cluster."""

import threading
from datetime import timedelta
from typing import Any

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import MetricResult, ModelServiceStatus, Phase, Stage
from modelops.controller.slots import RolloutSlots
from modelops.manifests import parse_model_service
from modelops.render.pod import revision
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import plan
from modelops.rollout.transitions import Commands, Transition
from modelops.rollout.verdict import analysis_due, sampling_interval
from tests.support.rollout import METRIC, T0, deployed, ready, spec, tick
from tests.support.samples import model_service


def test_new_version_walks_the_steps_and_is_promoted() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    chosen = plan(new, status)
    assert chosen.canary_spec == new
    assert chosen.stable_spec.model.version == "1.0.0"
    assert chosen.weight == 20

    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=1)
    assert step.status.phase is Phase.PROGRESSING
    assert [e.reason for e in step.events] == ["RolloutStarted"]
    assert (step.status.canary_version, step.status.canary_weight) == ("2.0.0", 20)
    assert step.wake_after is not None

    step = tick(new, step.status, ready(old), ready(new, desired=1), at=2)
    assert [e.reason for e in step.events] == ["StepAdvanced"]
    assert step.status.canary_weight == 60
    assert plan(new, step.status).weight == 60

    step = tick(new, step.status, ready(old), ready(new, desired=2), at=3)
    assert [e.reason for e in step.events] == ["Promoting"]
    assert step.status.stage is Stage.PROMOTING
    promoting = plan(new, step.status)
    assert promoting.stable_spec == new and promoting.canary_spec == new

    step = tick(new, step.status, ready(new), ready(new, desired=2), at=4)
    assert step.status.phase is Phase.STABLE
    assert [e.reason for e in step.events] == ["Promoted"]
    assert step.status.stable_version == "2.0.0"
    assert step.status.canary_version is None and step.status.canary_weight == 0
    assert [(h.version, h.result) for h in step.status.history or []] == [
        ("1.0.0", "Deployed"),
        ("2.0.0", "Promoted"),
    ]
    assert plan(new, step.status).canary_spec is None


def test_crash_looping_canary_is_rolled_back_at_once_and_not_retried() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=1)
    crashing = WorkloadObservation(
        exists=True,
        desired=1,
        replicas=1,
        updated=1,
        ready=0,
        restarts=3,
        pod_problems=("CrashLoopBackOff (pod m-canary-x)",),
    )
    step = tick(new, step.status, ready(old), crashing, at=2)
    assert step.status.phase is Phase.ROLLED_BACK
    assert [(e.type, e.reason) for e in step.events] == [("Warning", "RolledBack")]
    assert "CrashLoopBackOff" in (step.status.message or "")
    assert step.status.failed_revision == revision(new)
    assert step.status.canary_weight == 0
    back = plan(new, step.status)
    assert back.canary_spec is None and back.stable_spec.model.version == "1.0.0"
    assert (step.status.history or [])[-1].result == "RolledBack"
    again = tick(new, step.status, ready(old), at=60)
    assert again.status.phase is Phase.ROLLED_BACK and again.events == []
    newer = spec("2.0.1")
    assert plan(newer, again.status).canary_spec == newer


def test_failed_analysis_rolls_back_after_failure_limit() -> None:
    old, status = deployed()
    new = spec(
        "2.0.0", [{"weight": 20, "pause": "60s"}], analysis={"failureLimit": 2, "metrics": [METRIC]}
    )
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=0)
    assert analysis_due(new, step.status, True, T0 + timedelta(seconds=1))
    bad = [MetricResult(name="errors", value=0.3, ok=False, message="above max 0.05")]
    step = tick(new, step.status, ready(old), ready(new, desired=1), bad, at=1)
    assert step.status.phase is Phase.PROGRESSING
    assert [e.reason for e in step.events] == ["AnalysisFailed"]
    assert not analysis_due(new, step.status, True, T0 + timedelta(seconds=5))
    assert analysis_due(new, step.status, True, T0 + timedelta(seconds=17))
    step = tick(new, step.status, ready(old), ready(new, desired=1), bad, at=17)
    assert step.status.phase is Phase.ROLLED_BACK
    assert "analysis failed 2 times" in (step.status.message or "")


GOOD = [MetricResult(name="errors", value=0.01, ok=True, message="within bounds")]
BAD = [MetricResult(name="errors", value=0.3, ok=False, message="above max 0.05")]


def sampled_rollout(**analysis: Any) -> tuple[ModelServiceSpec, WorkloadObservation, Transition]:
    """v2 under analysis with a long pause, its canary ready at t=1 and its first run passed
    then: the new spec, stable's observation and that step."""
    old, status = deployed()
    new = spec(
        "2.0.0", [{"weight": 20, "pause": "600s"}], analysis={**analysis, "metrics": [METRIC]}
    )
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=0)
    # Nothing is sampled before the first run: that run is due at once anyway.
    assert sampling_interval(new, step.status, True) is None
    step = tick(new, step.status, ready(old), ready(new, desired=1), GOOD, at=1)
    return new, ready(old), step


def test_a_failing_sample_brings_the_first_failure_forward_and_later_runs_keep_the_interval() -> (
    None
):
    new, stable, step = sampled_rollout(interval="60s", failureLimit=2)
    assert sampling_interval(new, step.status, True) == 6.0  # default: a tenth of the interval
    assert sampling_interval(new, step.status, False) is None  # canary not ready: no sampling
    at_5 = T0 + timedelta(seconds=5)
    assert not analysis_due(new, step.status, True, at_5)
    assert analysis_due(new, step.status, True, at_5, sampled_failure=True)
    step = tick(new, step.status, stable, ready(new, desired=1), BAD, at=5)
    assert [e.reason for e in step.events] == ["AnalysisFailed"]
    assert step.status.phase is Phase.PROGRESSING  # failureLimit 2: one failure is not enough
    # A failure is counted: no more sampling, and a second bad sample cannot hurry the next run.
    assert sampling_interval(new, step.status, True) is None
    at_10 = T0 + timedelta(seconds=10)
    assert not analysis_due(new, step.status, True, at_10, sampled_failure=True)
    assert analysis_due(new, step.status, True, T0 + timedelta(seconds=65))
    step = tick(new, step.status, stable, ready(new, desired=1), BAD, at=65)
    assert step.status.phase is Phase.ROLLED_BACK


def test_a_failing_sample_rolls_back_at_once_under_failure_limit_one() -> None:
    new, stable, step = sampled_rollout(interval="60s", failureLimit=1)
    assert analysis_due(new, step.status, True, T0 + timedelta(seconds=3), sampled_failure=True)
    step = tick(new, step.status, stable, ready(new, desired=1), BAD, at=3)
    assert step.status.phase is Phase.ROLLED_BACK
    assert "errors=0.3" in (step.status.message or "")


def test_sampling_is_off_at_0s_when_not_shorter_than_the_interval_and_without_metrics() -> None:
    for every in ("0s", "30s"):
        new, _, step = sampled_rollout(interval="30s", sampleInterval=every)
        assert sampling_interval(new, step.status, True) is None, every
    new, _, step = sampled_rollout(interval="30s", sampleInterval="500ms")
    assert sampling_interval(new, step.status, True) == 0.5
    new, _, step = sampled_rollout(interval="2s")
    assert sampling_interval(new, step.status, True) == 0.5  # the default's floor
    old, status = deployed()
    plain = spec("2.0.0", [{"weight": 20, "pause": "600s"}])
    step = tick(plain, status, ready(old), WorkloadObservation(exists=True, desired=1), at=0)
    step = tick(plain, step.status, ready(old), ready(plain, desired=1), at=1)
    assert sampling_interval(plain, step.status, True) is None


def test_a_passing_check_resets_the_failure_count_and_pause_is_honoured() -> None:
    old, status = deployed()
    new = spec(
        "2.0.0",
        [{"weight": 20, "pause": "30s"}, {"weight": 50}],
        analysis={"failureLimit": 2, "metrics": [METRIC]},
    )
    good = [MetricResult(name="errors", value=0.01, ok=True, message="within bounds")]
    bad = [MetricResult(name="errors", value=0.3, ok=False, message="above max")]
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=0)
    step = tick(new, step.status, ready(old), ready(new, desired=1), bad, at=1)
    step = tick(new, step.status, ready(old), ready(new, desired=1), good, at=17)
    assert step.status.analysis is not None and step.status.analysis.consecutive_failures == 0
    assert step.status.current_step == 0  # 30 s pause not over (ready since t=1)
    assert step.wake_after is not None and step.wake_after <= 15
    step = tick(new, step.status, ready(old), ready(new, desired=1), good, at=33)
    assert step.status.current_step == 1


def analysed(results: list[MetricResult], **analysis: Any) -> tuple[ModelServiceSpec, Transition]:
    """v2 with one step under ``analysis``, its canary ready at t=1 with these ``results``."""
    old, status = deployed()
    new = spec("2.0.0", [{"weight": 20}], analysis={"metrics": [METRIC], **analysis})
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    return new, tick(new, step.status, ready(old), ready(new, desired=1), results, at=1)


def test_inconclusive_analysis_pauses_or_fails_as_configured() -> None:
    unknown = [MetricResult(name="errors", ok=None, message="Prometheus unreachable")]
    pausing, step = analysed(unknown)
    assert step.status.phase is Phase.PROGRESSING
    assert "inconclusive" in (step.status.message or "") and step.status.current_step == 0
    # A wake between analysis runs (no metrics this time) keeps the pause: not a pass.
    between = tick(pausing, step.status, ready(spec("1.0.0")), ready(pausing, desired=1), at=2)
    assert between.status.stage is Stage.CANARY and "inconclusive" in (between.status.message or "")
    _, step = analysed(unknown, inconclusive="Fail", failureLimit=1)
    assert step.status.phase is Phase.ROLLED_BACK


def test_canary_never_ready_hits_the_progress_deadline() -> None:
    old, status = deployed()
    new = spec("2.0.0", progressDeadlineSeconds=30)
    stuck = WorkloadObservation(exists=True, desired=1, replicas=1, ready=0)
    step = tick(new, status, ready(old), stuck, at=0)
    step = tick(new, step.status, ready(old), stuck, at=10)
    assert step.status.phase is Phase.PROGRESSING
    step = tick(new, step.status, ready(old), stuck, at=31)
    assert step.status.phase is Phase.ROLLED_BACK
    assert "30s" in (step.status.message or "")


def test_restarts_count_as_failed_checks() -> None:
    old, status = deployed()
    new = spec("2.0.0", [{"weight": 20, "pause": "5m"}], analysis={"failureLimit": 2})
    step = tick(new, status, ready(old), ready(new, desired=1, restarts=0), at=0)
    step = tick(new, step.status, ready(old), ready(new, desired=1, restarts=1), at=1)
    assert [e.reason for e in step.events] == ["AnalysisFailed"]
    step = tick(new, step.status, ready(old), ready(new, desired=1, restarts=2), at=2)
    assert step.status.phase is Phase.ROLLED_BACK


def test_spec_reverted_mid_rollout_aborts_the_canary() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    step = tick(old, step.status, ready(old), at=1)
    assert "RolloutAborted" in [e.reason for e in step.events]
    assert step.status.canary_version is None and step.status.phase is Phase.STABLE
    assert plan(old, step.status).canary_spec is None


def test_spec_paused_holds_the_step() -> None:
    old, status = deployed()
    new = spec("2.0.0").model_copy(update={"paused": True})
    step = tick(new, status, ready(old), ready(new, desired=1), at=0)
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=100)
    assert step.status.current_step == 0 and "paused" in (step.status.message or "")


def conditions(status: ModelServiceStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions or []}


def test_rolled_back_service_stays_ready_but_not_up_to_date() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    assert conditions(step.status) == {
        "Ready": "True",
        "Progressing": "True",
        "Degraded": "False",
        "UpToDate": "False",
    }
    crashing = WorkloadObservation(exists=True, desired=1, pod_problems=("OOMKilled (pod x)",))
    step = tick(new, step.status, ready(old), crashing, at=1)
    assert conditions(step.status) == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "True",
        "UpToDate": "False",
        "Stalled": "True",
    }
    up_to_date = next(c for c in step.status.conditions or [] if c.type == "UpToDate")
    assert up_to_date.reason == "RolledBack"


def test_rollout_waits_for_a_slot_then_starts() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    waiting = tick(new, status, ready(old), commands=Commands(may_start=False))
    assert waiting.status.stage is Stage.QUEUED
    assert "waits" in (waiting.status.message or "")
    assert plan(new, waiting.status).canary_spec is None
    started = tick(new, waiting.status, ready(old))
    assert started.status.stage is Stage.CANARY
    assert [e.reason for e in started.events] == ["RolloutStarted"]
    assert plan(new, started.status).canary_spec == new


def test_pause_request_holds_and_resume_goes_on() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    held = tick(
        new, step.status, ready(old), ready(new, desired=1), at=50, commands=Commands(pause=True)
    )
    assert held.status.current_step == 0
    assert "paused" in (held.status.message or "")
    went_on = tick(new, held.status, ready(old), ready(new, desired=1), at=51)
    assert went_on.status.current_step == 1


def test_slots_cap_concurrent_rollouts() -> None:
    slots = RolloutSlots(2)
    assert slots.claim("a") and slots.claim("b")
    assert slots.claim("a") and not slots.claim("c")  # a holds its slot; c waits
    slots.update("a", active=False)
    assert slots.claim("c") and slots.held() == 2
    assert RolloutSlots(0).claim("any")


def test_slots_claims_race_to_the_cap_and_no_further() -> None:
    slots = RolloutSlots(3)
    barrier = threading.Barrier(32)
    won: list[bool] = []

    def contend(key: int) -> None:
        barrier.wait()
        won.append(slots.claim(key))

    threads = [threading.Thread(target=contend, args=(key,)) for key in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 3 and slots.held() == 3


def test_slots_seeded_from_statuses_hold_back_new_rollouts() -> None:
    slots = RolloutSlots(1)
    slots.seed([("ns", "running")])
    assert not slots.claim(("ns", "queued"))
    assert slots.claim(("ns", "running"))


def test_new_version_mid_rollout_supersedes_on_the_record() -> None:
    old, status = deployed()
    second, third = spec("2.0.0"), spec("3.0.0")
    step = tick(second, status, ready(old), WorkloadObservation(exists=True, desired=1))
    step = tick(third, step.status, ready(old), WorkloadObservation(exists=True, desired=1), at=1)
    assert [e.reason for e in step.events] == ["Superseded", "RolloutStarted"]
    assert step.status.canary_version == "3.0.0"
    last = (step.status.history or [])[-1]
    assert (last.version, last.result) == ("2.0.0", "Superseded")
    assert plan(third, step.status).canary_spec == third


def test_promotion_on_request_says_so_in_history() -> None:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    step = tick(
        new,
        step.status,
        ready(old),
        WorkloadObservation(exists=True, desired=1),
        at=1,
        commands=Commands(promote=True),
    )
    assert step.status.stage is Stage.PROMOTING
    done = tick(new, step.status, ready(new), ready(new, desired=1), at=2)
    last = (done.status.history or [])[-1]
    assert (last.result, last.reason) == (
        "Promoted",
        "promoted on request, remaining steps skipped",
    )


def test_slots_freed_wake_the_head_of_the_line_first() -> None:
    slots = RolloutSlots(1)
    assert slots.claim("running")
    assert not slots.claim("first") and not slots.claim("second")
    assert slots.update("running", active=False) == ["first"]
    assert not slots.claim("second"), "the slot is the first one's: it waited longer"
    assert slots.claim("first")
    assert slots.update("first", active=False) == ["second"]


def test_slots_a_key_that_stops_waiting_leaves_the_line() -> None:
    slots = RolloutSlots(1)
    assert slots.claim("running")
    assert not slots.claim("reverted") and not slots.claim("next")
    slots.update("reverted", active=False)  # its spec went back: no longer queued
    assert slots.update("running", active=False) == ["next"]
    assert slots.forget("next") == [] and slots.claim("any")


REFUSED = [
    MetricResult(
        name="errors",
        ok=None,
        error=True,
        message="query 'rate((' failed: Prometheus refused the query (400): parse error",
    )
]


def test_a_refused_query_is_an_analysis_error_that_pauses_or_fails_per_inconclusive() -> None:
    pausing, step = analysed(REFUSED)
    assert step.status.stage is Stage.CANARY and step.status.current_step == 0
    progressing = next(c for c in step.status.conditions or [] if c.type == "Progressing")
    assert progressing.reason == "AnalysisError"
    assert "rate((" in progressing.message and "parse error" in progressing.message
    [event] = step.events
    assert (event.type, event.reason) == ("Warning", "AnalysisError")
    assert "rate((" in event.message
    # A wake between runs keeps the verdict and posts no second Event.
    between = tick(pausing, step.status, ready(spec("1.0.0")), ready(pausing, desired=1), at=2)
    assert between.events == [] and "rate((" in (between.status.message or "")

    failing, step = analysed(REFUSED, inconclusive="Fail", failureLimit=2)
    assert [(e.type, e.reason) for e in step.events] == [("Warning", "AnalysisError")]
    assert step.status.stage is Stage.CANARY
    for look in (step, tick(failing, step.status, ready(spec("1.0.0")), ready(failing), at=2)):
        progressing = next(c for c in look.status.conditions or [] if c.type == "Progressing")
        assert progressing.reason == "AnalysisError" and "rate((" in progressing.message
    step = tick(
        failing, step.status, ready(spec("1.0.0")), ready(failing, desired=1), REFUSED, at=20
    )
    assert step.status.phase is Phase.ROLLED_BACK and "rate((" in (step.status.message or "")


def test_a_hold_step_waits_for_a_person_then_promotes_on_request() -> None:
    old, status = deployed()
    new = spec("2.0.0", [{"weight": 20, "hold": True}, {"weight": 60}])
    step = tick(new, status, ready(old), ready(new, desired=1), at=0)
    for at in (10, 1000, 100_000):
        step = tick(new, step.status, ready(old), ready(new, desired=1), at=at)
        assert (step.status.current_step, step.status.canary_weight) == (0, 20)
        assert step.status.stage is Stage.CANARY
        assert "held until promoted" in (step.status.message or "")
    promoted = tick(
        new,
        step.status,
        ready(old),
        ready(new, desired=1),
        at=100_001,
        commands=Commands(promote=True),
    )
    assert promoted.status.stage is Stage.PROMOTING


def test_a_mirror_step_shadows_traffic_before_any_user_sees_the_canary() -> None:
    old, status = deployed()
    rollout = {
        "strategy": "Canary",
        "steps": [{"mirror": 100, "pause": "10s"}, {"weight": 20}],
        "trafficRouting": {"gateway": {}},
    }
    document = model_service(
        "m", "2.0.0", rollout=rollout, rateLimit={"redis": {"address": "redis://redis:6379/0"}}
    )
    new = parse_model_service(document).spec
    step = tick(new, status, ready(old), ready(new, desired=1), at=0)
    assert (step.status.current_step, step.status.canary_weight) == (0, 0)
    chosen = plan(new, step.status)
    assert (chosen.weight, chosen.mirror, chosen.canary_spec) == (0, 100, new)
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=1)
    assert "100% mirrored to canary" in (step.status.message or "")
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=20)
    assert (step.status.current_step, step.status.canary_weight) == (1, 20)
    assert (plan(new, step.status).weight, plan(new, step.status).mirror) == (20, 0)

"""Random walks of spec edits, observations and gate answers through the pure machine:
whatever the order, no look raises, the step status records exists in the spec's steps, and
the weight the plan applies is the weight status reports (and the step's weight, or 0 while
the first step's gates hold it; under BlueGreen 0 or 100, and status.blueGreen the phase
that weight is)."""

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import BlueGreenPhase, MetricResult, ModelServiceStatus, Stage
from modelops.manifests import parse_model_service
from modelops.render.pod import revision
from modelops.rollout.gate_io import GateOutcome
from modelops.rollout.gates import gates_passed, in_flight, step_point
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import plan, steps_of
from modelops.rollout.steps import PAUSED
from modelops.rollout.verdict import ANALYSIS_ERROR
from tests.support.rollout import METRIC, deployed, ready, spec, tick
from tests.support.samples import model_service

WEIGHTS = st.lists(st.integers(1, 99), min_size=1, max_size=5, unique=True).map(sorted)
STEPS = WEIGHTS.flatmap(
    lambda weights: st.lists(
        st.sampled_from([None, "0s", "5s"]), min_size=len(weights), max_size=len(weights)
    ).map(
        lambda pauses: [
            {"weight": w, **({"pause": p} if p else {})}
            for w, p in zip(weights, pauses, strict=True)
        ]
    )
)
RESULTS = st.sampled_from(
    [
        None,
        [MetricResult(name="errors", value=0.0, ok=True, message="within bounds")],
        [MetricResult(name="errors", value=0.9, ok=False, message="above max 0.05")],
        [MetricResult(name="errors", ok=None, error=True, message="query 'x' failed: 400")],
    ]
)
HOOK = "http://hooks.test/"
GATES = st.sampled_from(
    [
        None,
        {"jobs": [{"name": "golden", "at": "BeforeFirstStep", "template": {"spec": {}}}]},
        {
            "webhooks": [
                {"name": "ok", "type": "confirm-promotion", "url": HOOK},
                {"name": "each", "type": "rollout", "url": HOOK},
                {"name": "stop", "type": "rollback", "url": HOOK},
            ]
        },
    ]
)
# What the gate runs in flight answer at a look: nothing yet, all pass, all fail.
ANSWERS = st.sampled_from([None, True, False])
ACTIONS = st.one_of(
    st.tuples(st.just("steps"), STEPS),
    st.tuples(st.just("gates"), GATES),
    st.tuples(st.just("version"), st.sampled_from(["1.0.0", "2.0.0", "3.0.0"])),
    st.tuples(st.just("paused"), st.booleans()),
    st.tuples(st.just("strategy"), st.sampled_from(["Canary", "Immediate", "BlueGreen"])),
    st.tuples(st.just("metrics"), st.booleans()),
    # Looks are most of a walk: a rollout must start and move for edits to meet it.
    *[st.tuples(st.just("look"), st.tuples(st.booleans(), RESULTS, ANSWERS))] * 4,
)


# Steps of one and a job gate before it: the canary under way restarts at 0%, held there
# until the gate passes. The examples below differ in what meets it there.
HELD_AT_ZERO: list[tuple[str, Any]] = [
    ("steps", [{"weight": 1}]),
    ("gates", {"jobs": [{"name": "golden", "at": "BeforeFirstStep", "template": {"spec": {}}}]}),
]


def build(
    version: str,
    steps: list[dict[str, Any]],
    paused: bool,
    strategy: str,
    metrics: bool,
    gates: dict[str, Any] | None = None,
) -> ModelServiceSpec:
    analysis = {"metrics": [METRIC]} if metrics else {}
    extra = {"gates": gates} if gates else {}
    if strategy == "BlueGreen":
        # No steps under BlueGreen (admission refuses them), nor job gates naming one.
        body = {"strategy": strategy, "analysis": analysis, **extra}
        made = parse_model_service(model_service("m", version, rollout=body)).spec
    else:
        made = spec(version, steps, strategy=strategy, analysis=analysis, **extra)
    return made.model_copy(update={"paused": paused})


@settings(max_examples=300, deadline=None)
@given(st.lists(ACTIONS, min_size=1, max_size=30))
# Found by this test: gates before the first step taken out of the spec while they held the
# canary at 0% left it there for good.
@example(
    [
        *HELD_AT_ZERO,
        ("steps", [{"weight": 1, "pause": "5s"}, {"weight": 2}, {"weight": 3}]),
        ("look", (False, None, None)),
        ("gates", None),
        ("look", (False, None, None)),
    ]
)
# Found by 4,000-example runs: the same, with the rollout paused (by spec.paused, or by an
# analysis error) while the gates went.
@example(
    [
        *HELD_AT_ZERO,
        ("paused", True),
        ("look", (False, None, None)),
        ("gates", None),
        ("look", (False, None, None)),
    ]
)
@example(
    [
        *HELD_AT_ZERO,
        ("look", (False, None, None)),
        ("gates", None),
        ("look", (False, [MetricResult(name="errors", error=True, message="query failed")], None)),
    ]
)
# status.blueGreen was written only when a rollout started or restarted: a canary held at 0%
# turned BlueGreen (no restart, the weight is a preview's) was a preview without the phase.
@example(
    [
        *HELD_AT_ZERO,
        ("look", (False, None, None)),
        ("strategy", "BlueGreen"),
        ("look", (False, None, None)),
    ]
)
def test_any_walk_keeps_the_step_in_range_and_one_weight(actions: list[tuple[str, Any]]) -> None:
    _, status = deployed()
    # Each walk starts with v2's canary under way: the edits meet a rollout in flight.
    state: dict[str, Any] = {
        "version": "2.0.0",
        "steps": [{"weight": 20}, {"weight": 40}, {"weight": 60}, {"weight": 80}],
        "paused": False,
        "strategy": "Canary",
        "metrics": False,
        "gates": None,
    }
    step = tick(build(**state), status, ready(spec("1.0.0")))
    status = step.status
    wanted = in_flight(status, step.gate_runs)
    now = 0.0
    for kind, value in actions:
        if kind != "look":
            state[kind] = value
            continue
        canary_ready, results, answer = value
        now += 10
        current = build(**state)
        stable_spec = plan(current, status).stable_spec
        canary = ready(current, desired=1) if canary_ready else WorkloadObservation(exists=True)
        answers = {} if answer is None else {r.id: GateOutcome(answer, "x") for r in wanted}
        step = tick(current, status, ready(stable_spec), canary, results, at=now, gates=answers)
        status = step.status
        wanted = in_flight(status, step.gate_runs)
        check(current, status)


def held(status: ModelServiceStatus) -> bool:
    """This look ended held by a pause: spec.paused, modelops pause, or Inconclusive Pause."""
    return any(c.reason in {PAUSED, ANALYSIS_ERROR} for c in status.conditions or ())


def check(current: ModelServiceSpec, status: ModelServiceStatus) -> None:
    if status.stage is not Stage.CANARY or status.canary_revision != revision(current):
        return
    if current.is_blue_green:
        # All or nothing: 0% in preview, 100% once switched, whatever the strategy was.
        assert status.canary_weight == (100 if status.switched_at else 0)
        phase = BlueGreenPhase.SWITCHED if status.switched_at else BlueGreenPhase.PREVIEW
        assert status.blue_green is phase
        assert plan(current, status).weight == status.canary_weight
        return
    assert status.blue_green is None  # a canary's steps: no blue-green phase
    steps = steps_of(current)
    index = status.current_step or 0
    assert index < len(steps)
    if index == 0 and (held(status) or not gates_passed(current, status, step_point(0))):
        # Held at 0% before the first step's gates pass (or at the first weight, when the
        # gates were added after the rollout started). A paused rollout (spec.paused, or
        # analysis that cannot answer) keeps the 0% it was held at even when those gates are
        # taken out meanwhile: a pause holds it where it is, and the next look moves it on.
        assert status.canary_weight in {0, steps[0].weight}
    else:
        assert status.canary_weight == steps[index].weight
    assert plan(current, status).weight == status.canary_weight

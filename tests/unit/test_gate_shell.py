"""The shell's side of rollout gates: the webhook POST and its retries against a real HTTP
server, the runner that keeps calls off the reconcile, the Job a gate renders, and how
``kubectl modelops status`` shows gates."""

import threading
from collections.abc import Iterator

import pytest

from modelops.commands import describe
from modelops.controller.gate_jobs import _verdict
from modelops.controller.gates import GateRunner
from modelops.health.webhook import call_webhook
from modelops.manifests import parse_model_service
from modelops.render import desired_children, possible_children
from modelops.render.context import RenderContext
from modelops.render.gates import gate_job, webhook_payload
from modelops.rollout.gate_io import GateOutcome
from tests.support.receiver import Receiver
from tests.support.samples import model_service


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


def no_sleep(_: float) -> None:
    pass


def test_a_2xx_passes_and_the_payload_arrives_as_json(receiver: Receiver) -> None:
    outcome = call_webhook(
        receiver.url + "/gate", {"name": "m"}, timeout=5, retries=2, sleep=no_sleep
    )
    assert outcome == GateOutcome(True, "HTTP 200: answer 200")
    assert receiver.bodies("/gate") == [{"name": "m"}]


def test_a_5xx_is_retried_then_passes(receiver: Receiver) -> None:
    receiver.codes["/gate"] = [503, 502]
    outcome = call_webhook(receiver.url + "/gate", {}, timeout=5, retries=2, sleep=no_sleep)
    assert outcome.passed
    assert len(receiver.bodies("/gate")) == 3


def test_5xx_on_every_try_is_a_failed_check(receiver: Receiver) -> None:
    receiver.codes["/gate"] = [500, 500, 500]
    outcome = call_webhook(receiver.url + "/gate", {}, timeout=5, retries=2, sleep=no_sleep)
    assert outcome == GateOutcome(False, "HTTP 500: answer 500 (after 3 tries)")


def test_a_4xx_fails_at_once(receiver: Receiver) -> None:
    receiver.codes["/gate"] = [403]
    outcome = call_webhook(receiver.url + "/gate", {}, timeout=5, retries=2, sleep=no_sleep)
    assert outcome == GateOutcome(False, "HTTP 403: answer 403")
    assert len(receiver.bodies("/gate")) == 1


def test_nobody_listening_is_retried_then_fails() -> None:
    waits: list[float] = []
    outcome = call_webhook("http://127.0.0.1:9/gate", {}, timeout=1, retries=2, sleep=waits.append)
    assert not outcome.passed
    assert outcome.message.endswith("(after 3 tries)")
    assert waits == [1.0, 2.0]


def test_the_runner_runs_off_the_caller_keeps_outcomes_and_cancels_what_is_not_wanted() -> None:
    runner = GateRunner()
    release = threading.Event()
    woken = threading.Event()
    cancelled: list[str] = []

    def quick(_: threading.Event) -> GateOutcome:
        return GateOutcome(True, "ok")

    def slow(stop: threading.Event) -> GateOutcome:
        stop.wait(5)
        cancelled.append("slow" if stop.is_set() else "ran out")
        release.set()
        return GateOutcome(False, "stopped")

    key = ("ns", "m")
    assert runner.sync(key, {"a": quick, "b": slow}, woken.set) == ["a", "b"]
    assert woken.wait(5)
    assert runner.outcomes(key) == {"a": GateOutcome(True, "ok")}
    # Asked again while in flight or finished: nothing starts twice.
    assert runner.sync(key, {"a": quick, "b": slow}, woken.set) == []
    assert runner.outcomes(key) == {"a": GateOutcome(True, "ok")}
    # No longer wanted: the finished outcome is forgotten, the running one told to stop.
    runner.sync(key, {}, woken.set)
    assert release.wait(5)
    assert cancelled == ["slow"]
    assert runner.outcomes(key) == {}


def test_a_fired_run_goes_once() -> None:
    runner = GateRunner()
    got: list[GateOutcome] = []
    done = threading.Event()

    def record(outcome: GateOutcome) -> None:
        got.append(outcome)
        done.set()

    def call(_: threading.Event) -> GateOutcome:
        return GateOutcome(True, "told")

    assert runner.fire("webhook/tell@post#1", call, record)
    assert not runner.fire("webhook/tell@post#1", call, record)
    assert done.wait(5)
    assert got == [GateOutcome(True, "told")]


def context() -> RenderContext:
    rollout = {
        "steps": [{"weight": 20}],
        "gates": {
            "jobs": [
                {
                    "name": "golden",
                    "at": "BeforeFirstStep",
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "eval",
                                    "image": "eval:1",
                                    "env": [{"name": "CANARY_URL", "value": "mine"}],
                                }
                            ]
                        }
                    },
                }
            ],
            "webhooks": [
                {
                    "name": "ok",
                    "type": "confirm-promotion",
                    "url": "http://h/",
                    "metadata": {"a": "b"},
                }
            ],
        },
    }
    body = model_service("m", "2.0.0", rollout=rollout)
    body["metadata"].update({"namespace": "ml", "uid": "u-1"})
    service = parse_model_service(body)
    return RenderContext.for_service(service, service.spec)


def test_a_job_gate_is_owned_told_the_urls_and_selected_by_no_service() -> None:
    ctx = context()
    gates = ctx.spec.rollout.gates if ctx.spec.rollout else None
    assert gates is not None and gates.jobs
    job = gate_job(ctx, gates.jobs[0], "job/golden@step-1#1", "rev1", "1.0.0")
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert len(job["metadata"]["name"]) <= 63
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert "modelops.dev/track" not in pod["metadata"]["labels"]
    assert "app.kubernetes.io/component" not in pod["metadata"]["labels"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == {
        "MODELSERVICE": "m",
        "CANARY_URL": "http://m-canary.ml.svc.cluster.local.:80",
        "STABLE_URL": "http://m-stable.ml.svc.cluster.local.:80",
        "CANARY_VERSION": "2.0.0",
        "STABLE_VERSION": "1.0.0",
    }
    assert pod["spec"]["restartPolicy"] == "Never"
    again = gate_job(ctx, gates.jobs[0], "job/golden@step-1#1", "rev2", "1.0.0")
    assert again["metadata"]["name"] != job["metadata"]["name"]  # one Job per revision


def test_a_webhook_payload_names_the_service_versions_step_and_weight() -> None:
    ctx = context()
    gates = ctx.spec.rollout.gates if ctx.spec.rollout else None
    assert gates is not None and gates.webhooks
    payload = webhook_payload(ctx, gates.webhooks[0], "step-2", 20, "1.0.0")
    assert {k: payload[k] for k in ("name", "namespace", "type", "gate", "step", "weight")} == {
        "name": "m",
        "namespace": "ml",
        "type": "confirm-promotion",
        "gate": "ok",
        "step": 2,
        "weight": 20,
    }
    assert (payload["canaryVersion"], payload["stableVersion"]) == ("2.0.0", "1.0.0")
    assert payload["metadata"] == {"a": "b"}


@pytest.mark.parametrize(
    ("conditions", "verdict"),
    [
        ([], None),
        ([{"type": "Complete", "status": "True"}], (True, "succeeded")),
        (
            [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
            (False, "BackoffLimitExceeded"),
        ),
        ([{"type": "Failed", "status": "False"}], None),
    ],
)
def test_a_job_is_judged_by_its_conditions(
    conditions: list[dict[str, str]], verdict: tuple[bool, str] | None
) -> None:
    assert _verdict({"status": {"conditions": conditions}}) == verdict


def test_status_shows_the_gates() -> None:
    body = {
        "metadata": {"namespace": "ml", "name": "m"},
        "status": {
            "phase": "RolledBack",
            "gates": [
                {
                    "name": "golden",
                    "kind": "Job",
                    "point": "step-1",
                    "phase": "Failed",
                    "message": "log: 2/3 wrong",
                },
                {
                    "name": "ok",
                    "kind": "Webhook",
                    "point": "promotion",
                    "phase": "Waiting",
                    "attempt": 3,
                },
            ],
        },
    }
    text = describe(body)
    assert "  gate     job golden (step-1): Failed log: 2/3 wrong" in text
    assert "  gate     webhook ok (promotion): Waiting (try 3)" in text


def test_replica_routing_has_track_services_only_while_gates_are_declared() -> None:
    ctx = context()
    names = {m["metadata"]["name"] for m in desired_children(ctx) if m["kind"] == "Service"}
    assert names == {"m", "m-stable"}  # no canary running: its Service would select nothing
    ungated = parse_model_service(model_service("m", rollout={"steps": [{"weight": 20}]}))
    plain = RenderContext.for_service(ungated, ungated.spec)
    services = {m["metadata"]["name"] for m in desired_children(plain) if m["kind"] == "Service"}
    assert services == {"m"}
    # Still possible children: gates taken out of the spec take their Services along.
    assert {r.name for r in possible_children(plain) if r.kind == "Service"} >= {
        "m-stable",
        "m-canary",
    }

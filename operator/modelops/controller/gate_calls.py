"""The runs the rollout machine wants, made into calls the gate runner can start: a webhook
POST, or a Job created and waited for. Built during the reconcile (which has the rendered
context) and run on the runner's threads."""

import threading
from collections.abc import Callable
from functools import partial

from modelops.api.base import parse_duration_seconds
from modelops.api.gates import Gates
from modelops.controller.gate_jobs import run_job_gate
from modelops.controller.gates import Call
from modelops.health.webhook import call_webhook
from modelops.kube.client import Kube
from modelops.render.context import RenderContext
from modelops.render.gates import gate_job, webhook_payload
from modelops.render.pod import revision
from modelops.rollout.gate_io import GateOutcome, GateRun
from modelops.rollout.gates import JOB


def _ignoring_cancel(call: Callable[[], GateOutcome]) -> Call:
    """A webhook call runs to its end (bounded by its timeout and retries)."""

    def run(_: threading.Event) -> GateOutcome:
        return call()

    return run


def gate_call(kube: Kube, ctx: RenderContext, run: GateRun, stable_version: str | None) -> Call:
    gates = (ctx.spec.rollout.gates if ctx.spec.rollout else None) or Gates()
    if run.kind == JOB:
        job = next(j for j in gates.jobs or () if j.name == run.name)
        manifest = gate_job(ctx, job, run.id, revision(ctx.spec), stable_version)
        return partial(run_job_gate, kube, manifest)
    hook = next(h for h in gates.webhooks or () if h.name == run.name)
    payload = webhook_payload(ctx, hook, run.point, run.weight, stable_version)
    timeout = parse_duration_seconds(hook.timeout)
    return _ignoring_cancel(
        partial(call_webhook, hook.url, payload, timeout=timeout, retries=hook.retries)
    )


def gate_calls(
    kube: Kube, ctx: RenderContext, runs: list[GateRun], stable_version: str | None
) -> dict[str, Call]:
    """Calls by run id, for the gates still declared (a gate removed from the spec is not run)."""
    calls = {}
    for run in runs:
        try:
            calls[run.id] = gate_call(kube, ctx, run, stable_version)
        except StopIteration:
            continue
    return calls

"""The operator's Prometheus metrics (served on /metrics by ``modelops run``)."""

import contextlib

from prometheus_client import Counter, Gauge, Histogram

from modelops.api.status import Phase

RECONCILES = Counter(
    "modelops_reconcile_total", "Reconciles of a ModelService, by result.", ["result"]
)
RECONCILE_SECONDS = Histogram(
    "modelops_reconcile_duration_seconds",
    "Time of one reconcile, by result.",
    ["result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_WRITES = Counter(
    "modelops_api_writes_total", "Write requests sent to the API server.", ["verb", "kind"]
)
ROLLOUTS = Counter(
    "modelops_rollouts_total", "Rollouts that ended, by result (Promoted, RolledBack).", ["result"]
)
CANARY_WEIGHT = Gauge(
    "modelops_canary_weight_percent",
    "Traffic weight of the canary per ModelService (0 when none runs).",
    ["namespace", "name"],
)
ANALYSIS_SAMPLES = Counter(
    "modelops_analysis_samples_total",
    "Samples of canary metrics between analysis runs, by result (pass, fail, error).",
    ["result"],
)
NOTIFICATIONS = Counter(
    "modelops_notifications_total",
    "Rollout notifications to webhook receivers, by result (delivered, failed, dropped).",
    ["result"],
)
NOTIFICATION_SECONDS = Histogram(
    "modelops_notification_delivery_seconds",
    "From the Event's time to the receiver's 2xx answer, retries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GATE_RUNS = Counter(
    "modelops_gate_runs_total",
    "Rollout gate runs (Job or webhook) that finished, by result (pass, fail).",
    ["result"],
)
MANAGED = Gauge("modelops_managed_modelservices", "ModelServices this operator reconciles.")
PHASES = Gauge(
    "modelops_modelservice_phase",
    "1 for the phase each ModelService is in, 0 for the others.",
    ["namespace", "name", "phase"],
)


def set_phase(namespace: str, name: str, phase: str | None) -> None:
    """One series per phase, so alerts can match ``{phase="RolledBack"} == 1``."""
    for candidate in Phase:
        PHASES.labels(namespace, name, candidate.value).set(1 if candidate.value == phase else 0)


def forget(namespace: str, name: str) -> None:
    """A deleted ModelService leaves no series behind."""
    series: list[tuple[Gauge, tuple[str, ...]]] = [
        (PHASES, (namespace, name, phase.value)) for phase in Phase
    ]
    series.append((CANARY_WEIGHT, (namespace, name)))
    for gauge, labels in series:
        # Never set for a ModelService whose first reconcile failed.
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)

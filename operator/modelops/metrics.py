"""The operator's Prometheus metrics (served on /metrics by ``modelops run``)."""

from prometheus_client import Counter, Gauge, Histogram

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
MANAGED = Gauge("modelops_managed_modelservices", "ModelServices this operator reconciles.")
PHASES = Gauge(
    "modelops_modelservice_phase",
    "1 for the phase each ModelService is in.",
    ["namespace", "name", "phase"],
)

"""Invalid ModelServices, each with the field its error must name. Shared by the unit test
(offline validation, as `modelops render` does it) and the cluster test (admission by the API
server), so both sides are held to the same promise."""

from dataclasses import dataclass
from typing import Any

from tests.support.samples import model_service

CANARY = {"steps": [{"weight": 10}], "trafficRouting": {"replicas": {}}}


@dataclass(frozen=True)
class Invalid:
    id: str
    spec: dict[str, Any]
    field: str  # the field path the message must name

    def manifest(self) -> dict[str, Any]:
        document = model_service(f"bad-{self.id}")
        document["spec"].update(self.spec)
        return document


def _model(**fields: Any) -> dict[str, Any]:
    base = {"name": "demo-model", "version": "1.0.0", "image": "registry.invalid/demo:1"}
    base.update(fields)
    return {"model": {k: v for k, v in base.items() if v is not None}}


def _budget(**fields: Any) -> dict[str, Any]:
    base = {"name": "daily", "period": "Day", "requests": 10}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


CASES = [
    Invalid("port-high", _model(port=70000), "spec.model.port"),
    Invalid("port-zero", _model(port=0), "spec.model.port"),
    Invalid("no-image", _model(image=None), "spec.model.image"),
    Invalid("bad-name", _model(name="Bad_Name"), "spec.model.name"),
    Invalid("negative-replicas", {"replicas": -1}, "spec.replicas"),
    Invalid("replicas-type", {"replicas": "two"}, "spec.replicas"),
    Invalid("unknown-field", {"modle": {}}, "modle"),
    Invalid(
        "min-over-max",
        {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
        "spec.autoscaling.minReplicas",
    ),
    Invalid(
        "weights-decrease",
        {"rollout": {"steps": [{"weight": 50}, {"weight": 10}]}},
        "spec.rollout.steps",
    ),
    Invalid(
        "weight-100", {"rollout": {"steps": [{"weight": 100}]}}, "spec.rollout.steps[0].weight"
    ),
    Invalid("weight-0", {"rollout": {"steps": [{"weight": 0}]}}, "spec.rollout.steps[0].weight"),
    Invalid(
        "mirror-with-replicas",
        {"rollout": {**CANARY, "steps": [{"mirror": 100}, {"weight": 10}]}},
        "spec.rollout.steps",
    ),
    Invalid("canary-no-steps", {"rollout": {"strategy": "Canary"}}, "spec.rollout.steps"),
    Invalid(
        "gate-before-missing-step",
        {
            "rollout": {
                **CANARY,
                "gates": {
                    "jobs": [{"name": "e", "at": "BeforeStep", "step": 2, "template": {"spec": {}}}]
                },
            }
        },
        "spec.rollout.gates.jobs",
    ),
    Invalid(
        "webhook-gate-type",
        {
            "rollout": {
                **CANARY,
                "gates": {"webhooks": [{"name": "w", "type": "x", "url": "http://h"}]},
            }
        },
        "spec.rollout.gates.webhooks[0].type",
    ),
    Invalid("strategy", {"rollout": {"strategy": "RedBlack"}}, "spec.rollout.strategy"),
    Invalid(
        "blue-green-steps",
        {"rollout": {**CANARY, "strategy": "BlueGreen"}},
        "spec.rollout.strategy",
    ),
    Invalid(
        "blue-green-on-canary",
        {"rollout": {**CANARY, "blueGreen": {"scaleDownDelaySeconds": 5}}},
        "spec.rollout.strategy",
    ),
    Invalid(
        "blue-green-delay",
        {"rollout": {"strategy": "BlueGreen", "blueGreen": {"scaleDownDelaySeconds": -1}}},
        "spec.rollout.blueGreen.scaleDownDelaySeconds",
    ),
    Invalid(
        "two-routers",
        {"rollout": {**CANARY, "trafficRouting": {"replicas": {}, "istio": {}}}},
        "spec.rollout.trafficRouting",
    ),
    Invalid(
        "no-router",
        {"rollout": {**CANARY, "trafficRouting": {}}},
        "spec.rollout.trafficRouting",
    ),
    Invalid(
        "drain-past-grace",
        {"podTemplate": {"drainSeconds": 10, "terminationGracePeriodSeconds": 10}},
        "spec.podTemplate.drainSeconds",
    ),
    Invalid(
        "sticky-on-a-mesh",
        {"rollout": {**CANARY, "trafficRouting": {"istio": {"stickyHeader": "X-User-ID"}}}},
        "spec.rollout.trafficRouting.istio.stickyHeader",
    ),
    Invalid(
        "pause-duration",
        {"rollout": {"steps": [{"weight": 10, "pause": "5 minutes"}]}},
        "spec.rollout.steps[0].pause",
    ),
    Invalid(
        "interval-duration",
        {"rollout": {**CANARY, "analysis": {"interval": "fast"}}},
        "spec.rollout.analysis.interval",
    ),
    Invalid(
        "metric-no-bound",
        {
            "rollout": {
                **CANARY,
                "analysis": {
                    "metrics": [
                        {
                            "name": "errors",
                            "prometheus": {"address": "http://p:9090", "query": "up"},
                        }
                    ]
                },
            }
        },
        "spec.rollout.analysis.metrics[0]",
    ),
    Invalid(
        "metric-address",
        {
            "rollout": {
                **CANARY,
                "analysis": {
                    "metrics": [
                        {
                            "name": "errors",
                            "max": 1,
                            "prometheus": {"address": "p:9090", "query": "up"},
                        }
                    ]
                },
            }
        },
        "spec.rollout.analysis.metrics[0].prometheus.address",
    ),
    Invalid(
        "duplicate-tiers",
        {"rateLimit": {"tiers": [{"name": "free"}, {"name": "free"}]}},
        "spec.rateLimit.tiers",
    ),
    Invalid(
        "default-tier-unknown",
        {"rateLimit": {"tiers": [{"name": "free"}], "defaultTier": "gold"}},
        "spec.rateLimit.defaultTier",
    ),
    Invalid(
        "probe-path", {"probes": {"readiness": {"path": "ready"}}}, "spec.probes.readiness.path"
    ),
    Invalid(
        "budget-tier-unknown",
        {"rateLimit": {"budgets": {"limits": [_budget(tier="gold")]}}},
        "spec.rateLimit.budgets",
    ),
    Invalid(
        "duplicate-budgets",
        {"rateLimit": {"budgets": {"limits": [_budget(), _budget()]}}},
        "spec.rateLimit.budgets.limits",
    ),
    Invalid(
        "budget-without-cap",
        {"rateLimit": {"budgets": {"limits": [_budget(requests=None)]}}},
        "spec.rateLimit.budgets.limits[0]",
    ),
    Invalid(
        "budget-period",
        {"rateLimit": {"budgets": {"limits": [_budget(period="Week")]}}},
        "spec.rateLimit.budgets.limits[0].period",
    ),
    Invalid(
        "redis-address-and-sentinel",
        {
            "rateLimit": {
                "redis": {
                    "address": "redis:6379",
                    "sentinel": {"masterName": "main", "addresses": ["sentinel:26379"]},
                }
            }
        },
        "spec.rateLimit.redis",
    ),
    # Without Redis each pod counts alone: 3 replicas would allow 3 times the limits.
    Invalid(
        "ratelimit-3-replicas-without-redis",
        {"replicas": 3, "rateLimit": {"requestsPerMinute": 10}},
        "spec.rateLimit",
    ),
    Invalid(
        "ratelimit-autoscaled-without-redis",
        {
            "replicas": 1,
            "autoscaling": {"minReplicas": 1, "maxReplicas": 3},
            "rateLimit": {"requestsPerMinute": 10},
        },
        "spec.rateLimit",
    ),
    Invalid("datapath-without-ratelimit", {"dataPath": {}}, "spec.dataPath"),
    Invalid(
        "retries-too-many",
        {"replicas": 1, "rateLimit": {}, "dataPath": {"retries": {"attempts": 11}}},
        "spec.dataPath.retries.attempts",
    ),
    Invalid(
        "connect-timeout-too-long",
        {"replicas": 1, "rateLimit": {}, "dataPath": {"timeouts": {"connect": "11m"}}},
        "spec.dataPath.timeouts.connect",
    ),
    Invalid(
        "api-keys-secret-name",
        {"replicas": 1, "rateLimit": {"auth": {"secretName": "Not_A_Name"}}},
        "spec.rateLimit.auth.secretName",
    ),
]

# spec.model.source: unknown schemes, malformed URIs, missing credentials, misplaced options.
S3_SOURCE = {"uri": "s3://models/demo", "credentialsSecret": "s3-creds"}
CASES += [
    Invalid("source-scheme", _model(source={"uri": "ftp://host/m.bin"}), "spec.model.source.uri"),
    Invalid("source-malformed", _model(source={"uri": "s3://B/x"}), "spec.model.source.uri"),
    Invalid("source-hf-no-model", _model(source={"uri": "hf://org"}), "spec.model.source.uri"),
    Invalid(
        "source-s3-no-credentials",
        _model(source={"uri": "s3://models/demo"}),
        "spec.model.source.credentialsSecret",
    ),
    Invalid(
        "source-sha256-not-https",
        _model(source={**S3_SOURCE, "sha256": "0" * 64}),
        "spec.model.source.sha256",
    ),
    Invalid(
        "source-revision-not-hf",
        _model(source={**S3_SOURCE, "revision": "main"}),
        "spec.model.source.revision",
    ),
    Invalid(
        "source-pvc-cache",
        _model(source={"uri": "pvc://weights/demo", "cache": {"claimName": "cache"}}),
        "spec.model.source.cache",
    ),
    Invalid(
        "source-mount-path",
        _model(source={**S3_SOURCE, "mountPath": "models"}),
        "spec.model.source.mountPath",
    ),
]

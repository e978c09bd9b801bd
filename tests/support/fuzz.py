"""Generated ModelService documents, valid and not, each with the class of input it is and,
where it must be refused at admission, the field the refusal must name.

A case is a valid document (optional sections drawn at random: autoscaling, probes, rate
limits, a canary) with at most one mutation applied: a huge string, a wrong type, an unknown
field, a negative number, a weight over 100, duplicate tiers, or junk in a free-form field that
the CRD passes through (tolerations, affinity, labels) and only the child's own schema refuses.
The hand-written cases of ``tests.support.invalid`` are drawn too.
"""

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.support.invalid import CASES

# A value no log may ever show (the operator gets it in spec.model.env).
SECRET_MARKER = "sk-fuzz-secret-7f3a9c"

DNS_LABEL = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")


@dataclass(frozen=True)
class Case:
    kind: str  # the class of input, for the tally
    spec: dict[str, Any]
    # Where admission must refuse it, the field its message must name; None: the API server
    # may accept it, and then the operator must reconcile it or report it in status.
    field: str | None

    def __repr__(self) -> str:
        # Huge strings stay out of failure reports.
        text = repr(self.spec)
        cut = text if len(text) <= 2000 else text[:2000] + f"... ({len(text)} chars)"
        return f"Case({self.kind!r}, field={self.field!r}, spec={cut})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints failing examples with this, not __repr__.
        printer.text(repr(self))

    def manifest(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelService",
            "metadata": {"name": name},
            "spec": copy.deepcopy(self.spec),
        }


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(st.from_regex(r"\A[0-9]\.[0-9]{1,2}\.[0-9]\Z"))
    spec: dict[str, Any] = {
        "model": {
            "name": draw(DNS_LABEL),
            "version": version,
            "image": f"registry.invalid/fuzz:{version}",
            "port": draw(st.integers(1, 65535)),
            "env": [{"name": "API_KEY", "value": SECRET_MARKER}],
        },
        "replicas": draw(st.integers(0, 3)),
    }
    if draw(st.booleans()):
        low = draw(st.integers(1, 3))
        spec["autoscaling"] = {"minReplicas": low, "maxReplicas": low + draw(st.integers(0, 3))}
    if draw(st.booleans()):
        spec["probes"] = {"readiness": {"path": "/" + draw(DNS_LABEL)}}
    if draw(st.booleans()):
        tiers = draw(st.lists(DNS_LABEL, min_size=1, max_size=3, unique=True))
        spec["rateLimit"] = {
            "requestsPerMinute": draw(st.integers(0, 10_000)),
            "tiers": [
                {"name": tier, "requestsPerMinute": draw(st.integers(0, 1000))} for tier in tiers
            ],
            "defaultTier": draw(st.sampled_from(tiers)),
        }
        most = spec["autoscaling"]["maxReplicas"] if "autoscaling" in spec else spec["replicas"]
        if most > 1:
            # Counted in each pod alone otherwise: admission refuses it.
            spec["rateLimit"]["redis"] = {"address": "redis.invalid:6379"}
    if draw(st.booleans()):
        weights = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=3)))
        spec["rollout"] = {
            "strategy": "Canary",
            "steps": [{"weight": weight, "pause": "1s"} for weight in weights],
            "trafficRouting": {"replicas": {}},
        }
    return spec


def _set(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``spec`` with ``value`` at a dotted path below spec (dicts made on the way)."""
    out = copy.deepcopy(spec)
    node = out
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


HUGE = 100_000  # characters: far past every maxLength, well under the API's request limit

# (class, path below spec, value, field the refusal names or None when it may pass admission)
MUTATIONS: list[tuple[str, str, Any, str | None]] = [
    ("huge-string", "model.image", "x" * HUGE, "spec.model.image"),
    ("huge-string", "model.name", "a" * HUGE, "spec.model.name"),
    ("huge-string", "model.version", "1" * HUGE, "spec.model.version"),
    # Pass the CRD (annotations are free text). 200 KB: the Deployment takes it (and kopf
    # must not copy it into an annotation of its own); 300 KB: the Deployment's cap refuses it.
    ("huge-string", "podTemplate.annotations", {"big": "y" * 200_000}, None),
    ("huge-string", "podTemplate.annotations", {"big": "y" * 300_000}, None),
    ("wrong-type", "replicas", "three", "spec.replicas"),
    ("wrong-type", "model.port", "http", "spec.model.port"),
    ("wrong-type", "model", ["not", "an", "object"], "spec.model"),
    ("wrong-type", "rollout", "Canary", "spec.rollout"),
    ("wrong-type", "autoscaling.maxReplicas", 2.5, "spec.autoscaling.maxReplicas"),
    ("unknown-field", "replica", 2, "spec.replica"),
    ("unknown-field", "model.gpu", True, "spec.model.gpu"),
    ("negative-number", "replicas", -3, "spec.replicas"),
    ("negative-number", "model.port", -8080, "spec.model.port"),
    ("negative-number", "rateLimit.requestsPerMinute", -1, "spec.rateLimit.requestsPerMinute"),
    (
        "weight-over-100",
        "rollout",
        {"strategy": "Canary", "steps": [{"weight": 150}], "trafficRouting": {"replicas": {}}},
        "spec.rollout.steps[0].weight",
    ),
    (
        "duplicate-tiers",
        "rateLimit",
        {"tiers": [{"name": "gold"}, {"name": "gold"}]},
        "spec.rateLimit.tiers",
    ),
    # Free-form fields the CRD passes through: the child's schema decides.
    ("free-form-junk", "podTemplate.tolerations", [{"operator": "Bogus", "whatever": 3}], None),
    ("free-form-junk", "podTemplate.affinity", {"nodeAffinity": {"unknownRule": 1}}, None),
    ("free-form-junk", "podTemplate.labels", {"team": "spaces are not allowed"}, None),
    ("free-form-junk", "podTemplate.serviceAccountName", "Not_A_Name", None),
]


# Every mutation once on a plain valid spec, run before the drawn cases: each class is tried
# in every run, whatever the draws favour.
BASE_SPEC: dict[str, Any] = {
    "model": {
        "name": "base",
        "version": "1.0.0",
        "image": "registry.invalid/fuzz:1.0.0",
        "env": [{"name": "API_KEY", "value": SECRET_MARKER}],
    },
    "replicas": 1,
}
EVERY_MUTATION = [
    Case(kind, _set(BASE_SPEC, path, value), field) for kind, path, value, field in MUTATIONS
]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return Case("valid", draw(valid_specs()), None)
    if choice == 1:
        case = draw(st.sampled_from(CASES))
        return Case("hand-written", case.manifest()["spec"], case.field)
    kind, path, value, field = draw(st.sampled_from(MUTATIONS))
    return Case(kind, _set(draw(valid_specs()), path, value), field)

"""What a renderer needs besides the spec: the owner's identity and the rollout's state."""

from dataclasses import dataclass
from enum import StrEnum

from modelops import __version__
from modelops.api.spec import ModelService, ModelServiceSpec

DEFAULT_GATEWAY_IMAGE = f"modelops:{__version__}"


class Track(StrEnum):
    STABLE = "stable"
    CANARY = "canary"


def _retired_routing(service: ModelService) -> str | None:
    rendered = (service.status or {}).get("routing")
    return str(rendered) if rendered and rendered != service.spec.routing_provider else None


@dataclass(frozen=True)
class RenderContext:
    """One ModelService as it should look right now.

    ``stable_spec`` is the spec whose pod template the stable Deployment runs: the current spec
    outside a rollout, the last promoted spec during one. ``canary_spec`` is set only while a
    canary exists.
    """

    name: str
    namespace: str
    uid: str
    spec: ModelServiceSpec
    stable_spec: ModelServiceSpec
    canary_spec: ModelServiceSpec | None = None
    canary_weight: int = 0
    # Percent of stable's requests shadowed to the canary (a mirror step, gateway routing).
    mirror: int = 0
    # The operator's own image, which also runs the rate-limit gateway sidecar.
    gateway_image: str = DEFAULT_GATEWAY_IMAGE
    # The canary's pods when they do not follow the weight (a blue-green preview: full size).
    canary_replicas: int | None = None
    # The routing provider status says was rendered, when the spec now names another: its
    # objects are among the possible children, so they are deleted, not left routing.
    retired_routing: str | None = None

    @classmethod
    def for_service(
        cls,
        service: ModelService,
        stable_spec: ModelServiceSpec,
        canary_spec: ModelServiceSpec | None = None,
        canary_weight: int = 0,
        gateway_image: str = DEFAULT_GATEWAY_IMAGE,
        *,
        mirror: int = 0,
        canary_replicas: int | None = None,
    ) -> "RenderContext":
        return cls(
            name=service.metadata.name,
            namespace=service.metadata.namespace,
            uid=service.metadata.uid or "",
            spec=service.spec,
            stable_spec=stable_spec,
            canary_spec=canary_spec,
            canary_weight=canary_weight,
            mirror=mirror,
            gateway_image=gateway_image,
            canary_replicas=canary_replicas,
            retired_routing=_retired_routing(service),
        )

    @classmethod
    def steady(
        cls, service: ModelService, gateway_image: str = DEFAULT_GATEWAY_IMAGE
    ) -> "RenderContext":
        """No rollout under way: stable runs the current spec."""
        return cls.for_service(service, service.spec, gateway_image=gateway_image)

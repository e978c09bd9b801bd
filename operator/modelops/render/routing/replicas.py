"""No mesh: the main Service selects the pods of both tracks, so each pod gets an equal share
and the canary's weight is its share of the pods. Nothing extra to render, but for rollout
gates: a gate's Job or webhook is given each track's URL, so the per-track Services
(``<name>-stable``, ``<name>-canary``) exist while gates are declared."""

from typing import Any

from modelops.render.context import RenderContext
from modelops.render.refs import ChildRef, ref_of
from modelops.render.routing.track_services import track_service_refs, track_services


def _gated(ctx: RenderContext) -> bool:
    return ctx.spec.rollout is not None and ctx.spec.rollout.gates is not None


class ReplicaRouting:
    def possible_children(self, ctx: RenderContext) -> list[ChildRef]:
        # Always: when the gates go from the spec, their Services are deleted.
        return sorted(track_service_refs(ctx))

    def manifests(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return sorted(track_services(ctx), key=ref_of) if _gated(ctx) else []

"""No mesh: the main Service selects the pods of both tracks, so each pod gets an equal share
and the canary's weight is its share of the pods. Nothing extra to render."""

from typing import Any

from modelops.render.context import RenderContext
from modelops.render.refs import ChildRef


class ReplicaRouting:
    def possible_children(self, ctx: RenderContext) -> list[ChildRef]:
        return []

    def manifests(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []

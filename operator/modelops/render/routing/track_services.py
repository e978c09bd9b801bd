"""Per-track Services (``<name>-stable``, ``<name>-canary``) for mesh and gateway routing.

A weighted route needs one backend per track; the main Service spreads over both tracks and so
cannot carry a weight. Gateway API and Istio share this one renderer so both route to the same
objects.
"""

from typing import Any, ClassVar

from modelops.render.context import RenderContext, Track
from modelops.render.meta import LABEL_TRACK, deployment_name, object_meta, track_selector
from modelops.render.refs import ChildRef, ref_of
from modelops.render.service import SERVICE_PORT, cluster_ip_service

__all__ = ["SERVICE_PORT", "TrackRouting", "weighted_backends"]


def track_service_name(ctx: RenderContext, track: Track) -> str:
    # Same name as the track's Deployment: a Service and a Deployment may share a name.
    return deployment_name(ctx, track)


def active_tracks(ctx: RenderContext) -> list[Track]:
    """Stable always; canary only while one runs (its Service would select no pods otherwise)."""
    return [Track.STABLE] if ctx.canary_spec is None else [Track.STABLE, Track.CANARY]


def canary_weight(ctx: RenderContext) -> int:
    """The canary's percent, 0 without a canary whatever the context says, within 0..100."""
    if ctx.canary_spec is None:
        return 0
    return max(0, min(100, ctx.canary_weight))


def track_services(ctx: RenderContext) -> list[dict[str, Any]]:
    return [
        cluster_ip_service(
            ctx,
            track_service_name(ctx, track),
            track_selector(ctx, track),
            {LABEL_TRACK: track.value},
        )
        for track in active_tracks(ctx)
    ]


def track_service_refs(ctx: RenderContext) -> list[ChildRef]:
    return [ChildRef("v1", "Service", track_service_name(ctx, track)) for track in Track]


def header_matches(ctx: RenderContext) -> list[tuple[str, str]]:
    """(header, value) pairs of ``rollout.match`` while a canary runs: they route to it."""
    rollout = ctx.spec.rollout
    if ctx.canary_spec is None or rollout is None or not rollout.match:
        return []
    return [(match.header, match.value) for match in rollout.match]


def weighted_backends(ctx: RenderContext) -> list[tuple[str, int]]:
    """(Service name, percent) per running track, stable first; the percents add up to 100."""
    weight = canary_weight(ctx)
    weights = {Track.STABLE: 100 - weight, Track.CANARY: weight}
    return [(track_service_name(ctx, track), weights[track]) for track in active_tracks(ctx)]


class TrackRouting:
    """A provider made of the per-track Services and one route object named like the owner."""

    api_version: ClassVar[str]
    kind: ClassVar[str]

    @classmethod
    def possible_children(cls, ctx: RenderContext) -> list[ChildRef]:
        return sorted([ChildRef(cls.api_version, cls.kind, ctx.name), *track_service_refs(ctx)])

    def manifests(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return sorted([self.route(ctx), *track_services(ctx)], key=ref_of)

    def route(self, ctx: RenderContext) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": object_meta(ctx, ctx.name),
            "spec": self.route_spec(ctx),
        }

    def route_spec(self, ctx: RenderContext) -> dict[str, Any]:
        raise NotImplementedError

"""Every object a ModelService owns, desired now, and every one it could own."""

from typing import Any

from modelops.render.context import RenderContext, Track
from modelops.render.meta import deployment_name, preview_name, ratelimit_name
from modelops.render.ratelimit import ratelimit_configmap
from modelops.render.refs import ChildRef, ref_of
from modelops.render.routing import RoutingProvider, provider_for, retired_children
from modelops.render.routing.replicas import ReplicaRouting
from modelops.render.service import preview_service, service
from modelops.render.workloads import deployment, horizontal_pod_autoscaler, pod_disruption_budget


def routing(ctx: RenderContext) -> RoutingProvider:
    rollout = ctx.spec.rollout
    return provider_for(rollout.traffic_routing) if rollout else ReplicaRouting()


def possible_children(ctx: RenderContext) -> list[ChildRef]:
    """Every child this ModelService may own at some point: what is not desired now and
    exists (a canary after promotion, an HPA after autoscaling was removed, the route of a
    provider the spec switched away from) is deleted."""
    return sorted(
        {
            ChildRef("apps/v1", "Deployment", deployment_name(ctx, Track.STABLE)),
            ChildRef("apps/v1", "Deployment", deployment_name(ctx, Track.CANARY)),
            ChildRef("v1", "Service", ctx.name),
            ChildRef("v1", "Service", preview_name(ctx)),
            ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", ctx.name),
            ChildRef("policy/v1", "PodDisruptionBudget", ctx.name),
            ChildRef("v1", "ConfigMap", ratelimit_name(ctx)),
            *routing(ctx).possible_children(ctx),
            *retired_children(ctx),
        }
    )


def desired_children(ctx: RenderContext) -> list[dict[str, Any]]:
    """The manifests to apply, in a stable order (by kind, then name)."""
    spec = ctx.spec
    autoscaled = spec.autoscaling is not None
    # With an HPA the stable replicas belong to it: leave the field out of what we apply.
    stable_replicas = None if autoscaled else spec.replicas
    out = [
        deployment(ctx, ctx.stable_spec, Track.STABLE, stable_replicas),
        service(ctx),
        pod_disruption_budget(ctx),
    ]
    if ctx.canary_spec is not None:
        out.append(deployment(ctx, ctx.canary_spec, Track.CANARY, canary_replicas(ctx)))
        if spec.is_blue_green:
            out.append(preview_service(ctx))
    if spec.autoscaling is not None:
        out.append(horizontal_pod_autoscaler(ctx, spec.autoscaling))
    if spec.rate_limit is not None:
        out.append(ratelimit_configmap(ctx, spec.rate_limit))
    out.extend(routing(ctx).manifests(ctx))
    return sorted(out, key=ref_of)


def canary_replicas(ctx: RenderContext) -> int:
    """The canary's share of the stable replica count at the current weight, at least one
    (unless the plan fixed its size: a blue-green preview runs at full size)."""
    if ctx.canary_replicas is not None:
        return ctx.canary_replicas
    base = ctx.spec.autoscaling.min_replicas if ctx.spec.autoscaling else ctx.spec.replicas
    return max(1, -(-base * ctx.canary_weight // 100))

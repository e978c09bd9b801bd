"""The Service clients call: port 80 -> the pods' named ``http`` port."""

from typing import Any

from modelops.render.context import RenderContext
from modelops.render.meta import object_meta, service_selector
from modelops.render.pod import PORT_NAME

SERVICE_PORT = 80


def service(ctx: RenderContext) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(ctx, ctx.name),
        "spec": {
            "type": "ClusterIP",
            "selector": service_selector(ctx),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }

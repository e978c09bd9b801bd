"""``modelops run``: logging, the /metrics and /healthz server, and kopf's main loop."""

import asyncio
import json
import logging
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelops.controller import hooks
from modelops.controller.config import OperatorConfig
from modelops.controller.manager import Controller
from modelops.kube.client import Kube


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log pipelines. Messages carry names and reasons only:
    the operator never logs Secret values (it never reads Secrets)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(log_format: str, verbose: bool) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf logs every handler run ("Handler ... succeeded") for every pod event.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # The Kubernetes client logs request bodies at DEBUG; keep it out even in verbose mode.
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(_: web.Request) -> web.Response:
    # Served by the operator's own event loop: a blocked loop fails the probe.
    return web.Response(text="ok")


async def serve_http(port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # All interfaces: the kubelet probes and Prometheus scrapes the pod IP.
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104  # nosec B104
    return runner


def run_operator(config: OperatorConfig) -> int:
    configure_logging(config.log_format, config.verbose)
    controller = Controller(config, Kube.from_environment())

    async def main() -> None:
        runner = await serve_http(config.metrics_port)
        try:
            await kopf.operator(
                registry=hooks.registry(controller),
                clusterwide=not config.namespaced,
                namespaces=list(config.namespaces),
                # kopf runs no resource handlers (modelops.controller says why): no kopf
                # peering either; leader election goes through a Lease (modelops.kube.leader).
                standalone=True,
            )
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return 0

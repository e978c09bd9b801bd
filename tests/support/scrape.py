"""What a Prometheus scrape of a canary gateway of ModelService ml/sentiment looks like.

``DISCOVERED`` is what Kubernetes pod discovery would attach to the target; ``RELABEL`` is the
relabelling that ``modelops.health.presets`` assumes (the same rules as its docstring), so the
real-Prometheus test exercises the documented setup rather than labels made up for it.
"""

from dataclasses import dataclass

NAMESPACE, NAME = "ml", "sentiment"
DISCOVERED = {
    "__meta_kubernetes_namespace": NAMESPACE,
    "__meta_kubernetes_pod_name": f"{NAME}-canary-0",
    "__meta_kubernetes_pod_label_app_kubernetes_io_instance": NAME,
}
RELABEL = [
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    {
        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
        "target_label": "instance_name",
    },
]

# The upstream stub's streams: a first chunk, this pause, then usage with this many completion
# tokens, so the gateway must measure at most STREAM_TOKENS / STREAM_PAUSE tokens per second.
STREAM_PAUSE = 0.1
STREAM_TOKENS = 10


@dataclass
class GatewayProcess:
    url: str
    port: int

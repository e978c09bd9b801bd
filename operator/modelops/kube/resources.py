"""REST paths of the kinds the operator touches. A fixed table rather than discovery: the
operator owns a known set of kinds, and it saves a round of discovery requests at start."""

from dataclasses import dataclass

from modelops.api.spec import GROUP, KIND, PLURAL, VERSION


@dataclass(frozen=True)
class Resource:
    api_version: str
    plural: str

    def collection(self, namespace: str | None) -> str:
        """The objects in ``namespace``, or in all namespaces when it is None."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if namespace is None:
            return f"{prefix}/{self.plural}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


RESOURCES: dict[str, Resource] = {
    "Deployment": Resource("apps/v1", "deployments"),
    "Service": Resource("v1", "services"),
    "ConfigMap": Resource("v1", "configmaps"),
    "Pod": Resource("v1", "pods"),
    "Job": Resource("batch/v1", "jobs"),
    "Secret": Resource("v1", "secrets"),
    "Event": Resource("v1", "events"),
    "HorizontalPodAutoscaler": Resource("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": Resource("policy/v1", "poddisruptionbudgets"),
    "HTTPRoute": Resource("gateway.networking.k8s.io/v1", "httproutes"),
    "VirtualService": Resource("networking.istio.io/v1", "virtualservices"),
    KIND: Resource(f"{GROUP}/{VERSION}", PLURAL),
}


def resource(kind: str) -> Resource:
    return RESOURCES[kind]

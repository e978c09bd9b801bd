"""API access for the operator: one thread-safe client, raw dicts in and out.

kopf runs sync handlers in a thread pool, so these calls block a worker thread, never the
event loop. Requests carry the user agent ``modelops/<version>`` so the API server's audit log
can tell the operator's writes apart.
"""

import json
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelops import __version__
from modelops.kube.resources import resource

USER_AGENT = f"modelops/{__version__}"
FIELD_MANAGER = "modelops"
# (connect, read) seconds: a hung API server must not hold a worker thread forever.
REQUEST_TIMEOUT = (5, 30)


class NamespaceTerminatingError(RuntimeError):
    """The namespace is being deleted: nothing may be created in it, and nothing should be."""


class RejectedError(ValueError):
    """The API server refused a rendered object as invalid: a spec field the CRD schema lets
    through (free-form tolerations or affinity, a label value, a Quantity) that the child's own
    schema does not. The same spec is refused again however often it is retried."""


# Longest API server message carried into status and Events.
_REJECTION_CHARS = 1024


def _rejection(error: ApiException) -> RejectedError | None:
    try:
        status = json.loads(error.body or "{}")
    except ValueError:
        return None
    message = str(status.get("message", "")) if isinstance(status, dict) else ""
    # 400/422: the object is invalid. Server-side apply answers 500 when the object does not
    # fit the kind's schema at all (an undeclared field inside a free-form spec field).
    invalid = error.status in (400, 422) or (
        error.status == 500 and message.startswith("failed to create typed patch object")
    )
    return RejectedError(message[:_REJECTION_CHARS]) if invalid else None


def _is_namespace_terminating(error: ApiException) -> bool:
    return error.status == 403 and "NamespaceTerminating" in (error.body or "")


class Kube:
    """GET, server-side apply, DELETE, LIST and status PATCH on raw dicts."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    @classmethod
    def from_environment(cls, pool_size: int = 32) -> "Kube":
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = pool_size
        api = client.ApiClient(configuration)
        api.user_agent = USER_AGENT
        return cls(api)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        method, url, headers, body, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT
        )
        response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call("GET", resource(kind).item(namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def list_all(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of ``kind`` in ``namespace``, or in all namespaces for None."""
        path = (
            resource(kind).everywhere()
            if namespace is None
            else resource(kind).collection(namespace)
        )
        items: list[dict[str, Any]] = self._call("GET", path).get("items", [])
        return items

    def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        query = [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))]
        found = self._call("GET", resource(kind).collection(namespace), query=query)
        items: list[dict[str, Any]] = found.get("items", [])
        return items

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as field manager ``modelops``, taking over conflicting fields (the
        operator is the source of truth for what it renders)."""
        meta = manifest["metadata"]
        try:
            applied: dict[str, Any] = self._call(
                "PATCH",
                resource(manifest["kind"]).item(meta["namespace"], meta["name"]),
                body=json.dumps(manifest),
                query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                content_type="application/apply-patch+yaml",
            )
        except ApiException as error:
            if _is_namespace_terminating(error):
                raise NamespaceTerminatingError(meta["namespace"]) from error
            rejected = _rejection(error)
            if rejected is not None:
                raise rejected from None  # the response body can quote the object
            raise
        return applied

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """POST: fails with 409 where the name is taken (never touches an existing object)."""
        created: dict[str, Any] = self._call(
            "POST",
            resource(manifest["kind"]).collection(manifest["metadata"]["namespace"]),
            body=manifest,
        )
        return created

    def delete(self, kind: str, namespace: str, name: str, uid: str) -> None:
        """Delete exactly the object we looked at (uid precondition), in the background."""
        body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        try:
            self._call("DELETE", resource(kind).item(namespace, name), body=body)
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    def patch_metadata(
        self, kind: str, namespace: str, name: str, metadata: dict[str, Any]
    ) -> None:
        self._call(
            "PATCH",
            resource(kind).item(namespace, name),
            body={"metadata": metadata},
            content_type="application/merge-patch+json",
        )

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._call(
            "PATCH",
            resource(kind).item(namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

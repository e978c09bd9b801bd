"""API access for the operator: one thread-safe client, raw dicts in and out.

kopf runs sync handlers in a thread pool, so these calls block a worker thread, never the
event loop. Requests carry the user agent ``modelops/<version>`` so the API server's audit log
can tell the operator's writes apart.
"""

import json
from collections.abc import Iterator
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelops import __version__
from modelops.kube.resources import resource

USER_AGENT = f"modelops/{__version__}"
FIELD_MANAGER = "modelops"
# Holds a field the operator stops setting until its new owner (an HPA) writes it.
HANDOVER_MANAGER = "modelops-handover"
# (connect, read) seconds: a hung API server must not hold a worker thread forever.
REQUEST_TIMEOUT = (5, 30)
# Named outside the class: inside it, ``list`` is the method.
Objects = list[dict[str, Any]]
# What the API server answers, for a list and for a watch, when asked for metadata only:
# PartialObjectMetadata (name, namespace, uid, labels, ownerReferences...) without spec or
# status, whatever the kind.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


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
        *,
        accept: str = "application/json",
    ) -> Any:
        response = self._request(method, path, body, query, content_type, accept=accept)
        return json.loads(response.data) if response.data else None

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        *,
        accept: str = "application/json",
    ) -> Any:
        method, url, headers, body, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": accept},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT
        )
        response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        return response

    def pod_log(self, namespace: str, name: str, tail_lines: int) -> str:
        """The last ``tail_lines`` lines of a pod's (only) container's log."""
        path = resource("Pod").item(namespace, name) + "/log"
        query = [("tailLines", str(tail_lines))]
        # The API server answers 406 to "text/plain"; kubectl asks for anything too.
        response = self._request("GET", path, query=query, accept="*/*")
        return bytes(response.data or b"").decode("utf-8", "replace")

    def get(
        self, kind: str, namespace: str, name: str, cached: bool = False
    ) -> dict[str, Any] | None:
        """``cached``: the API server may answer from its watch cache (resourceVersion=0), a
        little behind but without a read from etcd."""
        query = [("resourceVersion", "0")] if cached else None
        try:
            found: dict[str, Any] = self._call(
                "GET", resource(kind).item(namespace, name), query=query
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def list_all(self, kind: str, namespace: str | None) -> Objects:
        """Every object of ``kind`` in ``namespace``, or in all namespaces for None."""
        items, _ = self.list_versioned(kind, namespace, {})
        return items

    def lookup(self, kind: str, namespace: str, name: str, wanted: bool) -> dict[str, Any] | None:
        """The object, for a reconcile that ``wanted`` it to exist (a cache may answer a
        child that is not wanted without asking the API server)."""
        return self.get(kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        items, _ = self.list_versioned(kind, namespace, selector)
        return items

    def list_versioned(
        self,
        kind: str,
        namespace: str | None,
        selector: dict[str, str],
        *,
        excluding: dict[str, str] | None = None,
        metadata_only: bool = False,
    ) -> tuple[Objects, str]:
        """The objects and the list's resourceVersion (where a watch takes over); all
        namespaces when ``namespace`` is None. ``excluding``: labels the objects must not
        have (``key!=value``); ``metadata_only``: PartialObjectMetadata, no spec or status."""
        found = self._call(
            "GET",
            resource(kind).collection(namespace),
            query=_selector(selector, excluding),
            accept=METADATA_LIST if metadata_only else "application/json",
        )
        # A PartialObjectMetadataList with no items says "items": null.
        items: Objects = found.get("items") or []
        return items, str(found.get("metadata", {}).get("resourceVersion", ""))

    def watch(
        self,
        kind: str,
        namespace: str | None,
        selector: dict[str, str],
        resource_version: str,
        timeout_seconds: int = 300,
        *,
        excluding: dict[str, str] | None = None,
        metadata_only: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type": ..., "object": ...}``, BOOKMARKs included) from
        ``resource_version`` until the server ends the watch after ``timeout_seconds``;
        ``excluding`` and ``metadata_only`` as for ``list_versioned``."""
        query = [
            *_selector(selector, excluding),
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        method, url, headers, _, _ = self.api.param_serialize(
            method="GET",
            resource_path=resource(kind).collection(namespace),
            query_params=query,
            header_params={"Accept": METADATA_ITEM if metadata_only else "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, _request_timeout=(REQUEST_TIMEOUT[0], None)
        )
        if not 200 <= response.status < 300:
            response.read()  # type: ignore[no-untyped-call]
            raise ApiException(http_resp=response)
        # The client never preloads: the urllib3 response streams, one event per line.
        stream = response.response
        try:
            for line in stream:
                if line.strip():
                    yield json.loads(line)
        finally:
            stream.release_conn()

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

    def hand_over(self, fragment: dict[str, Any]) -> None:
        """Server-side apply of ``fragment`` (live values of fields the operator is about to
        stop setting) as another field manager, without force. A field its only manager drops
        from an apply is reset to its default (a Deployment's replicas to 1); co-owned, it
        keeps its value, as Kubernetes' docs hand replicas over to an HPA. A conflict means
        another manager (the HPA) already set the field: nothing to hand over."""
        meta = fragment["metadata"]
        try:
            self._call(
                "PATCH",
                resource(fragment["kind"]).item(meta["namespace"], meta["name"]),
                body=json.dumps(fragment),
                query=[("fieldManager", HANDOVER_MANAGER)],
                content_type="application/apply-patch+yaml",
            )
        except ApiException as error:
            if error.status != 409:
                raise

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

    def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch of the status subresource; the object as patched."""
        patched: dict[str, Any] = self._call(
            "PATCH",
            resource(kind).item(namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )
        return patched


def _selector(
    selector: dict[str, str], excluding: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    terms = [f"{k}={v}" for k, v in sorted(selector.items())]
    terms += [f"{k}!={v}" for k, v in sorted((excluding or {}).items())]
    return [("labelSelector", ",".join(terms))] if terms else []

"""``spec.model.source`` in the pod: the ``fetch-model`` init container (the operator's own
image running ``modelops fetch``), the volume the files land on, and the model container's
read-only mount of them with ``$MODEL_DIR``.

- pvc://claim/path: the claim is mounted at the path; nothing is fetched.
- a download without cache: an emptyDir per pod, filled by the init container.
- a download with cache: the cache claim; the init container fetches into ``<key>/`` on it
  (or finds it there), and the model container mounts only ``<key>``.

The source's Secret is referenced by the init container alone: the model container never
sees the credentials.
"""

from typing import Any

from modelops.api.source import ModelSource, Scheme, cache_key, parse_uri

FETCH_CONTAINER = "fetch-model"
MODEL_FILES_VOLUME = "model-files"
MODEL_DIR_ENV = "MODEL_DIR"
FETCH_DEST_PATH = "/fetch"
# Keys the fetcher reads from the source's Secret, per scheme.
CREDENTIAL_KEYS = {
    Scheme.S3: (
        ("AWS_ACCESS_KEY_ID", False),
        ("AWS_SECRET_ACCESS_KEY", False),
        ("AWS_SESSION_TOKEN", True),
    ),
    Scheme.HF: (("HF_TOKEN", False),),
}


def model_dir_env(source: ModelSource) -> dict[str, Any]:
    return {"name": MODEL_DIR_ENV, "value": source.mount_path}


def model_files_mount(source: ModelSource) -> dict[str, Any]:
    """The model container's read-only view of the files."""
    mount: dict[str, Any] = {
        "name": MODEL_FILES_VOLUME,
        "mountPath": source.mount_path,
        "readOnly": True,
    }
    parsed = parse_uri(source.uri)
    if parsed.scheme is Scheme.PVC and parsed.path:
        mount["subPath"] = parsed.path.strip("/")
    elif source.cache is not None:
        mount["subPath"] = cache_key(source)
    return mount


def model_files_volume(source: ModelSource) -> dict[str, Any]:
    parsed = parse_uri(source.uri)
    if parsed.scheme is Scheme.PVC:
        claim = {"claimName": parsed.location, "readOnly": True}
        return {"name": MODEL_FILES_VOLUME, "persistentVolumeClaim": claim}
    if source.cache is not None:
        claim = {"claimName": source.cache.claim_name}
        return {"name": MODEL_FILES_VOLUME, "persistentVolumeClaim": claim}
    return {"name": MODEL_FILES_VOLUME, "emptyDir": {}}


def _credentials(source: ModelSource) -> list[dict[str, Any]]:
    if source.credentials_secret is None:
        return []
    keys = CREDENTIAL_KEYS.get(parse_uri(source.uri).scheme, ())
    return [
        {
            "name": key,
            "valueFrom": {
                "secretKeyRef": {
                    "name": source.credentials_secret,
                    "key": key,
                    **({"optional": True} if optional else {}),
                }
            },
        }
        for key, optional in keys
    ]


def _fetch_args(source: ModelSource) -> list[str]:
    args = ["--uri", source.uri]
    options = {
        "--sha256": source.sha256,
        "--revision": source.revision,
        "--endpoint": source.endpoint,
        "--region": source.region,
    }
    for flag, value in options.items():
        if value is not None:
            args += [flag, value]
    if source.cache is None:
        return [*args, "--dest", FETCH_DEST_PATH]
    args += ["--cache-dir", FETCH_DEST_PATH, "--cache-key", cache_key(source)]
    if source.cache.max_size is not None:
        args += ["--cache-max-size", str(source.cache.max_size)]
    return args


def fetch_container(
    source: ModelSource, image: str, security: dict[str, Any]
) -> dict[str, Any] | None:
    """The init container that downloads the model; none for a pvc:// source."""
    if parse_uri(source.uri).scheme is Scheme.PVC:
        return None
    return {
        "name": FETCH_CONTAINER,
        "image": image,
        "command": ["modelops", "fetch"],
        "args": _fetch_args(source),
        "env": _credentials(source),
        # The fetcher writes its result (or why it failed) here; the operator reads it from
        # the pod status it already watches and puts it in the ModelService's status.
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {**security, "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": MODEL_FILES_VOLUME, "mountPath": FETCH_DEST_PATH}],
    }

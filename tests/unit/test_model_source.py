"""spec.model.source: URI parsing, cache keys, the rendered pod, and the fetch results the
operator reads back from pod status."""

import json
from typing import Any

import pytest

from modelops.api.source import ModelSource, Scheme, cache_key, parse_uri
from modelops.api.status import ModelServiceStatus
from modelops.manifests import parse_model_service
from modelops.render import RenderContext, desired_children
from modelops.render.pod import revision
from modelops.rollout.fetches import fetch_summary
from modelops.rollout.observe import WorkloadObservation, pod_problems
from modelops.rollout.tick import Transition
from modelops.rollout.transitions import with_model_fetches
from tests.support.hardening import hardening_problems
from tests.support.samples import model_service

S3 = {"uri": "s3://models/demo/v1", "credentialsSecret": "s3-creds", "endpoint": "http://s3:9000"}


@pytest.mark.parametrize(
    ("uri", "scheme", "location", "path"),
    [
        ("pvc://weights/demo/v1", Scheme.PVC, "weights", "demo/v1"),
        ("pvc://weights", Scheme.PVC, "weights", ""),
        ("https://host.example:8443/m/model.bin", Scheme.HTTPS, "host.example:8443", "m/model.bin"),
        ("s3://models/demo/v1/", Scheme.S3, "models", "demo/v1/"),
        ("hf://org/model-7b", Scheme.HF, "org/model-7b", ""),
    ],
)
def test_uris_parse(uri: str, scheme: Scheme, location: str, path: str) -> None:
    parsed = parse_uri(uri)
    assert (parsed.scheme, parsed.location, parsed.path) == (scheme, location, path)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("ftp://host/m.bin", "unknown scheme"),
        ("models/demo", "unknown scheme"),
        ("http://host/m.bin", "unknown scheme"),
        ("s3://UPPER/x", "not a valid s3:// URI"),
        ("hf://only-org", "not a valid hf:// URI"),
        ("https:///no-host", "not a valid https:// URI"),
        ("pvc://Bad_Claim/x", "not a valid pvc:// URI"),
    ],
)
def test_bad_uris_say_what_is_wrong(uri: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_uri(uri)


def test_cache_key_is_the_uri_and_revision() -> None:
    main = ModelSource(uri="hf://org/model")
    assert cache_key(main) == cache_key(ModelSource(uri="hf://org/model", revision="main"))
    assert cache_key(main) != cache_key(ModelSource(uri="hf://org/model", revision="v2"))
    assert cache_key(main) != cache_key(ModelSource(uri="hf://org/model2"))
    # The mount path and the cache claim are where, not what: the same key.
    elsewhere = ModelSource(uri="hf://org/model", mount_path="/weights")
    assert cache_key(main) == cache_key(elsewhere)
    assert cache_key(main).startswith("hf-org-model-")


def test_cache_keys_are_directory_names() -> None:
    key = cache_key(ModelSource(uri="https://h/a/../b%20c?x=1&y=/z"))
    assert "/" not in key
    assert ".." not in key
    assert len(key) <= 120


def _pod(source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    document = model_service("src", **spec)
    document["spec"]["model"]["source"] = source
    document["metadata"]["namespace"] = "ml"
    service = parse_model_service(document)
    manifests = desired_children(RenderContext.steady(service, "modelops:test"))
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"])


def test_s3_source_renders_a_fetch_init_container_with_credentials_only_there() -> None:
    pod = _pod(S3)
    (fetch,) = pod["initContainers"]
    assert fetch["image"] == "modelops:test"
    assert fetch["command"] == ["modelops", "fetch"]
    assert fetch["args"][:2] == ["--uri", "s3://models/demo/v1"]
    assert fetch["args"][-2:] == ["--dest", "/fetch"]
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in fetch["env"]}
    assert secrets == {"s3-creds"}
    (model,) = pod["containers"]
    assert "s3-creds" not in json.dumps(model)
    assert {"name": "MODEL_DIR", "value": "/models"} in model["env"]
    mount = next(m for m in model["volumeMounts"] if m["name"] == "model-files")
    assert mount == {"name": "model-files", "mountPath": "/models", "readOnly": True}
    assert {"name": "model-files", "emptyDir": {}} in pod["volumes"]
    assert hardening_problems(pod, "pod") == []


def test_cached_source_mounts_only_its_key() -> None:
    source = {**S3, "cache": {"claimName": "model-cache", "maxSize": "20Gi"}, "mountPath": "/w"}
    pod = _pod(source)
    key = cache_key(ModelSource.model_validate(source))
    (fetch,) = pod["initContainers"]
    assert fetch["args"][-6:] == [
        "--cache-dir",
        "/fetch",
        "--cache-key",
        key,
        "--cache-max-size",
        "20Gi",
    ]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "model-files")
    assert mount == {"name": "model-files", "mountPath": "/w", "readOnly": True, "subPath": key}
    claim = {"claimName": "model-cache"}
    assert {"name": "model-files", "persistentVolumeClaim": claim} in pod["volumes"]


def test_pvc_source_is_mounted_without_a_fetch() -> None:
    pod = _pod({"uri": "pvc://weights/demo/v1"})
    assert "initContainers" not in pod
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "model-files")
    assert mount["subPath"] == "demo/v1"
    claim = {"claimName": "weights", "readOnly": True}
    assert {"name": "model-files", "persistentVolumeClaim": claim} in pod["volumes"]


def test_hf_endpoint_and_revision_reach_the_fetcher() -> None:
    pod = _pod({"uri": "hf://org/m", "revision": "v2", "endpoint": "https://mirror.example"})
    args = pod["initContainers"][0]["args"]
    assert args[args.index("--revision") + 1] == "v2"
    assert args[args.index("--endpoint") + 1] == "https://mirror.example"


def _spec(source: dict[str, Any] | None) -> Any:
    document = model_service("src")
    if source is not None:
        document["spec"]["model"]["source"] = source
    return parse_model_service(document).spec


def test_the_source_and_its_revision_are_part_of_the_revision() -> None:
    without = revision(_spec(None))
    hf = revision(_spec({"uri": "hf://org/m"}))
    v2 = revision(_spec({"uri": "hf://org/m", "revision": "v2"}))
    assert len({without, hf, v2}) == 3


def test_a_spec_without_source_keeps_its_revision() -> None:
    # The hash every existing ModelService has: no source, no new rollout on upgrade.
    assert revision(_spec(None)) == revision(parse_model_service(model_service("src")).spec)
    assert "source" not in json.dumps(_spec(None).model.to_api())


def _fetch_pod(name: str, terminated: dict[str, Any], waiting: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting}} if waiting else {"terminated": terminated}
    )
    last = {"terminated": terminated} if waiting else {}
    status = {"name": "fetch-model", "state": state, "lastState": last}
    return {"metadata": {"name": name}, "status": {"initContainerStatuses": [status]}}


def test_a_failed_fetch_is_a_pod_problem_with_the_fetchers_reason() -> None:
    reason = "s3: access denied for bucket models (InvalidAccessKeyId)"
    failed = {"exitCode": 1, "reason": "Error", "message": reason}
    problems, _ = pod_problems([_fetch_pod("p-1", failed, waiting="CrashLoopBackOff")])
    assert problems == (f"ModelFetchFailed (pod p-1): {reason}",)
    problems, _ = pod_problems([_fetch_pod("p-2", failed)])
    assert problems == (f"ModelFetchFailed (pod p-2): {reason}",)


def test_fetch_results_are_summarised_per_origin() -> None:
    def ok(origin: str, seconds: float) -> dict[str, Any]:
        result = {"origin": origin, "seconds": seconds, "bytes": 2**21, "files": 1}
        return {"exitCode": 0, "message": json.dumps(result)}

    pods = [
        _fetch_pod("a", ok("downloaded", 3.25)),
        _fetch_pod("b", ok("cache", 0.04)),
        _fetch_pod("c", ok("cache", 0.12)),
    ]
    assert fetch_summary(pods) == "1 downloaded (2.0 MiB in 3.2s), 2 from cache (2.0 MiB in 0.1s)"
    assert fetch_summary([{"metadata": {"name": "x"}, "status": {}}]) is None
    small = {"origin": "downloaded", "seconds": 0.8, "bytes": 30_720, "files": 1}
    tiny = _fetch_pod("d", {"exitCode": 0, "message": json.dumps(small)})
    assert fetch_summary([tiny]) == "1 downloaded (30.0 KiB in 0.8s)"
    assert pod_problems(pods)[0] == ()


def test_status_keeps_each_tracks_fetch_summary() -> None:
    said = WorkloadObservation(exists=True, model_fetch="1 downloaded (1.0 MiB in 2.0s)")
    silent = WorkloadObservation(exists=True)
    during = Transition(ModelServiceStatus(canary_revision="abc", stable_model_fetch="old"))
    step = with_model_fetches(during, said, said)
    assert step.status.stable_model_fetch == "1 downloaded (1.0 MiB in 2.0s)"
    assert step.status.canary_model_fetch == "1 downloaded (1.0 MiB in 2.0s)"
    # Pods that have not said (yet) leave stable's last word; no canary, no canary summary.
    after = with_model_fetches(
        Transition(ModelServiceStatus(stable_model_fetch="old")), silent, said
    )
    assert after.status.stable_model_fetch == "old"
    assert after.status.canary_model_fetch is None

"""Model files from an S3-compatible store on the real node: ``spec.model.source`` with a
shared cache. The store is moto's server on the link address (reachable from the node's
pods); its request log is the proof of how many times the model was downloaded.

- the demo model loads its weights from /models (relabelled weights show in its answers);
- a second replica and a canary of the same model find it in the cache: one download in all;
- a wrong credential ends in a Degraded status that says why, and a Warning Event.

The cache is a ReadWriteMany claim bound to a hostPath PersistentVolume made by the test:
the local cluster has no RWX storage class, and its one real node is this machine.
"""

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    cache_claim,
    demo_service,
    describe,
    pods,
    post,
    service_url,
    wait_phase,
    wait_ready,
)
from tests.support.cluster import REPO, Cluster, wait_until
from tests.support.msvc import status
from tests.support.realnode import node_network
from tests.support.s3store import S3Store, s3_store

pytestmark = pytest.mark.cluster

BUCKET = "models"
WEIGHTS_KEY = "demo/v1/model.json"
LABEL = "positive-from-s3"


def _relabelled_weights(workdir: Path) -> bytes:
    """The demo model's weights (trained as the image build does), with the positive label
    renamed: an answer that says it came from these weights, not the image's."""
    out = workdir / "model.json"
    demo = REPO / "examples" / "demo-model"
    subprocess.run(
        [sys.executable, "-m", "demomodel.train", str(demo / "data" / "sentiment.csv"), str(out)],
        cwd=demo,
        check=True,
        capture_output=True,
        timeout=120,
    )
    doc = json.loads(out.read_text())

    def rename(label: str) -> str:
        return LABEL if label == "positive" else label

    doc["labels"] = [rename(label) for label in doc["labels"]]
    doc["log_prior"] = {rename(k): v for k, v in doc["log_prior"].items()}
    doc["log_likelihood"] = {rename(k): v for k, v in doc["log_likelihood"].items()}
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def store(link_host_ip: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    workdir = tmp_path_factory.mktemp("s3")
    with s3_store(workdir, host=link_host_ip) as running:
        client: Any = running.client()
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=WEIGHTS_KEY, Body=_relabelled_weights(workdir))
        yield running


@pytest.fixture(scope="module")
def space(cluster: Cluster, store: S3Store) -> Iterator[str]:
    """A namespace with the store's Secrets (good and wrong) and the cache claim."""
    namespace = f"e2e-art-{uuid.uuid4().hex[:8]}"
    # Under the node's data: the kubelet may make the directory again for a pod still going
    # away after the clean-up below; cluster-down removes it with the node.
    volume = Path(node_network(cluster).node_root) / "e2e-model-cache" / namespace
    volume.mkdir(parents=True)
    volume.chmod(0o777)  # the fetcher runs as uid 10001
    cluster.kubectl("create", "namespace", namespace)
    for name, secret in (("s3-creds", store.secret_key), ("s3-wrong", "not-the-secret")):
        cluster.kubectl(
            "create", "secret", "generic", name, "-n", namespace,
            f"--from-literal=AWS_ACCESS_KEY_ID={store.access_key}",
            f"--from-literal=AWS_SECRET_ACCESS_KEY={secret}",
        )  # fmt: skip
    cache_claim(cluster, namespace, volume, "1Gi")
    yield namespace
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    cluster.kubectl("delete", "pv", namespace, "--wait=false", check=False)
    shutil.rmtree(volume, ignore_errors=True)


def _source(store: S3Store, secret: str, cache: bool) -> dict[str, Any]:
    source: dict[str, Any] = {
        "uri": f"s3://{BUCKET}/demo/v1",
        "endpoint": store.endpoint,
        "region": "us-east-1",
        "credentialsSecret": secret,
    }
    if cache:
        source["cache"] = {"claimName": "model-cache", "maxSize": "500Mi"}
    return source


def _service(
    name: str, version: str, source: dict[str, Any], replicas: int = 1, **spec: Any
) -> dict[str, Any]:
    document = demo_service(name, version, replicas=replicas, **spec)
    document["spec"]["model"]["source"] = source
    return document


def _predicted_label(url: str) -> str:
    answer = post(f"{url}/predict", {"text": "works perfectly, I love it"}, None)
    assert answer.status == 200, answer.body
    return str(answer.json()["predictions"][0]["label"])


def _label_when_answered(url: str) -> str | None:
    try:
        return _predicted_label(url)
    except OSError:  # urllib's URLError: a connection that timed out, was refused or found no route
        return None


def test_replicas_and_a_canary_share_one_download(
    cluster: Cluster, store: S3Store, space: str
) -> None:
    name = "cached"
    source = _source(store, "s3-creds", cache=True)
    before = len(store.object_gets(BUCKET))
    cluster.apply(_service(name, "1.0.0", source), space)
    wait_ready(cluster, space, name, timeout=180)
    url = service_url(cluster, space, name)
    # Ready is the pods' word; kube-proxy programs the new Service's rules a moment later, and
    # until then a connection to its ClusterIP finds no route (ENETUNREACH, seen in CI).
    wait_until(
        lambda: _label_when_answered(url) == LABEL,
        30,
        message="the first version answers through its Service",
    )
    assert len(store.object_gets(BUCKET)) - before == 1, store.object_gets(BUCKET)
    first = status(cluster, space, name)
    assert first["stableModelFetch"].startswith("1 downloaded ("), first

    # A second replica: from the cache.
    cluster.apply(_service(name, "1.0.0", source, replicas=2), space)
    wait_until(
        lambda: "1 from cache" in (status(cluster, space, name).get("stableModelFetch") or ""),
        120,
        message=f"a second replica from the cache\n{describe(cluster, space, name)}",
    )

    # A canary of a new version of the same model: from the cache too.
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50, "pause": "10s"}],
        "analysis": {"interval": "2s"},
    }
    cluster.apply(_service(name, "1.0.1", source, replicas=2, rollout=rollout), space)
    seen = wait_until(
        lambda: status(cluster, space, name).get("canaryModelFetch"),
        120,
        message=f"the canary's pods fetched\n{describe(cluster, space, name)}",
    )
    assert "from cache" in seen, seen
    assert "downloaded" not in seen, seen
    final = wait_phase(cluster, space, name, "Stable", 180)
    assert final["stableVersion"] == "1.0.1"
    # The old pods are going away: until kube-proxy drops their endpoints a new connection
    # can reach one that is gone and time out (the pods have no preStop delay), so the new
    # pods are asked until one answers.
    wait_until(
        lambda: _label_when_answered(url) == LABEL,
        60,
        message="the promoted version answers with the cached weights",
    )
    # One object GET in all: the first pod's.
    assert len(store.object_gets(BUCKET)) - before == 1, store.object_gets(BUCKET)


def test_a_wrong_credential_ends_in_a_status_that_says_why(
    cluster: Cluster, store: S3Store, space: str
) -> None:
    name = "denied"
    cluster.apply(_service(name, "1.0.0", _source(store, "s3-wrong", cache=False)), space)
    found = wait_phase(cluster, space, name, "Degraded", 120)
    assert "ModelFetchFailed" in found["message"], found
    assert f"s3: access denied for bucket {BUCKET} (SignatureDoesNotMatch)" in found["message"]
    assert "not-the-secret" not in json.dumps(found)
    (pod,) = pods(cluster, space, name)
    assert pod["status"]["phase"] == "Pending"  # Init:Error, the model never started

    def warned() -> bool:
        events = cluster.get(
            "events", "-n", space, "--field-selector", f"involvedObject.name={name}"
        )
        return any(
            e["type"] == "Warning" and "access denied" in e.get("message", "")
            for e in events["items"]
        )

    wait_until(warned, 30, message="a Warning Event that says access denied")

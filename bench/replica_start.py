"""A replica's start-up on the real node with a cold model cache, against a warm one.

One run, one operator (on this machine), the local cluster's real node:

- ``image only``: the demo model with no ``spec.model.source`` (the floor: the kubelet, the
  containers and the probes, nothing fetched);
- ``cold cache``: the same with a ``--size-mib`` model file from an S3-compatible store (moto's
  server on the link address, as the e2e tests use) and an empty cache claim: the init
  container downloads it;
- ``warm cache``: the same ModelService scaled to two replicas: the new pod finds the model
  in the cache and downloads nothing (the store's request log is checked).

Each figure is one pod's creation -> Ready (the API server's timestamps: whole seconds), and
the fetch line its ModelService's status reports. The demo model keeps its image's weights
(``MODEL_PATH``), so its own start is the same in every row and the difference is the fetch.

  make cluster-up                                  # with the real node (REAL_NODES=1, default)
  PYTHONPATH=. .venv/bin/python bench/replica_start.py [--size-mib 1024]
Writes bench/results/replica_start.json. Numbers only, no verdict.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.rollback import machine  # noqa: E402
from tests.e2e.support import (  # noqa: E402
    NODE_NAME,
    OPERATOR_IMAGE,
    cache_claim,
    demo_service,
    pods,
    wait_ready,
)
from tests.support.cluster import Cluster, acquire, release, wait_until  # noqa: E402
from tests.support.msvc import status  # noqa: E402
from tests.support.operator import OperatorProcess, install_crd  # noqa: E402
from tests.support.realnode import import_node_images, node_network  # noqa: E402
from tests.support.s3store import S3Store, s3_store  # noqa: E402

RESULTS = REPO / "bench" / "results"
BUCKET = "models"
PREFIX = "big/v1"
# The image's own weights: the model's start is the same with or without a fetched file.
IMAGE_WEIGHTS = {"MODEL_PATH": "/app/model.json"}
READY_TIMEOUT = 900.0
IMAGES_TIMEOUT = 900.0


def ready_seconds(pod: dict[str, Any]) -> float:
    """Creation -> Ready of one pod, from the API server's own timestamps."""
    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
    for condition in pod["status"].get("conditions", []):
        if condition["type"] == "Ready" and condition["status"] == "True":
            ready = datetime.fromisoformat(condition["lastTransitionTime"])
            return (ready - created).total_seconds()
    raise RuntimeError(f"pod {pod['metadata']['name']} is not Ready")


def import_images(cluster: Cluster) -> None:
    images = import_node_images(cluster, IMAGES_TIMEOUT)
    if images.returncode != 0:
        raise SystemExit(f"hack/node-images.sh failed:\n{images.stdout}{images.stderr}")


def service(name: str, store: S3Store | None, replicas: int) -> dict[str, Any]:
    document = demo_service(name, "1.0.0", env=IMAGE_WEIGHTS, replicas=replicas)
    if store is not None:
        document["spec"]["model"]["source"] = {
            "uri": f"s3://{BUCKET}/{PREFIX}",
            "endpoint": store.endpoint,
            "region": "us-east-1",
            "credentialsSecret": "s3-creds",
            "cache": {"claimName": "model-cache", "maxSize": "4Gi"},
        }
    return document


def started(cluster: Cluster, namespace: str, name: str, replicas: int) -> dict[str, Any]:
    """Apply at ``replicas``, wait until that many pods are Ready; the newest pod's figure."""
    wait_ready(cluster, namespace, name, timeout=READY_TIMEOUT)

    def all_ready() -> list[dict[str, Any]] | None:
        found = pods(cluster, namespace, name)
        ready = [p for p in found if p["status"].get("containerStatuses")]
        ready = [p for p in ready if all(c["ready"] for c in p["status"]["containerStatuses"])]
        return ready if len(ready) == replicas else None

    ready = wait_until(all_ready, READY_TIMEOUT, interval=1, message=f"{replicas} ready pods")
    newest = max(ready, key=lambda p: p["metadata"]["creationTimestamp"])
    fetch = status(cluster, namespace, name).get("stableModelFetch")
    return {"seconds": ready_seconds(newest), "fetch": fetch}


def run(cluster: Cluster, store: S3Store, namespace: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    cluster.apply(service("plain", None, 1), namespace)
    rows["image only"] = started(cluster, namespace, "plain", 1)
    gets = len(store.object_gets(BUCKET))
    cluster.apply(service("cached", store, 1), namespace)
    rows["cold cache"] = started(cluster, namespace, "cached", 1)
    rows["cold cache"]["store_gets"] = len(store.object_gets(BUCKET)) - gets
    gets = len(store.object_gets(BUCKET))
    cluster.apply(service("cached", store, 2), namespace)
    rows["warm cache"] = started(cluster, namespace, "cached", 2)
    rows["warm cache"]["store_gets"] = len(store.object_gets(BUCKET)) - gets
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=RESULTS / "replica_start.json")
    args = parser.parse_args()
    cluster = acquire()
    if cluster.kubectl("get", "node", NODE_NAME, check=False).returncode != 0:
        release(cluster)
        print("no real node in this cluster (make cluster-up with REAL_NODES=1)", file=sys.stderr)
        return 1
    namespace = f"bench-start-{uuid.uuid4().hex[:8]}"
    volume = Path(node_network(cluster).node_root) / "bench-model-cache" / namespace
    workdir = Path(tempfile.mkdtemp(prefix="bench-start-"))
    operator: OperatorProcess | None = None
    try:
        import_images(cluster)
        install_crd(cluster)
        volume.mkdir(parents=True)
        volume.chmod(0o777)  # the fetcher runs as uid 10001
        model = workdir / "model.bin"
        with model.open("wb") as out:
            block = os.urandom(1 << 20)
            for index in range(args.size_mib):
                out.write(index.to_bytes(8, "big") + block[8:])
        with s3_store(workdir, host=node_network(cluster).link_host_ip) as store:
            client: Any = store.client()
            client.create_bucket(Bucket=BUCKET)
            client.upload_file(str(model), BUCKET, f"{PREFIX}/model.bin")
            model.unlink()
            cluster.kubectl("create", "namespace", namespace)
            cluster.kubectl(
                "create", "secret", "generic", "s3-creds", "-n", namespace,
                f"--from-literal=AWS_ACCESS_KEY_ID={store.access_key}",
                f"--from-literal=AWS_SECRET_ACCESS_KEY={store.secret_key}",
            )  # fmt: skip
            cache_claim(cluster, namespace, volume, "4Gi")
            # The fetch init container runs the project's image, as imported on the node.
            operator = OperatorProcess(cluster, "--gateway-image", OPERATOR_IMAGE)
            rows = run(cluster, store, namespace)
    finally:
        if operator is not None:
            operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "pv", namespace, "--wait=false", check=False)
        shutil.rmtree(volume, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        release(cluster)
    cold = rows["cold cache"]["seconds"]
    print(f"\nreplica start-up on the real node, a {args.size_mib} MiB model (creation -> Ready)")
    print(f"{'what':<14}{'seconds':>9}{'/cold':>8}  store GETs  fetch (status)")
    for what, row in rows.items():
        ratio = row["seconds"] / cold if cold else float("nan")
        gets = row.get("store_gets", "-")
        print(f"{what:<14}{row['seconds']:>9.0f}{ratio:>8.2f}  {gets!s:>10}  {row['fetch']}")
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "size_mib": args.size_mib,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

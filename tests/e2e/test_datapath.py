"""The data path on the real node: API keys from a Secret (401, a spoofed tier header, a key
rotated in the Secret without a restart), the fallback chain when the model fails or its pods
crash, and admission refusing 3 replicas whose limits would be counted in each pod alone."""

import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.e2e.support import (
    CLIENT_HEADER,
    OPENER,
    Answer,
    chat,
    chat_body,
    demo_service,
    pods,
    service_url,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

FREE_KEY, TEAM_KEY, ROTATED_KEY = "sk-e2e-free", "sk-e2e-team", "sk-e2e-rotated"
FREE_LIMIT = 2
KEYED_LIMITS = {
    "clientHeader": CLIENT_HEADER,
    "tierHeader": "X-Tier",
    "tiers": [
        {"name": "free", "requestsPerMinute": FREE_LIMIT},
        {"name": "team", "requestsPerMinute": 100000},
    ],
    "defaultTier": "free",
    "auth": {"secretName": "api-keys"},
}
OPEN_LIMITS = {"clientHeader": CLIENT_HEADER, "requestsPerMinute": 100000}
STATIC_BODY = '{"answer": "all models are busy"}'


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_secret(*entries: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api-keys"},
        "stringData": {"keys.yaml": yaml.safe_dump({"keys": list(entries)})},
    }


@dataclass
class World:
    namespace: str
    keyed: str  # URL of a ModelService whose keys come from the Secret
    erring: str  # URL of one whose model answers 500 to every chat, with a fallback chain


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> Iterator[World]:
    namespace = f"e2e-dp-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    # One key stored raw, one as its digest: both must work.
    cluster.apply(
        keys_secret(
            {"key": FREE_KEY, "client": "trial", "tier": "free"},
            {"sha256": _sha256(TEAM_KEY), "client": "search", "tier": "team"},
        ),
        namespace,
    )
    chain = {
        "fallback": {
            "modelServices": ["missing", "backup"],
            "staticResponse": {"body": STATIC_BODY, "status": 503},
        },
        "retries": {"attempts": 1, "backoff": "50ms"},
        # A fallback pod on its way out may drop connection attempts: give up on it soon.
        "timeouts": {"connect": "1s", "idle": "5s"},
        "circuitBreaker": {"failures": 100},
    }
    services = {
        "keyed": demo_service("keyed", "1.0.0", rateLimit=KEYED_LIMITS),
        "backup": demo_service("backup", "9.0.0", rateLimit=OPEN_LIMITS),
        "erring": demo_service(
            "erring", "1.0.0", env={"ERROR_RATE": "1"}, rateLimit=OPEN_LIMITS, dataPath=chain
        ),
        # The model exits at start: its pods never get ready, the gateway beside it runs.
        "crashing": demo_service(
            "crashing", "1.0.0", env={"CRASH_ON_START": "1"}, rateLimit=OPEN_LIMITS, dataPath=chain
        ),
    }
    for body in services.values():
        cluster.apply(body, namespace)
    for name in ("keyed", "backup", "erring"):
        wait_ready(cluster, namespace, name, timeout=180)
    keyed = service_url(cluster, namespace, "keyed")
    wait_serving(keyed, TEAM_KEY, "1.0.0")
    yield World(namespace, keyed, service_url(cluster, namespace, "erring"))
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _chat(base: str, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=json.dumps(chat_body()).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with OPENER.open(request, timeout=10) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers.items()), error.read())


def test_unknown_and_missing_keys_get_401(world: World) -> None:
    for key, kind in (("sk-guessed", "invalid_api_key"), (None, "missing_api_key")):
        answer = chat(world.keyed, key)
        assert answer.status == 401, answer
        assert answer.json()["error"]["type"] == kind


def test_a_spoofed_tier_header_gets_only_the_keys_tier(world: World) -> None:
    spoofed = {CLIENT_HEADER: FREE_KEY, "X-Tier": "team"}
    codes = [_chat(world.keyed, spoofed).status for _ in range(FREE_LIMIT + 2)]
    assert codes == [200] * FREE_LIMIT + [429, 429], codes
    # The key stored as a digest gives its team tier.
    assert [chat(world.keyed, TEAM_KEY).status for _ in range(FREE_LIMIT + 2)] == [200] * (
        FREE_LIMIT + 2
    )


def test_a_key_rotated_in_the_secret_works_and_the_old_one_stops(
    cluster: Cluster, world: World
) -> None:
    assert chat(world.keyed, TEAM_KEY).status == 200
    assert chat(world.keyed, ROTATED_KEY).status == 401
    started = time.monotonic()
    cluster.apply(
        keys_secret(
            {"key": FREE_KEY, "client": "trial", "tier": "free"},
            {"sha256": _sha256(ROTATED_KEY), "client": "search", "tier": "team"},
        ),
        world.namespace,
    )
    # The kubelet rewrites a Secret volume on its next sync of the pod: up to its sync
    # period (1 minute by default, which the real node keeps) plus the watch's delay.
    wait_until(
        lambda: chat(world.keyed, ROTATED_KEY).status == 200,
        150,
        interval=0.5,
        message="the rotated key accepted",
    )
    took = time.monotonic() - started
    assert chat(world.keyed, TEAM_KEY).status == 401
    (pod,) = pods(cluster, world.namespace, "keyed")
    restarts = [c["restartCount"] for c in pod["status"]["containerStatuses"]]
    assert restarts == [0, 0], restarts
    print(f"\nkey rotation took effect {took:.1f} s after the Secret was updated")


def test_fallback_answers_when_the_model_fails(world: World) -> None:
    answer = chat(world.erring, "any-client")
    assert answer.status == 200, answer
    assert answer.headers["X-Modelops-Upstream"] == "backup"
    assert answer.headers.get("X-Model-Version") == "9.0.0"


def test_fallback_answers_when_the_models_pods_crash(cluster: Cluster, world: World) -> None:
    """The crashing pods are never ready, so their Service has no endpoints: the gateway in
    such a pod is asked at the pod's IP, as a load balancer in front of the pods could."""

    def gateway_running() -> str | None:
        for pod in pods(cluster, world.namespace, "crashing"):
            states = {c["name"]: c for c in pod["status"].get("containerStatuses", [])}
            gateway = states.get("gateway", {})
            if gateway.get("ready") is not None and "running" in gateway.get("state", {}):
                model = states.get("model", {})
                assert model.get("restartCount", 0) > 0 or "running" not in model.get("state", {})
                return str(pod["status"]["podIP"])
        return None

    ip = wait_until(gateway_running, 120, interval=1, message="the crashing pod's gateway")
    answer = chat(f"http://{ip}:9000", "any-client")
    assert answer.status == 200, answer
    assert answer.headers["X-Modelops-Upstream"] == "backup"
    # With the backup scaled to nothing as well, the static answer is the last link.
    cluster.kubectl(
        "patch",
        "msvc",
        "backup",
        "-n",
        world.namespace,
        "--type=merge",
        "-p",
        '{"spec":{"replicas":0}}',
    )

    def static_answer() -> Answer | None:
        try:
            got = chat(f"http://{ip}:9000", "any-client")
        except OSError:
            return None  # while the backup's last pod goes away
        return got if got.headers.get("X-Modelops-Upstream") == "static" else None

    static = wait_until(static_answer, 60, interval=1, message="the static answer")
    assert static.status == 503
    assert static.body.decode() == STATIC_BODY


def test_three_replicas_without_redis_are_refused_at_admission(
    cluster: Cluster, world: World
) -> None:
    body = demo_service("triple", "1.0.0", replicas=3, rateLimit=OPEN_LIMITS)
    refused = cluster.apply(body, world.namespace, check=False)
    assert refused.returncode != 0
    assert "rateLimit without redis counts in each pod alone" in refused.stderr, refused.stderr
    assert "at most 1 replica" in refused.stderr

"""A blue-green rollout of real pods, with requests through the ClusterIPs all along: the new
version answers on ``<name>-preview`` while the main Service still answers only the old one;
``kubectl modelops promote`` switches all traffic at once; ``kubectl modelops abort`` within
the scale-down delay switches it all back at once, to the old pods that never stopped. Then
a version promoted on its own walks preview, switch, the delay and the scale-down to Stable
with no answer but 200 and, once switched, none from the old version.

Replica-ratio routing (the default): the main Service's selector names the serving track, so
what kube-proxy does on the real node is what the switch is. ``X-Model-Version`` says which
version answered. The times printed are from the command to the first answer of the other
version, and to the last answer of the one it left (one new connection per request, 20 ms
apart).
"""

import itertools
import threading
import time
from collections import Counter
from typing import Any

import pytest

from tests.cluster.test_canary import modelops_cli
from tests.e2e.support import (
    Traffic,
    chat,
    demo_service,
    deployments,
    pods,
    service_url,
    version_of,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status

pytestmark = pytest.mark.cluster

NAME = "bg"
CLIENT = "blue-green"
DELAY = 600  # far longer than the test: the abort always falls within it


def spec(version: str, delay: int = DELAY, *, auto: bool = False) -> dict[str, Any]:
    rollout = {
        "strategy": "BlueGreen",
        # Held in preview until promoted (unless auto): the switch happens when the test says.
        "blueGreen": {"scaleDownDelaySeconds": delay, "autoPromote": auto},
        "analysis": {"interval": "2s"},
        "progressDeadlineSeconds": 120,
    }
    return demo_service(NAME, version, rollout=rollout)


def only(url: str, version: str, count: int = 20) -> None:
    seen = Counter((a.status, version_of(a)) for a in (chat(url, CLIENT) for _ in range(count)))
    assert seen == {(200, version): count}, seen


def started(url: str) -> Traffic:
    loop = Traffic(url, CLIENT, pause=0.02)
    threading.Thread(target=loop.run, daemon=True).start()
    return loop


def moved(loop: Traffic, since: float, to: str) -> tuple[float, float]:
    """Seconds from ``since`` to the first answer from ``to``, and to the last from another."""
    after = [(at, code, version) for at, code, version in loop.answers if at >= since]
    first = next(at for at, _, version in after if version == to)
    others = [at for at, _, version in after if version != to]
    return first - since, (max(others) - since) if others else 0.0


def test_switch_then_abort_within_the_delay_moves_all_traffic_at_once(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(spec("1.0.0"), namespace)
    wait_ready(cluster, namespace, NAME)
    url = service_url(cluster, namespace, NAME)
    wait_serving(url, CLIENT, "1.0.0")

    cluster.apply(spec("2.0.0"), namespace)

    def previewing() -> dict[str, Any] | None:
        current = status(cluster, namespace, NAME)
        held = "held until promoted" in current.get("message", "")
        return current if current.get("blueGreen") == "Preview" and held else None

    preview = wait_until(previewing, 90, interval=0.5, message="2.0.0 ready in preview")
    assert preview["canaryWeight"] == 0
    preview_url = service_url(cluster, namespace, f"{NAME}-preview")
    wait_serving(preview_url, CLIENT, "2.0.0", timeout=15)
    only(preview_url, "2.0.0")
    only(url, "1.0.0")  # the preview runs at full size, and takes none of the traffic

    loop = started(url)
    try:
        promoted_at = time.monotonic()
        modelops_cli(cluster, "promote", NAME, "-n", namespace)
        wait_until(
            lambda: status(cluster, namespace, NAME).get("blueGreen") == "Switched",
            30,
            interval=0.2,
            message="switched",
        )
        wait_serving(url, CLIENT, "2.0.0", timeout=15)
        time.sleep(2)  # answers past the switch, to see that none comes from 1.0.0 any more
        only(url, "2.0.0")
        switch = moved(loop, promoted_at, "2.0.0")
        # The old version still runs at full size: the abort has it to switch back to.
        assert [len(pods(cluster, namespace, NAME, t)) for t in ("stable", "canary")] == [1, 1]

        aborted_at = time.monotonic()
        modelops_cli(cluster, "abort", NAME, "-n", namespace)
        wait_serving(url, CLIENT, "1.0.0", timeout=15)
        time.sleep(2)
        only(url, "1.0.0")
        back = moved(loop, aborted_at, "1.0.0")
    finally:
        loop.running = False
    current = status(cluster, namespace, NAME)
    assert current["phase"] == "RolledBack", current
    assert "all traffic switched back to 1.0.0 at once" in current["message"], current
    assert "canary" not in deployments(cluster, namespace, NAME)
    codes = Counter(code for _, code, _ in loop.answers)
    assert codes.keys() == {200} and not loop.errors, (codes, loop.errors[:5])
    print(
        f"\nblue-green on the real node, {len(loop.answers)} requests, all 200: "
        f"promote -> first 2.0.0 answer {switch[0]:.2f}s, last 1.0.0 answer {switch[1]:.2f}s; "
        f"abort -> first 1.0.0 answer {back[0]:.2f}s, last 2.0.0 answer {back[1]:.2f}s"
    )
    promoted_on_its_own(cluster, namespace, url)


def promoted_on_its_own(cluster: Cluster, namespace: str, url: str) -> None:
    """3.0.0 with autoPromote and a 5 s delay: Stable at the end, every answer 200, and the
    versions answered change once, from 1.0.0 to 3.0.0, never back."""
    loop = started(url)
    applied_at = time.monotonic()
    try:
        cluster.apply(spec("3.0.0", 5, auto=True), namespace)
        wait_until(
            lambda: (
                status(cluster, namespace, NAME).get("stableVersion") == "3.0.0"
                and status(cluster, namespace, NAME).get("phase") == "Stable"
            ),
            90,
            interval=0.5,
            message="3.0.0 promoted",
        )
        promoted_at = time.monotonic()
        time.sleep(2)  # answers past the canary's removal: stable's new pods take over
        only(url, "3.0.0")
    finally:
        loop.running = False
    versions = [version for _, _, version in loop.answers]
    changes = [b for a, b in itertools.pairwise(versions) if a != b]
    assert changes == ["3.0.0"], Counter(versions)
    codes = Counter(code for _, code, _ in loop.answers)
    assert codes.keys() == {200} and not loop.errors, (codes, loop.errors[:5])
    assert set(deployments(cluster, namespace, NAME)) == {"stable"}
    print(
        f"autoPromote: {len(loop.answers)} requests, all 200, one change of version; "
        f"apply -> first 3.0.0 answer {moved(loop, applied_at, '3.0.0')[0]:.2f}s, "
        f"-> Stable {promoted_at - applied_at:.2f}s"
    )

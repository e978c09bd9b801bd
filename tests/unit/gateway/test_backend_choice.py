"""Which counters a request is checked against: memory, or the Redis client of the policy's
address, made again only when the address changes (not for every policy reload)."""

from modelops.api.spec import RateLimit
from modelops.gateway.config import GatewayConfig
from modelops.gateway.policy import Policy
from modelops.gateway.server import Gateway


def policy(redis: str | None) -> Policy:
    spec: dict[str, object] = {"requestsPerMinute": 10}
    if redis is not None:
        spec["redis"] = {"address": redis}
    return Policy.compile(RateLimit.model_validate(spec))


def test_a_client_is_kept_across_reloads_and_replaced_when_the_address_changes() -> None:
    gw = Gateway(GatewayConfig(upstream="http://127.0.0.1:1", host="127.0.0.1", port=0))
    first = gw.backend(policy("127.0.0.1:6379"))
    assert gw.backend(policy("127.0.0.1:6379")) is first  # an equal spec, another object
    moved = gw.backend(policy("127.0.0.1:6380"))
    assert moved is not first
    assert gw.backend(policy("127.0.0.1:6380")) is moved
    assert gw.backend(policy(None)) is gw.memory
    back = gw.backend(policy("127.0.0.1:6379"))
    assert back is not first and back is not moved  # a new client: the old ones retired

"""The gateway flags of ``spec.rateLimit.auth`` and ``spec.dataPath``, and the API keys'
Secret volume. Nothing is rendered for a part left unset, so a spec without them renders the
sidecar exactly as before (and its pods are not rolled)."""

import json
from typing import Any

from modelops.api.base import parse_duration_seconds
from modelops.api.datapath import DataPath
from modelops.api.spec import ModelServiceSpec
from modelops.render.context import RenderContext

KEYS_VOLUME = "api-keys"
KEYS_DIR = "/etc/modelops/auth"
KEYS_FILE = "keys.yaml"
# Fallback ModelServices are reached through their Services, like any client would.
FALLBACK_PORT = 80


def _seconds(value: str | None) -> str | None:
    """A Duration as the gateway's flags take it: seconds."""
    return None if value is None else f"{parse_duration_seconds(value):g}"


def _int(value: int | None) -> str | None:
    return None if value is None else str(value)


def _flags(pairs: list[tuple[str, str | None]]) -> list[str]:
    out: list[str] = []
    for flag, value in pairs:
        if value is not None:
            out += [flag, value]
    return out


def data_path_args(ctx: RenderContext, data_path: DataPath) -> list[str]:
    timeouts, retries = data_path.timeouts, data_path.retries
    breaker, validation, fallback = (
        data_path.circuit_breaker,
        data_path.validation,
        data_path.fallback,
    )
    pairs: list[tuple[str, str | None]] = []
    if timeouts:
        pairs += [
            ("--upstream-connect-timeout", _seconds(timeouts.connect)),
            ("--upstream-timeout", _seconds(timeouts.idle)),
            ("--upstream-total-timeout", _seconds(timeouts.total)),
        ]
    if retries:
        pairs += [
            ("--retries", str(retries.attempts)),
            ("--retry-backoff", _seconds(retries.backoff)),
            ("--retry-max-backoff", _seconds(retries.max_backoff)),
        ]
    if breaker:
        pairs += [
            ("--breaker-failures", _int(breaker.failures)),
            ("--breaker-cooldown", _seconds(breaker.cooldown)),
        ]
    if validation:
        pairs += [
            ("--max-body-bytes", _int(validation.max_body_bytes)),
            ("--max-message-chars", _int(validation.max_message_chars)),
            ("--max-tokens", _int(validation.max_tokens)),
        ]
    if fallback:
        for name in fallback.model_services or ():
            url = f"http://{name}.{ctx.namespace}.svc:{FALLBACK_PORT}"
            pairs.append(("--fallback", f"{name}={url}"))
        if fallback.static_response is not None:
            static = json.dumps(fallback.static_response.to_api(), sort_keys=True)
            pairs.append(("--static-response", static))
    return _flags(pairs)


def gateway_extras(
    ctx: RenderContext, spec: ModelServiceSpec
) -> tuple[list[str], list[dict[str, Any]]]:
    """Extra gateway args and volume mounts for ``spec``; both empty when neither is set."""
    args: list[str] = []
    mounts: list[dict[str, Any]] = []
    if spec.rate_limit is not None and spec.rate_limit.auth is not None:
        args += ["--keys", f"{KEYS_DIR}/{KEYS_FILE}"]
        mounts.append({"name": KEYS_VOLUME, "mountPath": KEYS_DIR, "readOnly": True})
    if spec.data_path is not None:
        args += data_path_args(ctx, spec.data_path)
    return args, mounts


def keys_volume(spec: ModelServiceSpec) -> list[dict[str, Any]]:
    """The Secret of API keys as a volume (only its keys.yaml item); none without auth.
    Not optional: a pod whose keys are missing never starts, rather than serve unchecked."""
    if spec.rate_limit is None or spec.rate_limit.auth is None:
        return []
    secret = {
        "secretName": spec.rate_limit.auth.secret_name,
        "items": [{"key": KEYS_FILE, "path": KEYS_FILE}],
    }
    return [{"name": KEYS_VOLUME, "secret": secret}]

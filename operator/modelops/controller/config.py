"""The operator's configuration: parsed once from ``modelops run``'s arguments, then passed
down explicitly (no globals, no ``kopf.Memo`` lookups with defaults)."""

import argparse
from dataclasses import dataclass
from pathlib import Path

from modelops.notify.receivers import Receiver, parse_flag
from modelops.render.context import DEFAULT_GATEWAY_IMAGE

# Reconciles run at once on the wake queue's pool.
DEFAULT_WORKERS = 16


@dataclass(frozen=True)
class OperatorConfig:
    # Watched namespaces; empty: all of them (cluster-wide).
    namespaces: tuple[str, ...] = ()
    # Image of the rate-limit gateway *sidecar* put in every model pod (not Gateway API).
    sidecar_image: str = DEFAULT_GATEWAY_IMAGE
    # Canaries progressing at once; 0: no cap.
    max_concurrent_rollouts: int = 0
    workers: int = DEFAULT_WORKERS
    # Retries of a failed reconcile: doubling from the first delay up to the cap, for ever.
    retry_first_seconds: float = 1.0
    retry_limit_seconds: float = 30.0
    leader_elect: bool = False
    lease_name: str = "modelops"
    lease_namespace: str = "modelops-system"
    lease_seconds: int = 15
    metrics_port: int = 8080
    log_format: str = "plain"
    verbose: bool = False
    # Webhook receivers of every rollout's notifications (--notify; URLs read from files).
    notify: tuple[Receiver, ...] = ()

    @property
    def namespaced(self) -> bool:
        """Runs on a Role in named namespaces rather than cluster-wide."""
        return bool(self.namespaces)

    @classmethod
    def from_args(cls, args: argparse.Namespace, own_namespace: str) -> "OperatorConfig":
        """``own_namespace``: the Lease's namespace when ``--lease-namespace`` is unset."""
        return cls(
            namespaces=tuple(args.namespace),
            sidecar_image=args.gateway_image,
            max_concurrent_rollouts=max(0, int(args.max_concurrent_rollouts)),
            leader_elect=bool(args.leader_elect) and not args.standalone,
            lease_name=args.lease_name,
            lease_namespace=args.lease_namespace or own_namespace,
            lease_seconds=int(args.lease_duration),
            metrics_port=int(args.metrics_port),
            log_format=args.log_format,
            verbose=bool(args.verbose),
            notify=tuple(parse_flag(flag, Path(args.notify_url_dir)) for flag in args.notify),
        )

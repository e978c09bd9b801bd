"""Pure rollout logic: observations of the cluster in, the next status and actions out.

No I/O and no Kubernetes client (an import-linter contract keeps it so). Every transition
carries a reason that ends up in status and in an Event.

- ``plan``: what runs now (each track's spec and the canary's weight), read from status.
- ``verdict``: when the metrics are asked, and what one look at the canary concludes.
- ``transitions``: the machine (``advance``): the next status, Events and wake-up.
- ``steady``: the status when no canary runs; ``report``: the one status builder, with the
  kstatus conditions; ``conditions``, ``events``, ``observe``: their small helpers.
"""

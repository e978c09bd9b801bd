"""Pure rollout logic: observations of the cluster in, the next status and actions out.

No I/O and no Kubernetes client (an import-linter contract keeps it so), and the modules
import only downward (a ``layers`` contract):

- ``transitions``: the machine, ``advance``: the next status, Events and wake-up.
- ``steps``: walking the canary steps (start, hold, move on, restart on a steps edit);
  ``ends``: rollback and promotion.
- ``tick``: one evaluation's inputs and result; ``verdict``: when the metrics are asked and
  what a look at the canary concludes; ``steady``: the status when no canary runs.
- ``plan``: what runs now, read from status (the shell renders it); ``report``: the one status
  builder, with the kstatus conditions.
- ``conditions``, ``events``, ``observe``: condition, Event and observation helpers.

Every transition carries a reason that ends up in status and in an Event.
"""

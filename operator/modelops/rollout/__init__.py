"""Pure rollout logic: observations of the cluster in, the next status and actions out.

No I/O and no Kubernetes client (an import-linter contract keeps it so). Every transition
carries a reason that ends up in status and in an Event.
"""

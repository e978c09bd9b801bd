"""The controller runtime: what runs the pure core (api/, render/, rollout/) against a cluster.

kubebuilder's manager is the model. ``manager.Controller`` owns the watch cache
(modelops.kube.cache), a deduplicating wake queue with per-key coalescing, retry backoff,
timers where time itself is the trigger, the metric sampler and the rollout slots, and runs
one level-based ``reconcile.reconcile`` per ModelService. ``hooks`` is the one module that
talks to kopf (start-up and clean-up); ``process`` runs the whole (logging, /metrics, kopf's
loop). ``config.OperatorConfig`` is parsed once from the command line and passed down.

Importing any module here starts nothing: threads start in ``Controller.start``.
"""

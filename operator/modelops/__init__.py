"""modelops: a Kubernetes operator that runs ML/LLM model services declaratively.

Layers import downward only (enforced by the import-linter contract in pyproject.toml):
``api`` (types) <- ``render`` and ``rollout`` (pure) <- ``kube`` (API server I/O) <- ``handlers``.
"""

__version__ = "0.1.0"

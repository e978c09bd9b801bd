"""Pure renderers: a validated ModelService -> the Kubernetes objects it should own.

No I/O and no Kubernetes client here (an import-linter contract keeps it so): every function
takes API types and returns plain dicts, deterministically, so golden-file tests and
``modelops render`` (an offline preview for GitOps diffs) see exactly what the operator applies.
"""

from modelops.render.children import desired_children, possible_children
from modelops.render.context import RenderContext, Track
from modelops.render.refs import ChildRef

__all__ = ["ChildRef", "RenderContext", "Track", "desired_children", "possible_children"]

"""The ModelService API (v1alpha1): pydantic models that are the single source of truth.

The CRD in ``crds/`` is generated from these models (``modelops crd``), so the API server and the
offline renderer enforce the same rules with the same messages.
"""

from modelops.api.errors import SpecError, format_validation_error
from modelops.api.spec import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    ModelService,
    ModelServiceSpec,
)
from modelops.api.status import Condition, HistoryEntry, ModelServiceStatus, Phase

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "HistoryEntry",
    "ModelService",
    "ModelServiceSpec",
    "ModelServiceStatus",
    "Phase",
    "SpecError",
    "format_validation_error",
]

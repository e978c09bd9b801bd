"""Where kopf keeps what it last handled: a digest in one annotation, not a copy of the spec.

kopf tells a change from a repeat event by comparing the object's essence (spec, labels,
annotations) with the one it stored after the last success. Stored whole in an annotation,
that copy doubles a large spec's footprint in ``metadata.annotations``, which the API server
caps at 256 KiB: a ModelService with some 130 KiB of pod annotations was accepted, and then
every PATCH kopf made to it failed (422), event after event. The reconcile never reads kopf's
diff (one level-based reconcile, whatever changed), so a digest tells kopf all it needs.
"""

import hashlib
import json
from typing import Any, cast

import kopf


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        text = json.dumps(essence, sort_keys=True, separators=(",", ":"), default=str)
        return cast(Any, {"digest": hashlib.sha256(text.encode()).hexdigest()})

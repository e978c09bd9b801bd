"""Shared base model and field types for the API.

Fields are camelCase on the wire (Kubernetes convention) and snake_case in Python.
Unknown fields are refused so a typo fails at ``modelops render`` as it does at admission
(the API server prunes or rejects unknown fields of a structural schema).
"""

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from modelops.api.rules import Rule, RuleViolationError

# A Go duration as the API server's CEL ``duration()`` understands it: "30s", "1m30s", "500ms".
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        json_schema_extra={"example": "30s"},
    ),
]

# Kubernetes quantities ("500m", "2Gi", 1) are int-or-string on the wire.
Quantity = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]

# A DNS-1123 label, used for names that become parts of object names or label values.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Free-form Kubernetes objects passed through as they are (tolerations, affinity, raw HPA
# metric specs): the API server keeps their fields instead of pruning them.
FreeForm = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}),
]


class ApiModel(BaseModel):
    """Base of every API object: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    # Cross-field rules of this object: CEL in the CRD, the same check here.
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> "ApiModel":
        for rule in type(self).rules:
            if not rule.check(self):
                raise RuleViolationError(rule)
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if cls.rules:
            target["x-kubernetes-validations"] = [rule.to_cel() for rule in cls.rules]
        return schema

    def to_api(self) -> dict[str, Any]:
        """The object as it is written to the API server: camelCase, no unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# Kubernetes' metav1.Time on the wire: RFC 3339, UTC, whole seconds.
K8S_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def k8s_time(moment: datetime) -> str:
    return moment.strftime(K8S_TIME_FORMAT)


def parse_duration_seconds(value: str) -> float:
    """Seconds in a Go duration string that matched ``DURATION_PATTERN``."""
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    for number, _, unit in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|ms|s|m|h)", value):
        total += float(number) * units[unit]
    return total

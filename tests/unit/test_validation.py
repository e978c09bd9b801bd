"""Offline validation refuses what admission refuses, naming the same field."""

import pytest

from modelops.api import SpecError
from modelops.manifests import parse_model_service
from tests.support.invalid import CASES, Invalid
from tests.support.samples import full_model_service


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_invalid_spec_names_the_field(case: Invalid) -> None:
    with pytest.raises(SpecError) as raised:
        parse_model_service(case.manifest())
    assert any(case.field in message for message in raised.value.messages), raised.value.messages


def test_a_full_spec_is_valid() -> None:
    service = parse_model_service(full_model_service("ok"))
    assert service.spec.autoscaling is not None
    assert service.spec.autoscaling.min_replicas == 2


def test_at_least_fifteen_distinct_invalid_cases() -> None:
    assert len({case.id for case in CASES}) >= 15

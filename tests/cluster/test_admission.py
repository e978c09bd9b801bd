"""The API server refuses invalid ModelServices at `kubectl apply`, naming the field."""

from pathlib import Path

import pytest

from tests.support.cluster import REPO, Cluster
from tests.support.invalid import CASES, Invalid
from tests.support.operator import install_crd

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> Cluster:
    install_crd(cluster)
    return cluster


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_invalid_manifest_is_rejected_naming_the_field(
    crd: Cluster, namespace: str, case: Invalid
) -> None:
    result = crd.apply(case.manifest(), namespace, check=False)
    assert result.returncode != 0, f"accepted: {case.id}"
    assert case.field in result.stderr, result.stderr
    listed = crd.kubectl("get", "msvc", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == ""


SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_every_sample_is_accepted(crd: Cluster, namespace: str, sample: Path) -> None:
    result = crd.kubectl(
        "apply", "-n", namespace, "--dry-run=server", "-f", str(sample), check=False
    )
    assert result.returncode == 0, result.stderr


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 6

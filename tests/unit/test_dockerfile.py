"""The Dockerfile's promises, checked on its text (no Docker engine here to build it, and no
hadolint in Debian's archive to lint it): two stages, a final stage with no build tools, a
numeric non-root user, unbuffered Python, no HEALTHCHECK, `modelops` as the entrypoint."""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stages() -> list[list[tuple[str, str]]]:
    text = (REPO / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)  # continuation lines
    found: list[list[tuple[str, str]]] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        if found:
            found[-1].append((instruction.upper(), rest.strip()))
    return found


def test_multi_stage_with_a_clean_final_stage() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) == 2
    assert build[0][1].endswith("AS build")
    runs = " ".join(rest for instruction, rest in final if instruction == "RUN")
    for tool in ("apt-get", "pip ", "gcc", "build-essential", "make "):
        assert tool not in runs, f"{tool!r} in the final stage"
    copies = [rest for instruction, rest in final if instruction == "COPY"]
    assert copies == ["--from=build /opt/modelops /opt/modelops"]


def test_final_stage_runs_unprivileged_and_unbuffered() -> None:
    final = stages()[-1]
    users = [rest for instruction, rest in final if instruction == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    envs = " ".join(rest for instruction, rest in final if instruction == "ENV")
    assert "PYTHONUNBUFFERED=1" in envs
    assert all(instruction != "HEALTHCHECK" for stage in stages() for instruction, _ in stage)
    entrypoint = [json.loads(rest) for instruction, rest in final if instruction == "ENTRYPOINT"]
    assert entrypoint == [["modelops"]]


def test_base_is_slim_python_311() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)


def test_the_image_user_satisfies_the_deployment() -> None:
    """runAsNonRoot needs a numeric USER; the manifests run as the same uid."""
    user = [rest for instruction, rest in stages()[-1] if instruction == "USER"][-1]
    deployment = (REPO / "manifests" / "base" / "deployment.yaml").read_text()
    assert f"runAsUser: {user.split(':')[0]}" in deployment


def test_the_build_ca_reaches_only_the_build_stage() -> None:
    """hack/build-images.sh names a bind-mounted CA bundle through PIP_CERT for pip: an ARG of
    the build stage, so the final image carries neither the bundle nor the setting."""
    build, final = stages()[0], stages()[-1]
    assert ("ARG", "PIP_CERT") in build
    for instruction, rest in final:
        assert "PIP_CERT" not in rest and "REQUESTS_CA_BUNDLE" not in rest, (instruction, rest)
        assert "ca-certificates" not in rest, (instruction, rest)


def test_the_demo_model_image_trains_at_build_and_runs_unprivileged() -> None:
    text = (REPO / "examples" / "demo-model" / "Containerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line and not line.startswith("#")]
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in lines
    runs = " ".join(line for line in lines if line.startswith("RUN "))
    assert "python -m demomodel.train data/sentiment.csv /app/model.json" in runs
    user = next(line for line in reversed(lines) if line.startswith("USER ")).split()[1]
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0"
    assert 'ENTRYPOINT ["python", "-m", "demomodel"]' in lines


def test_the_build_stage_compiles_the_gateway_for_the_final_stage_s_python() -> None:
    """The gateway's C extensions (mypyc, setup.py) only load on the Python they were built
    for: the build stage's image must be the same Python release as the final stage's, and the
    build fails when the gateway did not come out compiled."""
    text = (REPO / "Dockerfile").read_text()
    final = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-", text, re.MULTILINE)
    build = re.search(r"^ARG BUILD_IMAGE=python:(\d+\.\d+)-", text, re.MULTILINE)
    assert final and build and final.group(1) == build.group(1)
    assert stages()[0][0][1] == "${BUILD_IMAGE} AS build"
    runs = " ".join(rest for instruction, rest in stages()[0] if instruction == "RUN")
    assert "MODELOPS_COMPILE=1" in runs
    assert 'endswith(".so")' in runs

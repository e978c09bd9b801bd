"""The gateway bench's comparison of the compiled gateway with the same code interpreted."""

from bench.gateway import Result, cpu_per_request, interpreted_env


def result(target: str, per_cpu_second: float) -> Result:
    return Result(
        target, "closed", 1000, 0, 1.0, 1000.0, 1.0, 2.0, 32,
        requests_per_cpu_second=per_cpu_second,
    )  # fmt: skip


def test_the_compiled_gateway_is_compared_with_the_same_interpreted() -> None:
    lines = cpu_per_request([result("gateway-memory", 4000), result("gateway-interpreted", 2500)])
    (line,) = lines
    assert line.startswith("gateway CPU per request, closed: ")
    assert "250 us, the same interpreted 400 us (-37.5%)" in line


def test_no_comparison_without_the_interpreted_run() -> None:
    assert cpu_per_request([result("gateway-memory", 4000)]) == []


def test_the_interpreted_gateway_runs_from_the_sources_only() -> None:
    path = interpreted_env()["PYTHONPATH"]
    assert path.endswith("/operator")
    assert ":" not in path

"""The instruction bench's instruments: the count read from callgrind's dumps, and the ratios
printed from it (issue 16's keys and budgets against their baselines, issue 19's nginx)."""

from pathlib import Path

from bench.gateway_instructions import Count, report, total_instructions


def test_the_count_is_the_dump_taken_while_counting(tmp_path: Path) -> None:
    # The explicit dump holds the counted interval; the one written at exit counted nothing
    # more (counting was switched off) and may not come at all.
    (tmp_path / "callgrind-x.101.1").write_text("events: Ir\nsummary: 4400000\n")
    (tmp_path / "callgrind-x.101").write_text("events: Ir\ntotals: 0\n")
    (tmp_path / "callgrind-y.102").write_text("summary: 999\n")  # another target's
    assert total_instructions(tmp_path / "callgrind-x") == 4_400_000


def test_the_report_divides_by_the_right_baseline() -> None:
    counts = {
        "gateway-memory": Count("gateway-memory", 1000, 400_000_000),
        "gateway-memory-budgets": Count("gateway-memory-budgets", 1000, 460_000_000),
        "nginx": Count("nginx", 1000, 25_000_000),
    }
    lines = report(counts)
    budgets = next(line for line in lines if line.startswith("gateway-memory-budgets against"))
    assert "+15.0% instructions" in budgets
    assert "-13.0% requests per CPU-second" in budgets
    assert "gateway-memory: 16.0x nginx's instructions per request" in lines


def test_the_report_says_how_far_the_gateway_is_from_the_floor() -> None:
    counts = {
        "gateway-memory": Count("gateway-memory", 1000, 180_000_000),
        "python-floor": Count("python-floor", 1000, 30_000_000),
        "nginx": Count("nginx", 1000, 25_000_000),
    }
    lines = report(counts)
    assert "gateway-memory: 6.0x python-floor's instructions per request" in lines
    assert any(line.startswith("python-floor (") and "1.2x nginx's" in line for line in lines)

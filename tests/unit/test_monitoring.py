"""manifests/monitoring's alerts and the chart's Grafana dashboard: valid PromQL and rules
(promtool, from the prometheus package that `make test-deps` installs) over metrics the
operator and the gateway really export."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from modelops import metrics
from modelops.gateway.metrics import Metrics as GatewayMetrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "manifests" / "monitoring" / "prometheusrule.yaml"
DASHBOARD = REPO / "charts" / "modelops" / "files" / "dashboard.json"


def exported_names() -> set[str]:
    """The operator's metrics and the gateway's (its own registry per track)."""
    wrappers = [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]
    families = [family for value in wrappers for family in value.describe()]
    # Everything the gateway's registry serves: prometheus_client's metrics and its own
    # lock-free families (gateway/series.py) alike.
    families += list(GatewayMetrics("stable").registry.collect())
    names = set()
    for family in families:
        names.add(family.name)
        names.update(f"{family.name}{s}" for s in ("_total", "_bucket", "_sum", "_count"))
    return names


def promtool_check(rules: dict[str, Any], path: Path) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is missing: run `make test-deps` (Debian package prometheus)", pytrace=False
        )
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel's query as a recording rule: promtool parses it."""
    records = [{"record": f"modelops:panel{i}", "expr": e} for i, e in enumerate(dashboard_exprs())]
    out = promtool_check({"groups": [{"name": "dashboard", "rules": records}]}, tmp_path / "d.yaml")
    assert f"{len(records)} rules found" in out


def test_dashboard_uses_exported_metrics() -> None:
    exported = exported_names()
    for expr in dashboard_exprs():
        for name in re.findall(r"\bmodelops_[a-z_]+", expr):
            assert name in exported, f"the dashboard queries {name}, which nothing exports"


def test_rules_pass_promtool(tmp_path: Path) -> None:
    spec = yaml.safe_load(RULES.read_text())["spec"]
    plain = tmp_path / "rules.yaml"
    out = promtool_check(spec, plain)
    assert "4 rules found" in out, out


def test_alerts_use_exported_metrics() -> None:
    spec = yaml.safe_load(RULES.read_text())["spec"]
    alerts = {rule["alert"]: rule["expr"] for group in spec["groups"] for rule in group["rules"]}
    assert {"ModelOpsRollbackHappened", "ModelOpsReconcileErrors", "ModelOpsOperatorDown"} <= set(
        alerts
    )
    exported = exported_names()
    for alert, expr in alerts.items():
        for name in re.findall(r"\bmodelops_[a-z_]+", expr):
            assert name in exported, (
                f"{alert} uses {name}, which modelops/metrics.py does not export"
            )

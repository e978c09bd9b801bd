"""manifests/monitoring's alerts: valid PromQL and rules (promtool, from the prometheus
package that `make test-deps` installs) over metrics the operator really exports."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from modelops import metrics

RULES = Path(__file__).resolve().parents[2] / "manifests" / "monitoring" / "prometheusrule.yaml"


def exported_names() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.add(family.name)
                names.update(
                    f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count")
                )
    return names


def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is missing: run `make test-deps` (Debian package prometheus)", pytrace=False
        )
    spec = yaml.safe_load(RULES.read_text())["spec"]
    plain = tmp_path / "rules.yaml"
    plain.write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [promtool, "check", "rules", str(plain)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 rules found" in result.stdout, result.stdout


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

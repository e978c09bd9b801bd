"""pip-audit over the venv, with a summary that does not pass silence off as a clean result.

Known vulnerabilities fail the run. Dependencies pip-audit could not look up (the registry's
per-version vulnerability data is not reachable from every network) are listed and counted,
so "nothing found" and "nothing checked" read differently.
"""

import json
import subprocess  # nosec B404
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def main() -> int:
    # Our own venv's pip-audit with fixed arguments: nothing untrusted reaches the command.
    result = subprocess.run(  # noqa: S603  # nosec B603
        [str(PIP_AUDIT), "--skip-editable", "--progress-spinner", "off", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(result.stdout + result.stderr, file=sys.stderr)
        print("pip-audit: no report", file=sys.stderr)
        return 1
    dependencies = report["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']} {dependency['version']}: {ids}")
    print(
        f"pip-audit: {len(dependencies)} dependencies, {audited} audited, "
        f"{len(vulnerable)} with known vulnerabilities, {len(skipped)} not auditable here"
    )
    if skipped and not audited:
        print(
            "pip-audit: WARNING no dependency could be looked up (the vulnerability service "
            "is not reachable from this network); nothing was checked"
        )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())

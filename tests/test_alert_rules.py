"""deploy/prometheus/fastpoll-rules.yml: valid for promtool, its unit tests pass, its metrics are exported."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.metrics.fleet import exported_names, scrape_text

pytestmark = pytest.mark.prometheus
RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = RULES_DIR / "fastpoll-rules.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(exe).exists():
        pytest.skip("promtool not installed")
    return subprocess.run([exe, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120)


def test_promtool_check_rules_passes():
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rule_unit_tests_pass():
    done = promtool("test", "rules", "fastpoll-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES_DIR / "fastpoll-rules.test.yml").read_text())["tests"]
    tested = {
        t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if t.get("exp_alerts")
    }
    assert alerts == tested


def test_every_metric_in_the_rules_is_one_fastpoll_exports():
    exported = exported_names(scrape_text()) | {"up"}
    rules = yaml.safe_load(RULES.read_text())["groups"]
    used = {m for g in rules for r in g["rules"] for m in re.findall(r"\bfastpoll_[a-z0-9_]+", r["expr"])}
    assert used and used <= exported, used - exported

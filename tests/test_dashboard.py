"""deploy/grafana/fastpoll-dashboard.json: valid Grafana dashboard JSON whose queries use exported metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.metrics.fleet import exported_names, scrape_text

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "fastpoll-dashboard.json"
PANEL_TYPES = {"row", "stat", "timeseries", "table", "gauge", "bargauge", "text"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def expressions(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"])
    return exprs


def test_dashboard_has_the_grafana_top_level_fields(dashboard):
    for key in ("title", "uid", "schemaVersion", "panels", "templating", "time"):
        assert key in dashboard
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36


def test_datasource_is_a_variable_every_panel_and_target_uses(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"


def test_panels_have_unique_ids_known_types_positions_and_targets(dashboard):
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for p in panels(dashboard):
        assert p["type"] in PANEL_TYPES
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if p["type"] != "row":
            assert p["targets"], p["title"]
            ref_ids = [t["refId"] for t in p["targets"]]
            assert len(ref_ids) == len(set(ref_ids))


def test_has_fleet_overview_device_drill_down_and_poller_health(dashboard):
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Fleet overview", "Device", "fastpoll health"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"device", "interface"} <= variables
    device_panels = [e for e in expressions(dashboard) if 'device_id="$device"' in e]
    assert any("fastpoll_interface_in_octets_total" in e for e in device_panels)


def test_every_variable_used_is_defined(dashboard):
    defined = {v["name"] for v in dashboard["templating"]["list"]} | {"__rate_interval", "__interval"}
    used = {m for e in expressions(dashboard) for m in re.findall(r"\$(\w+)", e)}
    assert used <= defined, used - defined


def test_every_metric_in_the_queries_is_one_fastpoll_exports(dashboard):
    exported = exported_names(scrape_text()) | {"up"}
    used = {m for e in expressions(dashboard) for m in re.findall(r"\bfastpoll_[a-z0-9_]+", e)}
    assert used and used <= exported, used - exported

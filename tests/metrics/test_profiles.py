"""Profile metrics: the latest samples per device, rendered at scrape time as fastpoll_profile_* families."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from poller.checks.profiles import Profile, Sample, load_profile_text
from poller.metrics.profiles import META_DROPPED, META_SERIES, ProfileCollector, ProfileState
from poller.model import Device, Target

UPS = load_profile_text(
    """\
name: ups
scalars:
  - oid: 1.3.6.1.2.1.33.1.2.7.0
    metric: ups_battery_temperature
    help: Battery temperature in degrees Celsius
table:
  index_label: line
  labels:
    name: 1.3.6.1.2.1.33.1.4.4.1.1
  columns:
    - oid: 1.3.6.1.2.1.33.1.4.4.1.2
      metric: ups_output_voltage
      scale: 0.1
    - oid: 1.3.6.1.2.1.33.1.4.4.1.3
      metric: ups_output_packets
      type: counter
""",
    "ups.yaml",
)
LOAD = load_profile_text(
    "name: load\nscalars:\n  - oid: 1.3.6.1.2.1.25.1.6.0\n    metric: host_processes\n", "load.yaml"
)


def device(device_id: int, hostname: str | None = None) -> Device:
    return Device(device_id, hostname or f"ups{device_id}", Target("127.0.0.1"))


def temperature(value: float) -> Sample:
    return Sample("ups", "ups_battery_temperature", "gauge", {}, value)


def voltage(line: str, name: str, value: float) -> Sample:
    return Sample("ups", "ups_output_voltage", "gauge", {"line": line, "name": name}, value)


def render(state: ProfileState, profiles: tuple[Profile, ...] = (UPS, LOAD), budget: int = 1000) -> str:
    return ProfileCollector(state, lambda: profiles, lambda: budget).render()


def samples_of(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_samples_are_exported_with_device_labels_and_the_profile_labels():
    state = ProfileState()
    state.update(device(1), {"ups": [temperature(31.0), voltage("1", "L1", 230.1)]})
    text = render(state)
    assert 'fastpoll_profile_ups_battery_temperature{device_id="1",hostname="ups1"} 31.0\n' in text
    assert (
        'fastpoll_profile_ups_output_voltage{device_id="1",hostname="ups1",line="1",name="L1"} 230.1\n'
        in text
    )


def test_help_and_type_come_from_the_profile():
    state = ProfileState()
    state.update(device(1), {"ups": [temperature(31.0)]})
    text = render(state)
    assert "# HELP fastpoll_profile_ups_battery_temperature Battery temperature in degrees Celsius\n" in text
    assert "# TYPE fastpoll_profile_ups_battery_temperature gauge\n" in text


def test_a_metric_without_help_is_described_by_its_profile_and_oid():
    state = ProfileState()
    state.update(device(1), {"load": [Sample("load", "host_processes", "gauge", {}, 94.0)]})
    text = render(state)
    assert (
        "# HELP fastpoll_profile_host_processes host_processes (profile load, OID 1.3.6.1.2.1.25.1.6.0)\n"
        in text
    )


def test_counters_are_exported_as_total_with_type_counter():
    state = ProfileState()
    packets = Sample("ups", "ups_output_packets", "counter", {"line": "1", "name": "L1"}, 12345.0)
    state.update(device(1), {"ups": [packets]})
    text = render(state)
    assert "# TYPE fastpoll_profile_ups_output_packets_total counter\n" in text
    assert (
        samples_of(text)[
            (
                "fastpoll_profile_ups_output_packets_total",
                (("device_id", "1"), ("hostname", "ups1"), ("line", "1"), ("name", "L1")),
            )
        ]
        == 12345.0
    )


def test_each_family_is_described_once_with_every_device_under_it():
    state = ProfileState()
    state.update(device(2), {"ups": [temperature(30.0)]})
    state.update(device(1), {"ups": [temperature(31.0)]})
    text = render(state)
    assert text.count("# TYPE fastpoll_profile_ups_battery_temperature gauge") == 1
    (family,) = [f for f in text_string_to_metric_families(text) if f.name.startswith("fastpoll_profile_ups")]
    assert [(s.labels["device_id"], s.value) for s in family.samples] == [("1", 31.0), ("2", 30.0)]


def test_label_values_are_escaped_and_read_back_unchanged():
    state = ProfileState()
    state.update(device(1, 'a"b\\c'), {"ups": [voltage("1", "line\n1", 1.0)]})
    labels = (("device_id", "1"), ("hostname", 'a"b\\c'), ("line", "1"), ("name", "line\n1"))
    assert samples_of(render(state))[("fastpoll_profile_ups_output_voltage", labels)] == 1.0


def test_a_removed_device_vanishes():
    state = ProfileState()
    state.update(device(1), {"ups": [temperature(31.0)]})
    state.update(device(2), {"ups": [temperature(30.0)]})
    state.remove(1)
    text = render(state)
    assert 'device_id="1"' not in text and 'device_id="2"' in text


def test_a_profile_not_run_on_this_poll_keeps_its_samples_and_one_that_failed_loses_them():
    state = ProfileState()
    processes = Sample("load", "host_processes", "gauge", {}, 94.0)
    state.update(device(1), {"ups": [temperature(31.0)], "load": [processes]})
    state.update(device(1), {"ups": [temperature(32.0)]})
    assert (
        samples_of(render(state))[
            ("fastpoll_profile_host_processes", (("device_id", "1"), ("hostname", "ups1")))
        ]
        == 94.0
    )
    state.update(device(1), {"load": []})
    text = render(state)
    assert "fastpoll_profile_host_processes{" not in text
    assert 'fastpoll_profile_ups_battery_temperature{device_id="1",hostname="ups1"} 32.0' in text


def test_profiles_disabled_by_a_reload_lose_their_samples():
    state = ProfileState()
    processes = Sample("load", "host_processes", "gauge", {}, 94.0)
    state.update(device(1), {"ups": [temperature(31.0)], "load": [processes]})
    state.retain_profiles(["ups"])
    text = render(state, profiles=(UPS,))
    assert (
        "fastpoll_profile_host_processes{" not in text and "fastpoll_profile_ups_battery_temperature{" in text
    )


def test_the_budget_keeps_whole_devices_in_device_id_order_and_counts_the_rest():
    state = ProfileState()
    for device_id in (3, 1, 2):
        state.update(device(device_id), {"ups": [temperature(30.0), voltage("1", "L1", 230.0)]})
    got = samples_of(render(state, budget=5))
    assert {labels[0][1] for name, labels in got if name.startswith("fastpoll_profile_")} == {"1", "2"}
    assert got[(META_SERIES, ())] == 4
    assert got[(META_DROPPED, ())] == 2


def test_no_samples_render_only_the_budget_gauges():
    got = samples_of(render(ProfileState()))
    assert got == {(META_SERIES, ()): 0, (META_DROPPED, ()): 0}


def test_nothing_is_rendered_while_no_profile_is_enabled():
    assert render(ProfileState(), profiles=()) == ""


@pytest.mark.prometheus
def test_promtool_check_metrics_is_clean():
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.skip("promtool not installed")
    state = ProfileState()
    packets = Sample("ups", "ups_output_packets", "counter", {"line": "1", "name": "L1"}, 12.0)
    for device_id in (1, 2):
        state.update(device(device_id), {"ups": [temperature(31.0), voltage("1", "L1", 230.1), packets]})
    done = subprocess.run(
        [promtool, "check", "metrics"], input=render(state).encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert done.stdout.decode().strip() == "" and done.stderr.decode().strip() == ""

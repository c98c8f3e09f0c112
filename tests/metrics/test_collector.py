"""FleetCollector: device and interface families built at scrape time, cardinality controls, budget."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from poller.config import MetricFamilies, MetricsSettings, PortSelection
from poller.metrics import collector as collector_module
from poller.metrics.collector import FleetCollector
from poller.metrics.gzip_body import inflate_piece
from poller.metrics.state import FleetState

from .fleet import device, populated_state, port, result


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def names(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


def values_of(text: str, name: str) -> dict[str, float]:
    """ifindex (or device_id) -> value for one sample name."""
    out = {}
    for (n, labels), value in samples(text).items():
        if n == name:
            d = dict(labels)
            out[d.get("ifindex", d["device_id"])] = value
    return out


ALL_FAMILIES = MetricFamilies(port_errors=True)  # the defaults leave errors/discards off


def render(state: FleetState, **settings) -> str:
    """Render with every family on unless a test names its own families."""
    settings.setdefault("families", ALL_FAMILIES)
    return FleetCollector(state, MetricsSettings(**settings)).render()


def test_fast_text_equals_prometheus_client_exposition_of_collect():
    state = populated_state(devices=3, ports=4)
    state.update(device(9, hostname='we"ird\\host\nname'), result(9, [port(1, alias='a "quoted" \\ alias')]))
    collector = FleetCollector(state, MetricsSettings())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    generic = samples(generate_latest(registry).decode())
    fast = samples(collector.render())
    drop = {"fastpoll_metrics_render_seconds"}  # a timing, differs between the two runs
    assert {k: v for k, v in fast.items() if k[0] not in drop} == {
        k: v for k, v in generic.items() if k[0] not in drop
    }


def test_device_series_carry_device_id_hostname_and_sysname():
    state = FleetState(lambda d: 60.0)
    state.update(device(7, "core1.pop", "CORE-1"), result(7, polled=1_700_000_123, uptime=99, failures=0))
    text = render(state)
    labels = frozenset({"device_id": "7", "hostname": "core1.pop", "sysname": "CORE-1"}.items())
    s = samples(text)
    assert s[("fastpoll_device_up", labels)] == 1
    assert s[("fastpoll_device_uptime_seconds", labels)] == 99
    assert s[("fastpoll_device_last_poll_timestamp_seconds", labels)] == 1_700_000_123
    assert s[("fastpoll_device_poll_duration_seconds", labels)] == 0.25
    assert s[("fastpoll_device_consecutive_failures", labels)] == 0
    assert s[("fastpoll_device_poll_interval_seconds", labels)] == 60


def test_down_device_is_up_zero_with_its_failures():
    state = FleetState()
    state.update(device(1), result(1, up=False, error="timeout", failures=4))
    assert values_of(render(state), "fastpoll_device_up") == {"1": 0}
    assert values_of(render(state), "fastpoll_device_consecutive_failures") == {"1": 4}


def test_counters_are_the_raw_device_counters_typed_counter():
    state = FleetState()
    big = 2**64 - 5
    state.update(device(1), result(1, [port(3, counters={"ifInOctets": big, "ifOutOctets": 12})]))
    text = render(state)
    assert "# TYPE fastpoll_interface_in_octets_total counter" in text
    assert re.search(
        r'^fastpoll_interface_in_octets_total\{.*ifindex="3".*\} 18446744073709551611$', text, re.M
    )
    assert values_of(text, "fastpoll_interface_out_octets_total") == {"3": 12}
    # a counter the device does not have gets no series
    assert "fastpoll_interface_in_errors_total{" not in text


def test_port_labels_are_device_id_hostname_ifindex_ifname_ifalias():
    state = FleetState()
    state.update(device(1, "sw1"), result(1, [port(5, name="xe-0/0/5", alias="to core")]))
    port_labels = {
        dict(lbl).get("ifindex"): dict(lbl)
        for (n, lbl) in samples(render(state))
        if n == "fastpoll_interface_in_octets_total"
    }
    assert port_labels == {
        "5": {"device_id": "1", "hostname": "sw1", "ifindex": "5", "ifname": "xe-0/0/5", "ifalias": "to core"}
    }


def test_ifalias_label_only_when_enabled():
    state = FleetState()
    state.update(device(1), result(1, [port(1, alias="customer x")]))
    text = render(state, ports=PortSelection(ifalias_label=False))
    assert "ifalias" not in text


def test_status_is_numbered_as_if_mib():
    state = FleetState()
    ports = [
        port(1, oper="up", admin="up"),
        port(2, oper="down", admin="down"),
        port(3, oper="lowerLayerDown"),
        port(4, oper="dormant"),
        port(5, oper="42"),  # a number IF-MIB does not name stays that number
        port(6, oper=None),  # unknown: no series
    ]
    state.update(device(1), result(1, ports))
    text = render(state)
    assert values_of(text, "fastpoll_interface_oper_status") == {"1": 1, "2": 2, "3": 7, "4": 5, "5": 42}
    assert values_of(text, "fastpoll_interface_admin_status")["2"] == 2


def test_speed_in_bytes_per_second_the_prometheus_base_unit():
    state = FleetState()
    state.update(
        device(1), result(1, [port(1, speed=10_000_000_000), port(2, speed=None), port(3, speed=12)])
    )
    assert values_of(render(state), "fastpoll_interface_speed_bytes_per_second") == {"1": 1.25e9, "3": 1.5}


def test_removed_device_and_vanished_port_are_gone_from_the_next_scrape():
    state = FleetState()
    state.update(device(1), result(1, [port(1), port(2)]))
    state.update(device(2), result(2, [port(1)]))
    collector = FleetCollector(state, MetricsSettings())
    assert "2" in values_of(collector.render(), "fastpoll_interface_in_octets_total")
    state.remove(2)
    state.update(device(1), result(1, [port(1)]))
    text = collector.render()
    assert 'device_id="2"' not in text
    assert values_of(text, "fastpoll_interface_in_octets_total") == {"1": 1000}


def test_exclude_types_drops_loopbacks_by_default():
    state = FleetState()
    state.update(device(1), result(1, [port(1), port(2, if_type="softwareLoopback")]))
    assert set(values_of(render(state), "fastpoll_interface_oper_status")) == {"1"}


def test_include_types_keeps_only_those():
    state = FleetState()
    state.update(device(1), result(1, [port(1), port(2, if_type="l2vlan"), port(3, if_type="ieee8023adLag")]))
    text = render(state, ports=PortSelection(include_types=["ethernetCsmacd", "ieee8023adLag"]))
    assert set(values_of(text, "fastpoll_interface_oper_status")) == {"1", "3"}


def test_ifname_regexes_include_and_exclude():
    state = FleetState()
    state.update(
        device(1),
        result(1, [port(1, name="xe-0/0/1"), port(2, name="xe-0/0/2.100"), port(3, name="ge-1/0/0")]),
    )
    text = render(
        state, ports=PortSelection(include_names=re.compile(r"^xe-"), exclude_names=re.compile(r"\.\d+$"))
    )
    assert set(values_of(text, "fastpoll_interface_oper_status")) == {"1"}


def test_admin_status_up_skips_shut_ports():
    state = FleetState()
    state.update(device(1), result(1, [port(1), port(2, admin="down")]))
    text = render(state, ports=PortSelection(admin_status="up"))
    assert set(values_of(text, "fastpoll_interface_oper_status")) == {"1"}


def test_each_family_switch_turns_its_family_off():
    state = populated_state(devices=1, ports=1)
    everything = names(render(state))
    for switch, gone in (
        ("device", "fastpoll_device_up"),
        ("ports", "fastpoll_interface_in_octets_total"),
        ("port_errors", "fastpoll_interface_in_errors_total"),
        ("port_status", "fastpoll_interface_oper_status"),
    ):
        text = render(state, families=ALL_FAMILIES.model_copy(update={switch: False}))
        assert gone in everything and gone not in names(text), switch
        assert f"# HELP {gone}" not in text


def test_series_per_port_with_every_family_is_eleven():
    state = FleetState(lambda d: 30.0)
    state.update(device(1), result(1, [port(1), port(2)]))
    text = render(state)
    assert samples(text)[("fastpoll_metrics_series", frozenset())] == 6 + 2 * 11


def test_series_per_port_with_the_lean_default_families_is_seven():
    state = FleetState(lambda d: 30.0)
    state.update(device(1), result(1, [port(1), port(2)]))
    text = render(state, families=MetricFamilies())
    assert samples(text)[("fastpoll_metrics_series", frozenset())] == 6 + 2 * 7


def test_budget_drops_port_series_of_the_last_devices_and_counts_them():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2, 3):
        state.update(device(n), result(n, [port(1), port(2)]))  # 6 device + 22 port series each
    text = render(state, series_budget=3 * 6 + 22 + 5)
    s = samples(text)
    assert set(values_of(text, "fastpoll_device_up")) == {"1", "2", "3"}  # device series first
    kept = {dict(lbl)["device_id"] for n, lbl in s if n == "fastpoll_interface_in_octets_total"}
    assert kept == {"1"}
    assert s[("fastpoll_metrics_series", frozenset())] == 3 * 6 + 22
    assert s[("fastpoll_metrics_series_dropped", frozenset())] == 2 * 22
    assert s[("fastpoll_metrics_series_budget", frozenset())] == 3 * 6 + 22 + 5


def test_budget_smaller_than_the_device_series_drops_whole_devices():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2):
        state.update(device(n), result(n, [port(1)]))
    text = render(state, series_budget=6)
    assert set(values_of(text, "fastpoll_device_up")) == {"1"}
    assert samples(text)[("fastpoll_metrics_series_dropped", frozenset())] == 11 + 6 + 11


def test_budget_warning_is_logged_when_dropping_starts_and_when_it_ends(caplog):
    state = FleetState(lambda d: 30.0)
    for n in (1, 2):
        state.update(device(n), result(n, [port(1)]))
    collector = FleetCollector(state, MetricsSettings(series_budget=20, families=ALL_FAMILIES))
    with caplog.at_level(logging.INFO, logger="poller.metrics.collector"):
        collector.render()
        collector.render()
        state.update(device(3), result(3, [port(1)]))
        collector.render()
        state.remove(2)
        state.remove(3)
        collector.render()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # 22 then 33 dropped: one warning (poller.metrics.budget repeats it later)
    assert "22 series not exported" in messages[0] and "series_budget = 20" in messages[0]
    assert "no longer exceeded" in messages[1]


def test_label_values_are_escaped():
    state = FleetState()
    state.update(device(1, hostname='h"1'), result(1, [port(1, name="a\\b", alias="line1\nline2")]))
    text = render(state)
    assert 'hostname="h\\"1"' in text and 'ifname="a\\\\b"' in text and 'ifalias="line1\\nline2"' in text
    assert values_of(text, "fastpoll_interface_in_octets_total") == {"1": 1000}


def test_a_new_poll_is_rendered_again_and_an_unchanged_device_reuses_its_text():
    state = FleetState()
    state.update(device(1), result(1, [port(1, counters={"ifInOctets": 1})]))
    collector = FleetCollector(state, MetricsSettings())
    collector.render()
    cached = state.snapshots()[0].cache
    collector.render()
    assert state.snapshots()[0].cache is cached
    state.update(device(1), result(1, [port(1, counters={"ifInOctets": 2})]))
    assert values_of(collector.render(), "fastpoll_interface_in_octets_total") == {"1": 2}


def port_text_of(state: FleetState) -> dict[int, bool]:
    """device_id -> whether the device's cached rendering holds port text."""
    return {s.device_id: s.cache.port_text is not None for s in state.snapshots()}


def test_a_device_whose_ports_the_budget_drops_has_no_port_text_rendered():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2, 3):
        state.update(device(n), result(n, [port(1), port(2)]))  # 6 device + 22 port series each
    collector = FleetCollector(
        state, MetricsSettings(series_budget=3 * 6 + 22 + 5, families=ALL_FAMILIES, cache_port_text=True)
    )
    collector.render()
    assert port_text_of(state) == {1: True, 2: False, 3: False}


def test_a_device_the_budget_exports_later_gets_its_port_text_without_a_new_poll():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2, 3):
        state.update(device(n), result(n, [port(1), port(2)]))
    collector = FleetCollector(
        state, MetricsSettings(series_budget=3 * 6 + 22 + 5, families=ALL_FAMILIES, cache_port_text=True)
    )
    collector.render()
    second = state.snapshots()[1]
    state.remove(1)  # device 2's ports now fit
    text = collector.render()
    assert state.snapshots()[0] is second  # the same poll: its counts were cached, its ports were not
    kept = {dict(lbl)["device_id"] for n, lbl in samples(text) if n == "fastpoll_interface_in_octets_total"}
    assert kept == {"2"}
    assert port_text_of(state) == {2: True, 3: False}


def test_exported_port_text_is_rendered_once_per_poll():
    state = FleetState()
    state.update(device(1), result(1, [port(1)]))
    collector = FleetCollector(state, MetricsSettings(cache_port_text=True))
    collector.render()
    text = state.snapshots()[0].cache.port_text
    collector.render()
    assert text is not None and state.snapshots()[0].cache.port_text is text


def test_without_the_port_text_cache_every_scrape_renders_the_ports_again_and_the_text_is_the_same():
    state = FleetState()
    state.update(device(1), result(1, [port(1, counters={"ifInOctets": 7}), port(2)]))
    cached = FleetCollector(state, MetricsSettings()).render()
    uncached = FleetCollector(state, MetricsSettings(cache_port_text=False))
    text = uncached.render()
    assert state.snapshots()[0].cache.port_text is None  # nothing kept between scrapes
    timed = "fastpoll_metrics_render_seconds "  # the only line that differs between two renders
    assert text.split(timed)[0] == cached.split(timed)[0]
    assert values_of(uncached.render(), "fastpoll_interface_in_octets_total")["1"] == 7


def test_collect_equals_render_when_the_budget_drops_ports():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2, 3, 4):
        ports = [
            port(1, counters={"ifInOctets": 5, "ifOutOctets": None}),  # 4 series: None and absent make none
            port(2, oper=None, speed=12, alias="x"),  # 10 series
            port(3, if_type="softwareLoopback"),  # not admitted by the default selection
        ]
        state.update(device(n), result(n, ports))
    collector = FleetCollector(
        state, MetricsSettings(series_budget=4 * 6 + 2 * 14 + 1, families=ALL_FAMILIES)
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    generic = samples(generate_latest(registry).decode())
    fast = samples(collector.render())
    drop = {"fastpoll_metrics_render_seconds"}
    assert fast[("fastpoll_metrics_series_dropped", frozenset())] == 2 * 14  # two devices' ports dropped
    assert {k: v for k, v in fast.items() if k[0] not in drop} == {
        k: v for k, v in generic.items() if k[0] not in drop
    }


def test_a_scrape_without_the_cache_gives_the_cached_text_for_every_family_label_and_budget():
    state = FleetState(lambda d: 30.0)
    for n in (1, 2, 3):
        ports = [port(1, counters={"ifInOctets": 5, "ifOutOctets": None}), port(2, oper=None, alias='a "b"')]
        state.update(device(n), result(n, ports))
    settings = {
        "families": ALL_FAMILIES,
        "ports": PortSelection(ifalias_label=True),
        "series_budget": 3 * 6 + 2 * 18,  # the third device's ports are dropped
    }
    cached = FleetCollector(state, MetricsSettings(**settings)).render()
    streamed = "".join(FleetCollector(state, MetricsSettings(cache_port_text=False, **settings)).iter_parts())
    timed = "fastpoll_metrics_render_seconds "  # the only line that differs between two renders
    assert 'ifalias="a \\"b\\""' in streamed
    assert streamed.split(timed)[0] == cached.split(timed)[0]


def test_the_port_text_is_kept_compressed_one_piece_per_family_and_a_gzip_scrape_sends_it_as_kept():
    state = FleetState()
    state.update(device(1), result(1, [port(1, counters={"ifInOctets": 7}), port(2)]))
    collector = FleetCollector(state, MetricsSettings())
    text = collector.render()
    pieces = state.snapshots()[0].cache.port_text
    assert 'fastpoll_interface_in_octets_total{device_id="1"' in inflate_piece(pieces[0])
    parts = list(collector.iter_gzip_parts())
    assert all(any(p is piece for p in parts) for piece in pieces if piece)  # the kept objects themselves
    timed = "fastpoll_metrics_render_seconds "
    plain = "".join(p if isinstance(p, str) else inflate_piece(p) for p in parts)
    assert plain.split(timed)[0] == text.split(timed)[0]


def test_ports_kept_in_a_port_table_render_as_the_same_ports_kept_as_objects():
    from .test_state import _polled_table

    out, table = _polled_table()
    as_objects, as_table = FleetState(), FleetState()
    for state, frozen in ((as_objects, None), (as_table, table)):
        polled = result(1)
        polled.port_metrics, polled.port_table = out.metrics, frozen
        state.update(device(1), polled)
    settings = MetricsSettings()

    def text(state: FleetState) -> list[str]:  # the render time differs from one render to the next
        lines = FleetCollector(state, settings).render().splitlines()
        return [line for line in lines if not line.startswith("fastpoll_metrics_render_seconds ")]

    lines = text(as_table)
    assert lines == text(as_objects)
    assert sum(line.startswith("fastpoll_interface_in_octets_total{") for line in lines) == 2


# ---------------------------------------------------------------------------------------- prepare


async def test_prepare_leaves_the_scrape_nothing_to_render():
    state = populated_state(devices=4, ports=3)
    collector = FleetCollector(state, MetricsSettings(families=ALL_FAMILIES))
    await collector.prepare()
    rendered: list[int] = []
    original = collector._render_device
    collector._render_device = lambda snap, ports: rendered.append(snap.device_id) or original(snap, ports)  # type: ignore[method-assign]
    collector._render_ports = lambda r: pytest.fail("the port text was not kept")  # type: ignore[method-assign]
    text = collector.render()
    assert rendered == []
    unprepared = FleetCollector(state, MetricsSettings(families=ALL_FAMILIES)).render()
    timing = "fastpoll_metrics_render_seconds"
    assert {k: v for k, v in samples(text).items() if k[0] != timing} == {
        k: v for k, v in samples(unprepared).items() if k[0] != timing
    }


def render_slowly(collector: FleetCollector, seconds: float) -> None:
    """Each device's rendering takes ``seconds`` longer."""
    render = collector._render_device

    def slowly(snap, ports):
        time.sleep(seconds)
        return render(snap, ports)

    collector._render_device = slowly  # type: ignore[method-assign]


async def breaks_during(work: Awaitable[None], *, other_work_takes: float = 0.0) -> int:
    """How many turns another task got while ``work`` ran, each turn keeping the loop ``other_work_takes``."""
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            time.sleep(other_work_takes)  # noqa: ASYNC251 - a callback keeping the loop is the point
            await asyncio.sleep(0)

    task = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    before = turns
    await work
    task.cancel()
    return turns - before


async def test_the_event_loops_render_time_counts_in_the_scrapes_render_seconds():
    state = populated_state(devices=2, ports=2)
    collector = FleetCollector(state, MetricsSettings())
    render_slowly(collector, 0.05)
    await collector.prepare()
    reported = samples(collector.render())[("fastpoll_metrics_render_seconds", frozenset())]
    assert reported >= 0.1  # two devices at 50 ms each, rendered by prepare


async def test_prepare_renders_a_device_polled_since_the_last_scrape_again():
    state = populated_state(devices=2, ports=2)
    collector = FleetCollector(state, MetricsSettings())
    collector.render()
    state.update(device(2), result(2, [port(1, counters={"ifInOctets": 777})]))
    await collector.prepare()
    key = ("fastpoll_interface_in_octets_total", frozenset({"device_id": "2", "ifindex": "1"}.items()))
    in_octets = {
        (name, frozenset((k, v) for k, v in labels if k in ("device_id", "ifindex"))): value
        for (name, labels), value in samples(collector.render()).items()
    }
    assert in_octets[key] == 777


async def test_prepare_hands_the_event_loop_back_between_slices():
    collector = FleetCollector(populated_state(devices=5, ports=2), MetricsSettings())
    work = collector.prepare(slice_seconds=0.0, longest_slice=0.0)  # a break after every device
    assert await breaks_during(work) >= 5


async def test_prepare_takes_slices_as_long_as_the_loops_other_work_took():
    collector = FleetCollector(populated_state(devices=100, ports=1), MetricsSettings())
    render_slowly(collector, 0.0005)
    work = collector.prepare(slice_seconds=0.0, longest_slice=0.05)  # a break per device but for the rule
    # ~30 ms slices of 0.5 ms devices, not one device per 30 ms of other work
    assert await breaks_during(work, other_work_takes=0.03) <= 20


def count_later_thaws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the reads of a rendering's ports (each a thaw of a frozen table) after its counts were made."""
    reads: list[int] = []
    thaw = collector_module._Rendered.ports

    def counted(r):
        reads.append(r.device.device_id)
        return thaw.fget(r)

    monkeypatch.setattr(collector_module._Rendered, "ports", property(counted))
    return reads


async def test_prepare_renders_the_ports_the_last_scrape_exported_from_one_thaw(monkeypatch):
    state = populated_state(devices=3, ports=2)
    collector = FleetCollector(state, MetricsSettings())
    collector.render()  # exports every device's ports
    for n in (1, 2, 3):
        state.update(device(n), result(n, [port(1), port(2)]))
    reads = count_later_thaws(monkeypatch)
    await collector.prepare()
    assert reads == []
    assert all(s.cache.port_text for s in state.snapshots())


async def test_prepare_thaws_again_the_ports_of_a_device_the_last_scrape_did_not_export(monkeypatch):
    state = populated_state(devices=2, ports=2)
    collector = FleetCollector(state, MetricsSettings())
    reads = count_later_thaws(monkeypatch)
    await collector.prepare()  # no scrape before it: nothing was exported
    assert reads == [1, 2]
    assert all(s.cache.port_text for s in state.snapshots())


async def test_prepare_keeps_no_port_text_when_port_text_is_not_cached():
    state = populated_state(devices=2, ports=2)
    collector = FleetCollector(state, MetricsSettings(cache_port_text=False))
    await collector.prepare()
    assert all(s.cache is not None and s.cache.port_text is None for s in state.snapshots())


async def test_prepare_renders_no_port_text_for_devices_the_budget_leaves_out():
    state = populated_state(devices=3, ports=4)
    budget = 3 * 6 + 4 * 7  # every device's series, then the first device's ports (7 series each)
    collector = FleetCollector(state, MetricsSettings(series_budget=budget))
    await collector.prepare()
    kept = [s.cache.port_text is not None for s in state.snapshots()]
    assert kept == [True, False, False]

"""The series counts the budget is decided on are the lines the collector renders, under every setting.

The budget counts a device's port series without rendering them (port text is rendered only for devices whose
ports are exported), so a count that disagreed with the text would export more than the budget or report a
wrong ``fastpoll_metrics_series``. With a budget that drops nothing, the exported count must equal the sample
lines of the text, whatever the families, the port selection, the ifAlias label and the missing values.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.checks.results import PortMetrics
from poller.config import MetricFamilies, MetricsSettings, PortSelection
from poller.metrics.collector import EXPORTED_COUNTERS, FleetCollector
from poller.metrics.state import FleetState

from .fleet import device, result

STATUSES = st.sampled_from(["up", "down", "lowerLayerDown", "42", "bogus", None])  # "bogus": no number


@st.composite
def ports(draw: st.DrawFn) -> list[PortMetrics]:
    n = draw(st.integers(0, 6))
    out = []
    for if_index in range(1, n + 1):
        # each column absent (MISSING in the CounterMap), None, or a value; sometimes no counters at all
        present = draw(st.lists(st.sampled_from(EXPORTED_COUNTERS), unique=True))
        counters = {c: draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))) for c in present}
        out.append(
            PortMetrics(
                ifIndex=if_index,
                ifName=draw(st.sampled_from([f"xe-0/0/{if_index}", f"ge-0/0/{if_index}.100", None])),
                ifAlias=draw(st.sampled_from(['uplink "a"', None, "b\\c"])),
                ifDescr=None,
                ifType=draw(st.sampled_from(["ethernetCsmacd", "softwareLoopback", "l2vlan", None])),
                oper_status=draw(STATUSES),
                admin_status=draw(STATUSES),
                speed=draw(st.sampled_from([None, 0, 12, 1_000_000_000, 10_000_000_000])),
                counters=counters,
                rates={},
            )
        )
    return out


families = st.builds(
    MetricFamilies,
    device=st.booleans(),
    ports=st.booleans(),
    port_errors=st.booleans(),
    port_status=st.booleans(),
)
selections = st.builds(
    PortSelection,
    include_types=st.sampled_from([[], ["ethernetCsmacd", "l2vlan"]]),
    exclude_names=st.sampled_from([None, re.compile(r"\.\d+$")]),
    admin_status=st.sampled_from(["any", "up"]),
    ifalias_label=st.booleans(),
)


def sample_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(("#", "fastpoll_metrics_")))


def exported(text: str) -> int:
    (line,) = (line for line in text.splitlines() if line.startswith("fastpoll_metrics_series "))
    return int(line.split()[1])


@settings(max_examples=300, deadline=None)
@given(port_list=ports(), fams=families, selection=selections, up=st.booleans())
def test_counted_series_are_the_rendered_lines(port_list, fams, selection, up):
    state = FleetState(lambda d: 30.0)
    state.update(device(1), result(1, port_list, up=up, uptime=None if up else 10))
    text = FleetCollector(state, MetricsSettings(families=fams, ports=selection)).render()
    assert exported(text) == sample_lines(text)

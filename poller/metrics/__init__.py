"""Prometheus metrics: fleet state, the scrape-time collector, fastpoll's own metrics, the HTTP endpoint."""

from .collector import FleetCollector
from .selfmetrics import SelfMetrics
from .server import Heartbeat, MetricsServer, start_metrics_server
from .state import FleetState

__all__ = [
    "FleetCollector",
    "FleetState",
    "Heartbeat",
    "MetricsServer",
    "SelfMetrics",
    "start_metrics_server",
]

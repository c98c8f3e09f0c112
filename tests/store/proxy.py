"""Moved to tests.support.tcp_proxy (the soak benchmark cuts the database with it too)."""

from tests.support.tcp_proxy import TcpProxy

__all__ = ["TcpProxy"]

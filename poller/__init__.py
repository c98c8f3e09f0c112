"""fastpoll: a fast-path asyncio SNMP poller that writes LibreNMS's own tables."""

__version__ = "0.1.0"

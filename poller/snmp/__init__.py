"""fastpoll's own asyncio SNMP engine: a lean BER codec on shared UDP endpoints.

pysnmp's high-level API costs ~150 CPU-s per 1000 device-polls here (issue 2); this engine
encodes and decodes the handful of PDU shapes a poller needs by hand and is tested against
pysnmp's codec as the reference.
"""

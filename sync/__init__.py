"""Keeps a Payload CMS 3 ``network-devices`` collection aligned with LibreNMS and records crisis events.

Modules: payload (REST client), models (what we write, validated before sending), librenms_db (reads
devices), reconcile (pure diff -> Plan), apply (writes a Plan), crisis (CrisisNotifier), librenms_api
(Payload -> LibreNMS device adds), cli (``fastpoll sync``).
TypeScript collection configs live in sync/collections/.
"""

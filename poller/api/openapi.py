"""The OpenAPI 3.1 description of /api/v1, hand-written (the tests validate real responses against it)."""

from __future__ import annotations

from typing import Any

_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}

DEVICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "device_id": {"type": "integer", "minimum": 1},
        "hostname": {"type": "string"},
        "sys_name": _NULLABLE_STR,
        "os": _NULLABLE_STR,
        "poller_group": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["up", "down", "unknown"]},
        "reachable": {"type": ["boolean", "null"], "description": "Outcome of the latest poll's SNMP."},
        "uptime": {**_NULLABLE_INT, "description": "Seconds."},
        "error": {**_NULLABLE_STR, "description": "Error kind of the latest poll (timeout, auth...)."},
        "consecutive_failures": _NULLABLE_INT,
        "poll_duration": {**_NULLABLE_NUM, "description": "Seconds the latest poll took."},
        "last_polled": {"type": "string", "format": "date-time"},
        "interval": {**_NULLABLE_NUM, "description": "Seconds between polls."},
        "port_count": {"type": "integer", "minimum": 0},
    },
}

PORT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "if_index": {"type": "integer"},
        "name": _NULLABLE_STR,
        "alias": _NULLABLE_STR,
        "descr": _NULLABLE_STR,
        "type": _NULLABLE_STR,
        "oper_status": {**_NULLABLE_STR, "description": "IF-MIB ifOperStatus (up, down, lowerLayerDown...)."},
        "admin_status": _NULLABLE_STR,
        "speed": {**_NULLABLE_INT, "description": "Bits per second."},
        "in_bps": {**_NULLABLE_NUM, "description": "Bits per second in; null until polled twice."},
        "out_bps": _NULLABLE_NUM,
        "in_errors_per_sec": _NULLABLE_NUM,
        "out_errors_per_sec": _NULLABLE_NUM,
    },
}

# every property is always present (null when unknown): responses are checked against these lists
DEVICE["required"] = list(DEVICE["properties"])
PORT["required"] = list(PORT["properties"])

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = _json(_ref("Error"), "No or wrong bearer token.")
_NOT_FOUND = _json(_ref("Error"), "No such device in the poller's state.")
_ID = {"name": "device_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "fastpoll live API",
        "version": "1",
        "description": "The latest poll of every device this fastpoll instance polls (read-only).",
    },
    "servers": [{"url": "/"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Device": DEVICE,
            "Port": PORT,
            "Error": ERROR,
            "DeviceList": {
                "type": "object",
                "additionalProperties": False,
                "required": ["count", "devices"],
                "properties": {
                    "count": {"type": "integer", "minimum": 0},
                    "devices": {"type": "array", "items": _ref("Device")},
                },
            },
            "PortList": {
                "type": "object",
                "additionalProperties": False,
                "required": ["device_id", "last_polled", "ports"],
                "properties": {
                    "device_id": {"type": "integer"},
                    "last_polled": {"type": "string", "format": "date-time"},
                    "ports": {"type": "array", "items": _ref("Port")},
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/devices": {
            "get": {
                "operationId": "listDevices",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["up", "down"]}},
                    {"name": "poller_group", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "hostname",
                        "in": "query",
                        "description": "Case-insensitive substring of hostname or sysName.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("DeviceList"), "Devices, by device_id."),
                    "400": _json(_ref("Error"), "A bad or unknown query parameter."),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/api/v1/devices/{device_id}": {
            "get": {
                "operationId": "getDevice",
                "parameters": [_ID],
                "responses": {
                    "200": _json(_ref("Device"), "The device's latest poll."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                },
            }
        },
        "/api/v1/devices/{device_id}/ports": {
            "get": {
                "operationId": "getDevicePorts",
                "parameters": [_ID],
                "responses": {
                    "200": _json(_ref("PortList"), "Ports of the device's latest poll, by ifIndex."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                },
            }
        },
    },
}

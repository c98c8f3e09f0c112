"""Logging set-up: readable text by default, JSON lines on request, secrets replaced by ``***`` everywhere.

``setup_logging`` installs one handler on the root logger with a :class:`RedactionFilter`; every record from
any logger passes that filter before it is formatted, so a community, password or API key registered with it
never reaches the output, whether it sits in the message, its arguments, an exception or a stack trace.
``device_logger`` gives a logger whose lines carry ``device_id`` and ``hostname``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from poller.model import Device

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(device)s%(message)s"
# Attributes every LogRecord has; anything else was passed in ``extra=`` and goes into the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "device"}


class RedactionFilter(logging.Filter):
    """Replaces every registered secret with ``***`` in the formatted message, exception and stack text.

    The message is rendered (``msg % args``) and redacted here and ``args`` dropped, so no later formatter can
    render a secret from the arguments again. Registered secrets stay registered for the life of the filter.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Add secret values (empty and None are ignored)."""
        new = {s for s in secrets if s} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None  # the formatter uses exc_text; the live exception could be re-rendered
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class TextFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,000 INFO    poller.x: [device 12 core-1] message``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        device_id = getattr(record, "device_id", None)
        record.device = (
            f"[device {device_id} {getattr(record, 'hostname', '')}] " if device_id is not None else ""
        )
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, device_id/hostname and any ``extra`` fields.

    Hand-written (a dozen lines) rather than another dependency.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(
    level: str = "INFO",
    format: Literal["text", "json"] = "text",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> RedactionFilter:
    """Send all logging to ``stream`` (stderr) through a redaction filter; returns it (to register more).

    Replaces handlers set up earlier on the root logger, so it can be called again (e.g. on reload); secrets
    registered with an earlier call's filter stay masked.
    """
    redaction = RedactionFilter(secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(redaction)
    root = logging.getLogger()
    for old in root.handlers[:]:
        for earlier in old.filters:
            if isinstance(earlier, RedactionFilter):
                redaction.register(*earlier.secrets)
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return redaction


class DeviceLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds ``device_id`` and ``hostname`` to every record, keeping any ``extra`` given per call."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def device_logger(logger: logging.Logger, device: Device) -> DeviceLogger:
    """A logger whose every line says which device it is about."""
    context: Mapping[str, object] = {"device_id": device.device_id, "hostname": device.hostname}
    return DeviceLogger(logger, context)
